"""Autonomous runs from the command line: ``llm code --auto TASK`` and ``llm loop``.

``llm loop`` takes llm-loop's options with their meanings (``--max-turns`` turns, 0 for no limit;
``--internal-cl`` tool rounds per turn, 0 for no limit; ``--ta``, ``--td``, ``-T``,
``--functions``, ``-s``, ``-m``, ``-o``, ``--key``, ``--export-conversation``,
``--import-conversation``) and becomes ``llm code --auto``. The plugin registers it only when no
other installed plugin provides ``llm loop`` (:func:`register_loop`).

The run's output is that of ``llm code -p``: the answers on stdout, tool lines and notices on
stderr (``--json``: JSON Lines events, one ``turn`` event per turn and a ``final`` one). Calls that
need approval are asked about at the terminal as in ``llm code``; with no terminal to ask (piped
input, ``--json``) they are declined as in ``-p``, unless ``--yolo`` or an ``--allow`` rule covers
them. llm-loop runs every tool without asking: here that takes ``--yolo``.
"""

from __future__ import annotations

from typing import Any, Mapping

import click

__all__ = ["loop_command", "register_loop", "start_auto", "UNLIMITED_ROUNDS"]

#: ``--internal-cl 0`` / no limit on tool rounds per turn (other budgets still apply).
UNLIMITED_ROUNDS = 1_000_000


def start_auto(command_line: Mapping[str, Any]) -> int:
    """Run ``llm code --auto``; returns the exit status (errors raise ``SessionError``)."""
    from .auto_session import start_auto as start

    return start(command_line)


# -- llm loop -----------------------------------------------------------------------------------


@click.command(name="loop")
@click.argument("task")
@click.option("-m", "--model", help="Model to use")
@click.option("-s", "--system", help="Extra instructions appended to the system prompt")
@click.option("tool_specs", "-T", "--tool", multiple=True, help="Add an llm tool or toolbox by name")
@click.option("--functions", multiple=True, help="Python file or code defining extra tool functions")
@click.option("tools_debug", "--td", "--tools-debug", is_flag=True, help="Show each tool call's arguments and output")
@click.option("tools_approve", "--ta", "--tools-approve", is_flag=True,
              help="Ask before each call that changes something (the default here; read-only tools never ask)")
@click.option("internal_cl", "--internal-cl", type=click.IntRange(min=0), default=0, show_default=True,
              help="Tool rounds within one turn (0 for no limit)")
@click.option("--max-turns", type=click.IntRange(min=0), default=25, show_default=True,
              help="Turns before the run stops (0 for no limit); exit status 3")
@click.option("options", "-o", "--option", type=(str, str), multiple=True, help="Model option, e.g. -o temperature 0.2")
@click.option("--key", help="API key to use")
@click.option("--export-conversation", type=click.Path(dir_okay=False), help="Write the session to this JSON file at the end")
@click.option("--import-conversation", type=click.Path(dir_okay=False, exists=True),
              help="Continue a session exported to this file")
@click.option("--yolo", is_flag=True, help="Approve every tool call, as llm-loop does (deny rules still apply)")
@click.option("--allow", multiple=True, help='Pre-approve commands matching a glob, e.g. "pytest*"')
@click.option("--deny", multiple=True, help='Refuse commands matching a glob')
@click.option("--max-tokens", type=click.IntRange(min=1), help="Stop once this many tokens are used")
@click.option("--max-time", type=click.IntRange(min=1), help="Stop after this many seconds")
@click.option("root", "--directory", metavar="DIR", help="Project directory (default: the current one)")
@click.option("--sandbox", type=click.Choice(["auto", "on", "off"]), help="Run commands in bubblewrap (default auto)")
@click.option("--json", "json_output", is_flag=True, help="JSON Lines events on stdout")
@click.pass_context
def loop_command(ctx, task, tools_approve, internal_cl, max_turns, **params):
    """Work on TASK turn after turn until it is done: llm-loop's command, run by llm code.

    The model works with llm code's tools (confined to the directory, commands sandboxed) and
    ends the run by calling task_complete; --max-turns, --max-tokens and --max-time are budgets.
    Calls that change files or run commands ask first (--yolo approves them all). The session
    is logged: continue it with `llm code --cid ID`.

    \b
    Exit status: 0 completed, 3 stopped (budget, stuck, declined), 1 error, 130 interrupted.
    """
    if tools_approve and params["yolo"]:
        raise click.UsageError("--ta asks before calls and --yolo approves them all: use one of them")
    from .command import code_command

    params["max_turns"] = max_turns or None
    params["chain_limit"] = internal_cl or UNLIMITED_ROUNDS
    ctx.invoke(code_command, prompt=None, auto=task, **params)


def register_loop(cli: click.Group) -> None:
    """Add ``llm loop`` unless another plugin (llm-loop) provides it. A plugin that registers
    after this one replaces it anyway: click keeps the last command added under a name."""
    if "loop" not in cli.commands:
        cli.add_command(loop_command)
