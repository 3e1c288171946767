"""``llm code``: the click command. Its options are built from the fields of
:class:`~llm_coding_agent.config.SessionConfig`; the session is
:class:`~llm_coding_agent.cli.session.Session`, the terminal :class:`~llm_coding_agent.cli.ui.TerminalUI`."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import sys
from typing import Callable, Iterable

import click

from ..config import SessionConfig

__all__ = ["register", "code_command", "config_options"]


def register(cli: click.Group) -> None:
    from .auto import register_loop

    cli.add_command(code_command)
    register_loop(cli)  # `llm loop`, unless another plugin provides it


def config_options(config_class: type, exclude: Iterable[str] = ()) -> Callable:
    """A decorator adding one click option per field of ``config_class`` that has ``flags``
    (except the fields named in ``exclude``).

    Every option defaults to ``None`` (not given), so settings files can fill what the command
    line left out; help shows the field's own default where it says so.
    """

    def decorate(command: Callable) -> Callable:
        for f in reversed(dataclasses.fields(config_class)):
            flags = f.metadata.get("flags")
            if not flags or f.name in exclude:
                continue
            extra = dict(f.metadata.get("click", {}))
            help = f.metadata.get("help", "")
            if extra.pop("show_default", False):
                help += f"  [default: {f.default}]"
            if "choices" in extra:
                extra["type"] = click.Choice(extra.pop("choices"))
            if f.metadata.get("minimum") is not None:
                extra["type"] = click.IntRange(min=f.metadata["minimum"])
            command = click.option(*flags, f.name, default=None, help=help, **extra)(command)
        return command

    return decorate


#: ``llm code NAME ...`` runs another click command: NAME -> (module, attribute), imported when used.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "stats": (".stats", "stats_command"),
    "web": ("..web.command", "web_command"),
    "skills": (".skills_ui", "skills_command"),
    "mcp": (".mcp_ui", "mcp_command"),
    "batch": (".batch", "batch_command"),
    "export": (".portable", "export_command"),
    "import": (".portable", "import_command"),
    "sessions": (".sessions", "sessions_command"),
}


#: Where the help text names the user's settings file; the real path replaces it when help is shown.
_USER_SETTINGS = "<user settings>"


class CodeCommand(click.Command):
    """``llm code``: its help names the real settings path, and with ``--json`` even a usage
    error ends with a ``final`` event."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Computed here, not at import: other `llm` commands start without looking it up.
        from ..safety.settings import user_settings_path

        text = inspect.cleandoc(self.help or "").partition("\f")[0]
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(text.replace(_USER_SETTINGS, str(user_settings_path())))

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        if args and args[0] in SUBCOMMANDS:
            # `llm code stats`...: subcommands in all but name, so that `llm code "a task"` keeps
            # its meaning (a group would take every first word for a command). `llm code -- stats`
            # or `-p stats` gives the task "stats".
            module, attr = SUBCOMMANDS[args[0]]
            command = getattr(importlib.import_module(module, __package__), attr)
            return command.make_context(f"{info_name} {args[0]}", list(args[1:]), parent=parent, **extra)
        args = _flags_before_print(list(args))
        wants_json = "--json" in args
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as ex:
            if wants_json:
                _final_error(ex.format_message())
            raise


#: The on/off options of ``llm code`` (``--plan``, ``--yolo``, ``--json``...).
_FLAGS = {
    flag for f in dataclasses.fields(SessionConfig) if f.metadata.get("click", {}).get("is_flag")
    for flag in f.metadata["flags"]
}


def _flags_before_print(args: list[str]) -> list[str]:
    """``-p --plan TASK`` as ``--plan -p TASK``: click would take the flag for ``-p``'s task."""
    for i in range(len(args) - 1):
        if args[i] in ("-p", "--print") and args[i + 1] in _FLAGS:
            return _flags_before_print(args[:i] + [args[i + 1], args[i]] + args[i + 2:])
        if args[i] == "--":
            break
    return args


def _final_error(message: str) -> None:
    from .session import emit_event

    emit_event({"type": "final", "status": "error", "error": message})


@click.command(name="code", cls=CodeCommand)
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
    llm code -r                           pick one of this directory's recent sessions
    llm code -p "run the tests"           one task headless: print the answer, exit
    llm code -p "..." --json              JSON Lines events: text, tool_call, tool_result, final
    llm code --reviewer gpt-4.1-mini      a second model reviews file changes first
    llm code stats [--since DATE] [--json]  task metrics from the logs (see llm code stats --help)
    llm code web [-d DIR] [--port N]      sessions and approvals in the browser
    llm code --plan "add caching"         plan first: read-only until you approve the plan
    llm code skills                       the skills offered to the model (!skill NAME uses one)
    llm code mcp                          MCP servers (.mcp.json, your mcp.json): status, tools
    llm code batch tasks.txt --jobs 4     tasks in parallel, each in its own git worktree
    llm code --auto "make the tests pass" --max-turns 10   work until task_complete (or llm loop)
    llm code sessions [--all]             this directory's recent sessions
    llm code export [CID] -o s.json       a session as a file (--format markdown); llm code import FILE

    Mutating tools (edits, writes, commands) ask first, showing the diff or the command.
    Answer y (once), a (always for similar calls this session) or n (optionally "n: reason");
    for a file change, e opens the proposed content in $VISUAL / $EDITOR to change it first.
    In -p mode nothing prompts: such calls are declined unless --yolo or an --allow rule covers
    them (or, for a small file change, the --reviewer approves it). Exit status: 0 done, 3 stopped at a limit or budget, 1 error, 130 interrupted (Ctrl-C).

    With --plan (or !plan in a session) the model only looks around until you answer the plan
    it presents: y carries it out, e edits it, n rejects it, "n: ..." sends it back to revise.
    -p --plan prints the plan and changes nothing; -p --plan --yolo plans, then carries it out.

    Files a request names ("fix prices.py", "@src/app.py") are read and sent with it
    (--no-attach turns this off).

    Long sessions are compacted automatically before they outgrow the model's context window
    (old tool output shortened, older turns summarised); --max-tokens and --max-turns are hard
    budgets that end the task gracefully.

    \b
    Settings files (allow/deny rules, network, sandbox, env_allow, profile, reviewer, prices...):
      <user settings>   (yours)
      .llm-code/settings.json   (the project's: its allow rules count once you trust it)

    Sessions are logged to llm's database (see `llm logs`) unless `llm logs off`.
    """
    if params.get("print_prompt") is None and params.get("sandbox") != "off":
        # The header says whether commands run sandboxed: that check (starting bwrap once) runs
        # while the session's modules import, instead of after them.
        from ..tools.sandbox import probe_in_background

        probe_in_background()
    from .session import EXIT_ERROR, EXIT_INTERRUPTED, Session, SessionError, emit_event

    command_line = SessionConfig.command_line_layer(params)
    json_output = bool(command_line.get("json_output"))
    auto = command_line.get("auto") is not None
    if auto and command_line.get("print_prompt") is not None:
        raise click.UsageError("--auto TASK and -p TASK each name the task: use one of them")
    if json_output and command_line.get("print_prompt") is None and not auto:
        _final_error("--json needs -p TASK")
        raise click.UsageError("--json needs -p TASK")
    if command_line.get("pick_session"):
        problem = None
        if command_line.get("print_prompt") is not None or auto:
            problem = "-r needs an interactive terminal; use --cid ID"
        elif command_line.get("continue_") or command_line.get("conversation_id"):
            problem = "-r picks the conversation itself; leave out -c and --cid"
        if problem:
            if json_output:
                _final_error(problem)
            raise click.UsageError(problem)
    # With --json every ending, errors included, is a `final` event (the last line of stdout).
    try:
        if auto:
            from .auto import start_auto

            status = start_auto(command_line)
        else:
            session = Session(command_line)
            try:
                if session.headless:
                    status = session.run_headless(session.config.print_prompt)
                else:
                    status = session.run_interactive(prompt)
            finally:
                session.close()  # stops the MCP servers
    except SessionError as ex:
        if json_output:
            _final_error(str(ex))
        click.echo(f"Error: {ex}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        # Ctrl-C outside a model response (those end the run as "interrupted" themselves).
        if json_output:
            emit_event({"type": "final", "status": "interrupted"})
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as ex:
        if json_output:
            _final_error(f"internal error: {type(ex).__name__}: {ex}")
        raise
    sys.exit(status)
