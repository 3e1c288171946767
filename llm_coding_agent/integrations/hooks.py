"""Hooks: the user's commands, run at points of a run, in Claude Code's settings shape::

    {"hooks": {"PostToolUse": [{"matcher": "write_file|edit_file",
                                "hooks": [{"type": "command", "command": "ruff format .", "timeout": 30}]}]}}

Events: ``PreToolUse`` (before a tool call runs, and before the user is asked about it),
``PostToolUse`` (after a call ran without error), ``UserPromptSubmit`` (before a request is
sent) and ``Stop`` (when the model has finished). ``matcher`` (tool events only) names tools the
way users write them: ``write_file|edit_file`` matches our tools with or without the
``CodingTools_`` prefix, Claude Code's names (``Edit|Write``, ``Bash``) match ours, and
``mcp__dt__.*`` matches MCP tools; it is a regular expression that must match the whole name,
and an empty matcher or ``*`` matches every tool.

The command runs through ``/bin/sh -c`` with the project root as its working directory, in the
sandbox when commands are sandboxed (the project writable, so a formatter can rewrite files),
and gets one JSON object on stdin: ``session_id``, ``cwd`` and ``root`` (the project root),
``hook_event_name``, and per event ``tool_name``, ``tool_input`` (file tools also get
``file_path``, absolute), ``tool_response``, ``prompt`` or ``stop_hook_active``. Exit 0 passes;
exit 2 blocks (``PreToolUse``: the call is refused, ``UserPromptSubmit``: the request is not
sent) or sends the hook's stderr back to the model (``PostToolUse``: added to the tool's result;
``Stop``: the model goes on with it); any other status, a timeout or a missing program is a
warning and never blocks. Claude Code's JSON answers on stdout with exit 0 work too:
``{"decision": "block", "reason": ...}`` and ``hookSpecificOutput.permissionDecision: "deny"``
block like exit 2, and ``hookSpecificOutput.additionalContext`` is a ``UserPromptSubmit`` hook's
context.

This module parses and runs hooks; where they run in a turn is the agent's part (agent/hooked.py).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..tools import CODING_TOOL_PREFIX, short_tool_name
from ..tools.sandbox import SandboxConfig
from ..tools.shell import child_environment
from .process import ProcessOutcome, run_process

__all__ = [
    "EVENTS",
    "HookCommand",
    "HookConfigError",
    "HookRun",
    "Hooks",
    "parse_hooks",
    "DEFAULT_TIMEOUT",
]

#: The events hooks can be given for.
EVENTS = ("PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop")
#: Events whose hooks have a matcher (tool names).
TOOL_EVENTS = ("PreToolUse", "PostToolUse")
#: Seconds a hook may run when its entry gives no ``timeout`` (Claude Code's default).
DEFAULT_TIMEOUT = 60.0
#: The longest ``timeout`` accepted, in seconds.
MAX_TIMEOUT = 600.0
#: Claude Code's tool names, so that matchers copied from its settings match our tools.
CLAUDE_TOOL_NAMES = {
    "Write": "write_file", "Edit": "edit_file", "MultiEdit": "edit_file", "Bash": "execute_command",
    "Read": "read_file", "Grep": "search_files", "Glob": "list_files", "LS": "list_files",
}
#: Exit status of a hook that blocks (or sends its stderr to the model).
BLOCK_STATUS = 2


class HookConfigError(ValueError):
    """The ``hooks`` setting has the wrong shape (the message says where and how to fix it)."""


@dataclass(frozen=True)
class HookCommand:
    """One command of the ``hooks`` setting, for one event and matcher."""

    event: str
    command: str
    matcher: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def matches(self, tool_name: str | None) -> bool:
        """Whether this hook runs for ``tool_name`` (always, for events without tools)."""
        if self.event not in TOOL_EVENTS or self.matcher.strip() in ("", "*"):
            return True
        if tool_name is None:
            return False
        pattern = re.compile(self.matcher.strip())
        return any(pattern.fullmatch(name) for name in _names_for(tool_name))


def _names_for(tool_name: str) -> set[str]:
    """Every name a user may write for ``tool_name``: as given, without our toolbox's prefix,
    and Claude Code's name for the same tool."""
    short = short_tool_name(tool_name)
    names = {tool_name, short}
    if tool_name.startswith(CODING_TOOL_PREFIX) or short in CLAUDE_TOOL_NAMES.values():
        names |= {claude for claude, ours in CLAUDE_TOOL_NAMES.items() if ours == short}
    return names


@dataclass
class HookRun:
    """The outcome of one hook: ``passed`` (exit 0), ``blocked`` (exit 2: ``message`` is its
    stderr) or ``warning`` (anything else: ``message`` says what went wrong)."""

    hook: HookCommand
    verdict: Literal["passed", "blocked", "warning"]
    message: str = ""
    stdout: str = ""


def parse_hooks(config: Any) -> tuple[list[HookCommand], list[str]]:
    """The hook commands of a ``hooks`` setting, and what was ignored (events and hook types we
    do not run), in a few words each. Raises :class:`HookConfigError` for a wrong shape."""
    if not config:
        return [], []
    if not isinstance(config, dict):
        raise HookConfigError('hooks must be an object such as {"PostToolUse": [...]}')
    commands: list[HookCommand] = []
    ignored: list[str] = []
    for event, entries in config.items():
        if event not in EVENTS:
            ignored.append(f"{event} hooks (supported: {', '.join(EVENTS)})")
            continue
        if not isinstance(entries, list):
            raise HookConfigError(f'hooks.{event} must be a list of {{"matcher": ..., "hooks": [...]}} entries')
        for index, entry in enumerate(entries):
            where = f"hooks.{event}[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("hooks"), list):
                raise HookConfigError(f'{where} must be an object with a "hooks" list')
            matcher = entry.get("matcher", "")
            if not isinstance(matcher, str):
                raise HookConfigError(f"{where}.matcher must be a string such as \"write_file|edit_file\"")
            if matcher.strip() not in ("", "*"):
                try:
                    re.compile(matcher.strip())
                except re.error as ex:
                    raise HookConfigError(f"{where}.matcher {matcher!r} is not a valid pattern ({ex})") from None
            for number, hook in enumerate(entry["hooks"]):
                spot = f"{where}.hooks[{number}]"
                if not isinstance(hook, dict):
                    raise HookConfigError(f'{spot} must be an object such as {{"type": "command", "command": "..."}}')
                if hook.get("type", "command") != "command":
                    ignored.append(f"{spot} of type {hook.get('type')!r} (only \"command\" hooks run)")
                    continue
                command = hook.get("command")
                if not isinstance(command, str) or not command.strip():
                    raise HookConfigError(f"{spot}.command must be a non-empty string")
                timeout = hook.get("timeout", DEFAULT_TIMEOUT)
                if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
                    raise HookConfigError(f"{spot}.timeout must be a positive number of seconds")
                commands.append(HookCommand(event, command, matcher, min(float(timeout), MAX_TIMEOUT)))
    return commands, ignored


@dataclass
class Hooks:
    """The hooks of a session, and how to run them."""

    commands: list[HookCommand] = field(default_factory=list)
    #: What the setting held that does not run (reported once to the user).
    ignored: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: Any) -> "Hooks":
        commands, ignored = parse_hooks(config)
        return cls(commands, ignored)

    def __bool__(self) -> bool:
        return bool(self.commands)

    def matching(self, event: str, tool_name: str | None = None) -> list[HookCommand]:
        return [h for h in self.commands if h.event == event and h.matches(tool_name)]

    def run(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        root: Path,
        sandbox: SandboxConfig | None,
        tool_name: str | None = None,
        stop_at_block: bool = False,
    ) -> list[HookRun]:
        """Run the hooks of ``event`` that match ``tool_name``, in order, each with ``payload``
        (plus ``hook_event_name``) on stdin. ``stop_at_block``: the first one that blocks ends it."""
        runs: list[HookRun] = []
        for hook in self.matching(event, tool_name):
            runs.append(run_hook(hook, {**payload, "hook_event_name": event}, root=root, sandbox=sandbox))
            if stop_at_block and runs[-1].verdict == "blocked":
                break
        return runs


def run_hook(hook: HookCommand, payload: dict[str, Any], *, root: Path, sandbox: SandboxConfig | None) -> HookRun:
    """Run one hook and classify its outcome (see the module docstring)."""
    env = child_environment(os.environ)
    # Hook scripts find the project through these (Claude Code's name too, so its scripts work).
    env["LLM_CODE_PROJECT_DIR"] = env["CLAUDE_PROJECT_DIR"] = str(root)
    outcome = run_process(
        ["/bin/sh", "-c", hook.command], cwd=root, stdin_text=json.dumps(payload, default=str),
        timeout=hook.timeout, sandbox=sandbox, env=env,
    )
    return classify(hook, outcome)


def classify(hook: HookCommand, outcome: ProcessOutcome) -> HookRun:
    label = f"{hook.event} hook `{_short(hook.command)}`"
    stderr = outcome.stderr.strip()
    if outcome.timed_out:
        return HookRun(hook, "warning", f"{label} timed out after {hook.timeout:g} s and was stopped; ignored")
    if outcome.missing_program:
        detail = outcome.start_error or _short(stderr, 200) or f"exit {outcome.returncode}"
        return HookRun(hook, "warning", f"{label}: its program could not be run ({detail}); ignored")
    if outcome.returncode == 0:
        decision = json_decision(outcome.stdout)
        if decision is not None and decision[0] == "block":
            return HookRun(hook, "blocked", decision[1] or f"the {hook.event} hook `{_short(hook.command)}` gave no reason")
        return HookRun(hook, "passed", stdout=decision[1] if decision is not None else outcome.stdout)
    if outcome.returncode == BLOCK_STATUS:
        return HookRun(hook, "blocked", stderr or f"the {hook.event} hook `{_short(hook.command)}` gave no reason")
    detail = f": {_short(stderr, 300)}" if stderr else ""
    return HookRun(hook, "warning", f"{label} failed (exit {outcome.returncode}){detail}; ignored")


def json_decision(stdout: str) -> tuple[str, str] | None:
    """Claude Code's JSON answer on stdout (exit 0), when a hook gives one: ("block", reason) for
    ``{"decision": "block", "reason": ...}`` or ``{"hookSpecificOutput": {"permissionDecision":
    "deny", "permissionDecisionReason": ...}}``, else ("pass", its ``additionalContext`` or "").
    None when stdout is not such an object (plain text is the hook's output as is)."""
    text = stdout.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    specific = data.get("hookSpecificOutput") if isinstance(data.get("hookSpecificOutput"), dict) else {}
    if data.get("decision") == "block":
        return "block", str(data.get("reason") or "")
    if specific.get("permissionDecision") == "deny":
        return "block", str(specific.get("permissionDecisionReason") or "")
    return "pass", str(specific.get("additionalContext") or "")


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
