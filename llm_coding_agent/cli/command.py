"""``llm code``: options, wiring and in-session commands. The loop is :class:`CodingAgent`;
the terminal is :class:`~llm_coding_agent.cli.ui.TerminalUI`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import llm

__all__ = ["register", "code_command"]

def register(cli: click.Group) -> None:
    cli.add_command(code_command)


class _Options:
    """Everything the options say, kept for !clear (a new agent with the same settings)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


@click.command(name="code")
@click.argument("prompt", required=False)
@click.option("-m", "--model", "model_id", help="Model to use (default: llm's default model)")
@click.option(
    "-d", "--directory", "directory", default=".", show_default=True,
    type=click.Path(file_okay=False), help="Project directory the agent works in",
)
@click.option("-p", "--print", "print_prompt", metavar="TASK", help="Run one task headless, print the answer, exit")
@click.option("--json", "json_output", is_flag=True, help="With -p: JSON Lines events on stdout")
@click.option("--yolo", is_flag=True, help="Approve every tool call (deny rules still apply)")
@click.option("--allow", multiple=True, metavar="PATTERN", help='Pre-approve commands matching a glob, e.g. "pytest*"')
@click.option("--deny", multiple=True, metavar="PATTERN", help='Refuse commands matching a glob, e.g. "git push*"')
@click.option("-c", "--continue", "continue_", is_flag=True, help="Continue the most recent conversation")
@click.option("--cid", "--conversation", "conversation_id", help="Continue the conversation with this id")
@click.option("-s", "--system", help="Extra instructions appended to the system prompt")
@click.option("--no-tool", "no_tools", multiple=True, metavar="NAME", help="Withhold a tool, e.g. --no-tool execute_command")
@click.option("--chain-limit", type=int, default=25, show_default=True, help="Tool rounds per task before stopping")
@click.option("-o", "--option", "options", type=(str, str), multiple=True, metavar="KEY VALUE", help="Model option")
@click.option("--key", help="API key to use")
@click.option("-T", "--tool", "tool_specs", multiple=True, metavar="NAME", help="Add an llm tool (as llm chat -T)")
@click.option("--functions", multiple=True, metavar="FILE", help="Python file or code defining extra tool functions")
@click.option(
    "--sandbox", type=click.Choice(["auto", "on", "off"]), default=None,
    help="Run commands in bubblewrap: auto (default; ask if unavailable), on, off",
)
@click.option("--network", is_flag=True, default=None, help="Allow network access inside the sandbox")
@click.option("--no-undo", is_flag=True, help="Do not snapshot the project before each turn")
@click.option("--max-tokens", type=int, help="Stop once the session used this many tokens (input+output)")
@click.option("--max-turns", type=int, help="Stop a task after this many model calls")
@click.option("--context-window", type=int, help="The model's context window in tokens (default: known or 16k)")
@click.option("--no-attach", is_flag=True, help="Do not send the files a request names along with it")
def code_command(prompt, model_id, directory, print_prompt, json_output, yolo, allow, deny, continue_,
                 conversation_id, system, no_tools, chain_limit, options, key, tool_specs, functions,
                 sandbox, network, no_undo, max_tokens, max_turns, context_window, no_attach):
    """A coding agent in your project: it explores, edits and tests with tools.

    \b
    llm code                              interactive session in the current directory
    llm code "add type hints to utils.py" start with a task, then stay interactive
    llm code -m gpt-4.1 -d ~/dev/project  model and directory
    llm code --yolo                       approve every tool call
    llm code --allow "pytest*"            pre-approve matching commands
    llm code -c / --cid ID                continue the latest / a given conversation
    llm code -p "run the tests"           one task headless: print the answer, exit
    llm code -p "..." --json              JSON Lines events: text, tool_call, tool_result, final

    Mutating tools (edits, writes, commands) ask first, showing the diff or the command.
    Answer y (once), a (always for similar calls this session) or n (optionally "n: reason").
    In -p mode nothing prompts: such calls are declined unless --yolo or an --allow rule covers
    them. Exit status: 0 done, 3 stopped at a limit or budget, 1 error.

    Files a request names ("fix prices.py", "@src/app.py") are read and sent with it
    (--no-attach turns this off).

    Long sessions are compacted automatically before they outgrow the model's context window
    (old tool output shortened, older turns summarised); --max-tokens and --max-turns are hard
    budgets that end the task gracefully.

    Settings files (allow/deny rules, network, sandbox, env_allow): ~/.../llm/llm-code/settings.json
    (user) and .llm-code/settings.json (project; its allow rules count only once you trust it).
    Sessions are logged to llm's database (see `llm logs`) unless `llm logs off`.
    """
    from .session import EXIT_ERROR, Session, SessionError

    opts = _Options(
        prompt=prompt, model_id=model_id, directory=directory, print_prompt=print_prompt,
        json_output=json_output, yolo=yolo, allow=list(allow), deny=list(deny), continue_=continue_,
        conversation_id=conversation_id, system=system, no_tools=list(no_tools), chain_limit=chain_limit,
        options=dict(options), key=key, tool_specs=list(tool_specs), functions=list(functions),
        sandbox=sandbox, network=network, undo=not no_undo, max_tokens=max_tokens,
        max_turns=max_turns, context_window=context_window, attach_files=not no_attach,
    )
    if json_output and print_prompt is None:
        raise click.UsageError("--json needs -p TASK")
    try:
        session = Session(opts)
        if print_prompt is not None:
            status = session.run_headless(print_prompt)
        else:
            status = session.run_interactive(prompt)
    except SessionError as ex:
        click.echo(f"Error: {ex}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(status)
