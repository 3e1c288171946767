"""The typed configuration of a session: one field per option, in one place.

:class:`AgentConfig` holds what :class:`~llm_coding_agent.CodingAgent` needs;
:class:`SessionConfig` adds what only ``llm code`` needs (the task, ``--json``, ``-c``...). Each
field's metadata says where else it appears, so adding an option is adding one field here:

- ``flags``: the ``llm code`` option(s) that set it (:func:`llm_coding_agent.cli.command` builds
  the click options from them, with ``help`` as their help text and ``click`` as extra arguments);
- ``settings_file``: it may be set in the settings files (``settings.json``; see
  :mod:`llm_coding_agent.safety.settings` for the trust rules a project's file is subject to);
- ``minimum``: the smallest value that can work (an integer option). The option rejects less
  (``click.IntRange``), and so does every config built with it (``ValueError``), so
  ``CodingAgent(max_turns=0)`` fails at once instead of stopping before the first call.

Values combine in layers with :meth:`AgentConfig.layered`: defaults, then the settings files, then
the command line (or ``CodingAgent``'s keyword arguments). A later layer replaces a scalar and
extends a list (rules from the settings files and from ``--allow`` both apply).

This module sits below every layer (like :mod:`llm_coding_agent.errors`) and imports nothing of
the package.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["AgentConfig", "SessionConfig", "SANDBOX_MODES", "MIN_CONTEXT_WINDOW", "REVIEW_SENSITIVE"]

#: Values of the ``sandbox`` option.
SANDBOX_MODES = ("auto", "on", "off")
#: The smallest ``context_window`` accepted (tokens).
MIN_CONTEXT_WINDOW = 1024
#: Paths whose changes always go to the human, whatever the reviewer model says (globs: ``**``
#: spans directories; a pattern without ``/`` matches a file or directory name anywhere).
REVIEW_SENSITIVE = (
    "auth/**", "**/auth/**", "payments/**", "**/payments/**", "**/secrets/**",
    "**/*.pem", "**/*.key", "**/*.p12", "**/id_rsa*", "**/.env*", "**/.npmrc", "**/.pypirc",
    ".github/**", ".gitlab-ci.yml", ".circleci/**", "Jenkinsfile", "Dockerfile*", "docker-compose*",
    "deploy/**", "**/*.tf", "**/*.tfvars", ".llm-code/**", ".git/**",
)


def _option(
    default: Any = None,
    *,
    flags: tuple[str, ...] = (),
    help: str = "",
    settings_file: bool = False,
    convert: Any = None,
    minimum: int | None = None,
    **click: Any,
) -> Any:
    """A config field. ``convert`` turns the command line's value (e.g. a tuple of pairs) into
    the field's type; ``click`` holds extra arguments for ``click.option``."""
    metadata = {
        "flags": flags, "help": help, "settings_file": settings_file, "convert": convert,
        "minimum": minimum, "click": click,
    }
    if isinstance(default, (list, dict)):
        # A fresh copy per config, so no two configs share (and change) one list.
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class AgentConfig:
    """Everything that configures a :class:`~llm_coding_agent.CodingAgent`."""

    model: str | None = _option(flags=("-m", "--model"), help="Model to use (default: llm's default model)")
    """Model id or alias; ``None`` is llm's default model (or the logged one when continuing)."""

    root: str | None = _option(
        flags=("-d", "--directory"), help="Project directory the agent works in (default: the current one)",
        metavar="DIR",
    )
    """The project directory every tool is confined to. ``None``: the current directory for a new
    session, the logged project root when a conversation is continued."""

    chain_limit: int = _option(
        25, flags=("--chain-limit",), help="Tool rounds per task before stopping (then the model answers)",
        type=int, show_default=True, minimum=1,
    )
    """Tool-execution rounds per task. After the last one the model gets the results and gives its
    answer; a run that still wants tools after that stops with ``hit_limit``."""

    system: str | None = _option(flags=("-s", "--system"), help="Extra instructions appended to the system prompt")
    """Extra instructions appended to the system prompt."""

    key: str | None = _option(flags=("--key",), help="API key to use")
    """API key for the model (else llm's stored key or the provider's environment variable)."""

    options: dict = _option(
        {}, flags=("-o", "--option"), help="Model option", type=(str, str), multiple=True,
        metavar="KEY VALUE", convert=dict,
    )
    """Model options (``-o temperature 0.2``), validated by the model's own ``Options`` class."""

    disabled_tools: list = _option(
        [], flags=("--no-tool",), help="Withhold a tool, e.g. --no-tool execute_command",
        multiple=True, metavar="NAME", convert=list,
    )
    """Names of tools to withhold from the model (``execute_command`` or
    ``CodingTools_execute_command``; ``delegate``, the sub-agent tool; ``activate_skill``)."""

    allow: list = _option(
        [], flags=("--allow",), help='Pre-approve commands matching a glob, e.g. "pytest*"',
        settings_file=True, multiple=True, metavar="PATTERN", convert=list,
    )
    """Command rules that approve without asking (globs matched against every command of a line)."""

    deny: list = _option(
        [], flags=("--deny",), help='Refuse commands matching a glob, e.g. "git push*"',
        settings_file=True, multiple=True, metavar="PATTERN", convert=list,
    )
    """Command rules that refuse, whatever else approves (``--yolo`` included)."""

    sandbox: str = _option(
        "auto", flags=("--sandbox",), help="Run commands in bubblewrap: auto (default; ask if unavailable), on, off",
        settings_file=True, choices=SANDBOX_MODES,
    )
    """``auto``: sandboxed, and ask before running unsandboxed where bubblewrap cannot run;
    ``on``: sandboxed or not at all; ``off``: never sandboxed."""

    network: bool = _option(
        False, flags=("--network",), help="Allow network access inside the sandbox", settings_file=True,
        is_flag=True,
    )
    """Whether sandboxed commands may use the network."""

    env_allow: list = _option([], settings_file=True)
    """Secret-looking environment variables (``*_TOKEN``, ``*_KEY``...) commands may still inherit."""

    undo: bool = _option(
        True, flags=("--undo/--no-undo",), help="Snapshot the project before each turn (for !undo)",
    )
    """Snapshot the project before each turn so it can be undone, whatever changed the files."""

    max_tokens: int | None = _option(
        flags=("--max-tokens",), help="Stop once the session used this many tokens (input+output)", type=int,
        minimum=1,
    )
    """Hard token budget for the session (input + output); a warning at 80 %."""

    max_turns: int | None = _option(
        flags=("--max-turns",), help="Stop a task after this many model calls", type=int, minimum=1,
    )
    """Hard budget of model calls per task."""

    context_window: int | None = _option(
        flags=("--context-window",), help="The model's context window in tokens (default: known or 16k)",
        type=int, minimum=MIN_CONTEXT_WINDOW,
    )
    """The model's context window in tokens (default: known for the model, else 16k). The system
    prompt and tool schemas alone take about 2k, so less than ``MIN_CONTEXT_WINDOW`` cannot work."""

    attach_files: bool = _option(
        True, flags=("--attach/--no-attach",), help="Send the files a request names along with it",
    )
    """Read the project files a request names (``fix prices.py``, ``@src/app.py``) and send them
    with it."""

    profile: str = _option(
        "auto", flags=("--profile",), help="Model profile: auto (by model id), default, or small (short prompt, forgiving edits, checks, test run)",
        settings_file=True, choices=("auto", "default", "small"),
    )
    """How the agent talks to the model (agent/profiles.py): ``small`` gives a short system prompt,
    one-sentence tool descriptions and a next-step line with each batch of tool results, forgiving
    edit matching, a syntax check on Python edits, repair of broken text-form calls and one test
    run when the model ends without testing its change; ``auto`` picks it for the built-in model
    and ids naming 4B parameters or less, ``default`` otherwise. The Python API also takes a
    ``ModelProfile`` of one's own (one field per behaviour)."""

    reviewer: str | None = _option(
        flags=("--reviewer",), help="A second model reviews each file change before you see it",
        settings_file=True, metavar="MODEL",
    )
    """A model that reviews each file change that would ask the user (agent/reviewer.py). It may
    approve small changes on its own (``review_max_lines``, ``review_sensitive``); it rejects back
    to the model; anything else goes to the user with its comment. It never widens what runs:
    deny rules, the sandbox and ``--yolo``/allow rules work as without it, and commands always ask."""

    review_max_lines: int = _option(50, settings_file=True, minimum=0)
    """The most changed lines (added + removed) the reviewer may approve without the user; 0 makes
    it comment only."""

    review_sensitive: list = _option(list(REVIEW_SENSITIVE), settings_file=True)
    """Paths the reviewer never approves on its own (globs relative to the project root, matched
    case-insensitively against the file and each of its directories). Settings add to the defaults."""

    prices: dict = _option({}, settings_file=True)
    """USD per million tokens by model id, ``{"gpt-4.1": {"input": 2.0, "output": 8.0}}``, for the
    costs ``llm code stats`` reports (a model without a price shows its cost as unknown)."""

    plan: bool = _option(
        False, flags=("--plan",), help="Plan first: look around read-only and present a plan; nothing changes until you approve it",
        is_flag=True,
    )
    """Start in plan mode: only read-only tools run (edits, writes and commands that could change
    files are refused) until the user approves the plan the model presents; the approved plan
    becomes the todo list (agent/planning.py)."""

    text_tool_calls: bool = True
    """Recover tool calls that a model wrote as text (fenced JSON and the like) instead of real calls."""

    nudge_unapplied: bool = False
    """When a run ends with code in the answer but no file changed, ask the model once to apply
    it (headless runs, where nobody can say "now apply that")."""

    # -- hooks and the tools the agent writes (integrations/hooks.py, integrations/usertools.py) --

    hooks: dict = _option({}, settings_file=True)
    """Commands run at points of a run, in Claude Code's shape: ``{"PostToolUse": [{"matcher":
    "write_file|edit_file", "hooks": [{"type": "command", "command": "ruff format", "timeout":
    30}]}]}``; events ``PreToolUse``, ``PostToolUse``, ``UserPromptSubmit``, ``Stop``. They run
    in the sandbox with the project root as working directory; exit 2 blocks (or sends stderr to
    the model). A project's hooks count once the user trusts its settings file."""

    create_tool: bool = _option(True, settings_file=True)
    """Offer the model ``create_tool``: it writes a Python function that, once the user approves
    the code, is saved as ``.llm-code/tools/NAME.py`` and becomes a tool (run in a separate
    sandboxed process). ``false`` (or ``--no-tool create_tool``) withholds it; tools saved earlier
    still load."""

    # -- sub-agents (the delegate tool, agent/subagents.py) --------------------------------------

    delegate_max_turns: int = _option(
        15, flags=("--delegate-max-turns",), help="Model calls a delegated sub-agent may make per task",
        type=int, show_default=True, minimum=1,
    )
    """The budget of model calls of each sub-agent the ``delegate`` tool starts; it then stops and
    its last answer goes back to the main agent, marked as cut short."""

    delegate_max_tokens: int | None = _option(
        flags=("--delegate-max-tokens",), help="Tokens (input+output) a delegated sub-agent may use",
        type=int, minimum=1,
    )
    """The token budget of each sub-agent (input + output); ``None``: no budget of its own. It never
    exceeds what is left of the session's ``max_tokens``, and its tokens count towards that."""

    # -- MCP servers (integrations/mcp_config.py, integrations/mcp.py) ----------------------------

    mcp_servers: bool = _option(
        True, flags=("--mcp/--no-mcp",), help="Start the MCP servers of .mcp.json and your mcp.json (default: on)",
    )
    """Start the MCP servers of the project's ``.mcp.json`` (once trusted) and the user's
    ``<llm user dir>/llm-code/mcp.json``; their tools reach the model as ``mcp__<server>__<tool>``."""

    mcp_config: list = _option(
        [], flags=("--mcp-config",), help="Also start the MCP servers of this file (.mcp.json format), for this run",
        multiple=True, metavar="FILE", convert=list,
    )
    """More MCP server files for this session (``.mcp.json`` format; the API also takes the parsed
    object, a dict). Their servers win over those of the same name in the other files."""

    mcp_startup_timeout: int = _option(10, settings_file=True, minimum=1)
    """Seconds an MCP server may take to start before it is left out (a server's own
    ``startup_timeout_sec`` wins)."""

    mcp_tool_timeout: int = _option(60, settings_file=True, minimum=1)
    """Seconds one MCP tool call may take before it is cancelled (a server's own
    ``tool_timeout_sec`` wins)."""

    # -- several attempts (agent/attempts.py, agent/scratch.py) --------------------------------

    attempts: int | None = _option(
        flags=("--attempts",), help="Try each request N times in scratch copies; apply the best by the tests",
        type=int, minimum=1, metavar="N",
    )
    """Independent attempts per request, each in a scratch copy of the project (a git worktree, or
    a copy), each checked by the project's tests; the best change (tests pass, then fewest
    failures, then smallest) is applied to the real tree with the usual approval of each file.
    ``None``: the profile's number when the project has tests (1 in every profile today)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            minimum = f.metadata.get("minimum")
            value = getattr(self, f.name)
            if minimum is None or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{f.name} must be a whole number of at least {minimum}, not {value!r}")

    # -- combining ------------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    def layered(self, *layers: Mapping[str, Any]):
        """A copy with each layer applied in turn: scalars replaced, lists extended (no duplicates).

        A layer holds only values that were given; ``None`` counts as not given. An unknown name
        raises ``TypeError``, as an unknown keyword argument would.
        """
        kinds = {f.name: f for f in dataclasses.fields(self)}
        values = {name: getattr(self, name) for name in kinds}
        for layer in layers:
            for name, value in layer.items():
                if name not in kinds:
                    raise TypeError(f"{type(self).__name__} has no option {name!r}")
                if value is None:
                    continue
                current = values[name]
                if isinstance(current, list):
                    values[name] = current + [v for v in value if v not in current]
                elif isinstance(current, dict):
                    values[name] = {**current, **dict(value)}
                else:
                    values[name] = value
        return dataclasses.replace(self, **values)

    @classmethod
    def command_line_layer(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """The options a parsed command line gave, as a layer for :meth:`layered`.

        ``params`` are click's keyword arguments, named after the fields; options not given
        arrive as ``None`` (or an empty tuple for a repeatable one) and are left out, so the
        layers below them (defaults, settings files) show through.
        """
        given: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in params:
                continue
            value = params[f.name]
            if value is None or (f.metadata.get("click", {}).get("multiple") and not value):
                continue
            convert = f.metadata.get("convert")
            given[f.name] = convert(value) if convert else value
        return given

    def agent_arguments(self) -> dict[str, Any]:
        """The fields :class:`~llm_coding_agent.CodingAgent` takes, as keyword arguments."""
        return {name: getattr(self, name) for name in AgentConfig.field_names()}


@dataclass
class SessionConfig(AgentConfig):
    """An ``llm code`` session: the agent's configuration plus what only the command uses."""

    print_prompt: str | None = _option(
        flags=("-p", "--print"), help="Run one task headless, print the answer, exit", metavar="TASK",
    )
    """The task of a headless run (``-p``): print the answer and exit."""

    json_output: bool = _option(False, flags=("--json",), help="With -p: JSON Lines events on stdout", is_flag=True)
    """With ``-p``: JSON Lines events (text, tool_call, tool_result, final) on stdout."""

    yolo: bool = _option(False, flags=("--yolo",), help="Approve every tool call (deny rules still apply)", is_flag=True)
    """Approve every tool call; deny rules and destructive-command checks still apply."""

    continue_: bool = _option(
        False, flags=("-c", "--continue"), help="Continue the most recent conversation", is_flag=True,
    )
    """Continue the most recent logged conversation."""

    conversation_id: str | None = _option(
        flags=("--cid", "--conversation"), help="Continue the conversation with this id",
    )
    """Continue the logged conversation with this id."""

    pick_session: bool = _option(
        False, flags=("-r", "--resume"), help="Pick one of this directory's recent sessions to continue",
        is_flag=True,
    )
    """Show this directory's recent sessions and continue the one the user picks (interactive
    only; a headless run names its conversation with ``--cid``)."""

    tool_specs: list = _option(
        [], flags=("-T", "--tool"), help="Add an llm tool (as llm chat -T)", multiple=True, metavar="NAME",
        convert=list,
    )
    """Extra llm tools by name or toolbox spec, as ``llm chat -T``."""

    functions: list = _option(
        [], flags=("--functions",), help="Python file or code defining extra tool functions", multiple=True,
        metavar="FILE", convert=list,
    )
    """Python files (or code) defining extra tool functions, as ``llm chat --functions``."""

    local: bool = _option(
        False, flags=("--local",), help="Use the built-in local model (code-local; no API key needed)",
        is_flag=True,
    )
    """Use the built-in local model, ``code-local`` (the same as ``-m code-local``). Without ``-m``
    or ``--local``, ``llm code`` also falls back to it when llm's default model has no API key."""

    # -- autonomous runs (llm loop) and portable sessions ---------------------------------------

    auto: str | None = _option(
        flags=("--auto",), metavar="TASK",
        help="Work on TASK turn after turn until the model calls task_complete or a budget ends it "
        "(--max-turns then counts turns; see `llm loop`)",
    )
    """An autonomous run (agent/autonomous.py): the task, worked on across turns until the model
    calls ``task_complete``, a budget ends it, it is stuck or its calls are declined."""

    max_time: int | None = _option(
        flags=("--max-time",), help="With --auto: stop after this many seconds", type=int, minimum=1,
        metavar="SECONDS",
    )
    """An autonomous run's time budget in seconds (checked after every tool round)."""

    export_conversation: str | None = _option(
        flags=("--export-conversation",), metavar="FILE",
        help="With --auto: write the session to FILE (JSON, see docs/session-format.md) when it ends",
    )
    """Where an autonomous run writes its session (the format of ``llm code export``) at the end."""

    import_conversation: str | None = _option(
        flags=("--import-conversation",), metavar="FILE",
        help="With --auto: continue a session exported to FILE (llm code export)",
    )
    """An exported session an autonomous run imports into the logs and continues."""

    tools_debug: bool = _option(
        False, flags=("--td", "--tools-debug"), is_flag=True,
        help="With --auto: show each tool call's arguments and whole output",
    )
    """Show each tool call's arguments and whole output in an autonomous run (``llm loop --td``)."""

    all_sessions: bool = _option(
        False, flags=("--all",), is_flag=True,
        help="With -c: continue the most recent session of any directory, not just this one",
    )
    """``-c`` continues the most recent session of any directory (without it: of this one)."""

    @property
    def continues(self) -> bool:
        """The session continues a logged conversation (``-c`` or ``--cid``)."""
        return bool(self.continue_ or self.conversation_id)
