"""When a tool call may run without asking: the approval policy, in one place.

Read-only tools never ask. Mutating tools (edits, writes, commands and any tool we do not know)
run without asking only when the session is in "yolo" mode, when the user answered "always" for
similar calls, or, for commands, when allow rules cover **every** simple command of the line.
Deny rules win over everything, yolo included: a user who wrote a deny rule meant it. Rules that
name MCP tools (``mcp__dt__*``, see :mod:`.rules`) allow or deny those tools by name.

While the agent plans (plan mode), :meth:`ApprovalPolicy.planning_refusal` narrows this further:
only read-only tools run, and commands only when the rules alone allow them (yolo and the
user's "always" for edits do not count) and they write no file through a redirection. (An allow
rule may still cover a command that changes files, ``rm*``: the agent runs commands while
planning only in the sandbox, with the project read-only.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .rules import CommandRules, Verdict, file_writes, similar_rule
from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, READ_ONLY_TOOLS

__all__ = ["ApprovalPolicy", "ApprovalDecision", "Verdict", "CODING_TOOL_PREFIX"]

_READ_ONLY = {f"{CODING_TOOL_PREFIX}{name}" for name in READ_ONLY_TOOLS}
_EDITS = {f"{CODING_TOOL_PREFIX}{name}" for name in FILE_CHANGING_TOOLS}
_COMMAND = f"{CODING_TOOL_PREFIX}execute_command"


@dataclass(frozen=True)
class ApprovalDecision:
    """What the policy says about one tool call."""

    verdict: Verdict
    reason: str = ""
    destructive: bool = False


@dataclass
class ApprovalPolicy:
    """Decides, for each tool call, whether it runs, is refused, or needs the user's answer."""

    root: Path
    rules: CommandRules = field(default_factory=CommandRules)
    #: Approve every call that no deny rule refuses.
    yolo: bool = False
    #: The user answered "always" for file edits this session.
    allow_edits: bool = False
    #: Tool names (other than commands and edits) the user allowed for the session.
    allowed_tools: set[str] = field(default_factory=set)
    #: Names of other tools known to change nothing (the todo list, tools marked read-only):
    #: they never ask, and they run while planning.
    read_only_tools: set[str] = field(default_factory=set)

    def is_read_only(self, tool_name: str) -> bool:
        return tool_name in _READ_ONLY or tool_name in self.read_only_tools

    def decide(self, tool_name: str, arguments: dict) -> ApprovalDecision:
        """ALLOW (run), DENY (refuse, never ask) or ASK (the user decides)."""
        if self.is_read_only(tool_name):
            return ApprovalDecision(Verdict.ALLOW, "read-only")
        if tool_name == _COMMAND:
            command = arguments.get("command")
            if not isinstance(command, str):
                # The tool itself reports the bad argument; nothing would run.
                return ApprovalDecision(Verdict.ALLOW, "invalid arguments")
            decision = self.rules.decide(command, self.root)
            if decision.verdict is Verdict.DENY:
                return ApprovalDecision(Verdict.DENY, decision.reason, decision.destructive)
            if self.yolo:
                return ApprovalDecision(Verdict.ALLOW, "yolo", decision.destructive)
            return ApprovalDecision(decision.verdict, decision.reason, decision.destructive)
        denied = self.rules.tool_rule(tool_name, "deny")
        if denied:
            return ApprovalDecision(Verdict.DENY, f"{tool_name} matches deny rule `{denied}`")
        if self.yolo:
            return ApprovalDecision(Verdict.ALLOW, "yolo")
        allowed = self.rules.tool_rule(tool_name, "allow")
        if allowed:
            return ApprovalDecision(Verdict.ALLOW, f"{tool_name} matches allow rule `{allowed}`")
        if tool_name in _EDITS:
            if self.allow_edits:
                return ApprovalDecision(Verdict.ALLOW, "edits allowed for this session")
            return ApprovalDecision(Verdict.ASK, "file change")
        if tool_name in self.allowed_tools:
            return ApprovalDecision(Verdict.ALLOW, f"{tool_name} allowed for this session")
        return ApprovalDecision(Verdict.ASK, f"{tool_name} is not known to be read-only")

    def planning_refusal(self, tool_name: str, arguments: dict) -> str | None:
        """Why a call may not run while the agent plans, in a few words (None: it may run).

        Read-only tools run. A command runs when the command rules alone allow every part of it
        (yolo does not count: planning must change nothing whatever the session allows) and it
        writes no file through a redirection. Everything else is refused, edits first of all.
        """
        if self.is_read_only(tool_name):
            return None
        if tool_name == _COMMAND:
            command = arguments.get("command")
            if not isinstance(command, str):
                return None  # the tool itself reports the bad argument; nothing would run
            decision = self.rules.decide(command, self.root)
            if decision.verdict is not Verdict.ALLOW:
                return decision.reason if decision.verdict is Verdict.DENY else (
                    f"commands run only when an allow rule covers them, and {decision.reason}"
                )
            writes = file_writes(command)
            if writes:
                return f"`{command}` writes to {writes[0]}"
            return None
        if tool_name in _EDITS:
            return "files cannot be written or edited"
        return f"{tool_name} is not marked read-only"

    def always_description(self, tool_name: str, arguments: dict) -> str | None:
        """What an "always" answer would allow, or None when no safe generalisation exists."""
        if tool_name in _EDITS:
            return "all file edits and writes for this session"
        if tool_name == _COMMAND:
            rule = similar_rule(str(arguments.get("command", "")))
            return f"commands matching `{rule}` for this session" if rule else None
        return f"every {tool_name} call for this session"

    def remember_always(self, tool_name: str, arguments: dict) -> str | None:
        """Record an "always" answer; returns what is now allowed (None if nothing could be)."""
        description = self.always_description(tool_name, arguments)
        if description is None:
            return None
        if tool_name in _EDITS:
            self.allow_edits = True
        elif tool_name == _COMMAND:
            rule = similar_rule(str(arguments.get("command", "")))
            if rule and rule not in self.rules.allow:
                self.rules.allow.append(rule)
        else:
            self.allowed_tools.add(tool_name)
        return description


def call_signature(tool_name: str, arguments: dict) -> str:
    """A stable key for "the same call again" (loop detection)."""
    return tool_name + json.dumps(arguments, sort_keys=True, default=repr)
