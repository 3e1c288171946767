"""``llm code``: the click command. Its options are built from the fields of
:class:`~llm_coding_agent.config.SessionConfig`; the session is
:class:`~llm_coding_agent.cli.session.Session`, the terminal :class:`~llm_coding_agent.cli.ui.TerminalUI`."""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable

import click

from ..config import SessionConfig

__all__ = ["register", "code_command", "config_options"]


def register(cli: click.Group) -> None:
    cli.add_command(code_command)


def config_options(config_class: type) -> Callable:
    """A decorator adding one click option per field of ``config_class`` that has ``flags``.

    Every option defaults to ``None`` (not given), so settings files can fill what the command
    line left out; help shows the field's own default where it says so.
    """

    def decorate(command: Callable) -> Callable:
        for f in reversed(dataclasses.fields(config_class)):
            flags = f.metadata.get("flags")
            if not flags:
                continue
            extra = dict(f.metadata.get("click", {}))
            help = f.metadata.get("help", "")
            if extra.pop("show_default", False):
                help += f"  [default: {f.default}]"
            if "choices" in extra:
                extra["type"] = click.Choice(extra.pop("choices"))
            command = click.option(*flags, f.name, default=None, help=help, **extra)(command)
        return command

    return decorate


@click.command(name="code")
@click.argument("prompt", required=False)
@config_options(SessionConfig)
def code_command(prompt, **params):
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

    command_line = SessionConfig.command_line_layer(params)
    if command_line.get("json_output") and command_line.get("print_prompt") is None:
        raise click.UsageError("--json needs -p TASK")
    try:
        session = Session(command_line)
        if session.headless:
            status = session.run_headless(session.config.print_prompt)
        else:
            status = session.run_interactive(prompt)
    except SessionError as ex:
        click.echo(f"Error: {ex}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(status)
