"""One tool call, from the model's request to its result: validation, the approval decision,
pausing, the sandbox question, and execution through llm's own executor.

:class:`ToolCalls` is part of :class:`~llm_coding_agent.CodingAgent` (a mixin, so that each step
stays a method a subclass can override: ``decide``, ``execute_call``, ``ask``). It relies on the
agent's ``tools``, ``coding_tools``, ``policy``, ``approve``, ``allow_unsandboxed``, ``model`` and
its ``on_tool_start``/``on_tool`` callbacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import llm
from llm.models import Prompt

from ..errors import ToolError
from ..safety.approval import ApprovalDecision
from ..safety.rules import Verdict
from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, short_tool_name
from ..tools.files import unified_diff
from ..tools.sandbox import SandboxUnavailable, bwrap_problem
from .guards import RepeatTracker
from .results import AgentResult
from .reviewer import declined_reason

__all__ = ["ToolCalls", "CallPreview", "EditedContent", "argument_problem", "wrap_tools"]

_COMMAND_TOOL = f"{CODING_TOOL_PREFIX}execute_command"


@dataclass
class EditedContent:
    """What an approver returns to approve a ``write_file``/``edit_file`` call with the file
    ending up as ``content`` instead (the user edited the proposed change). The change goes
    through the same tool (atomic write, line endings and mode kept), and the model is told in
    the result, with the diff from what it proposed to what was written."""

    content: str


@dataclass
class CallPreview:
    """What an approver shows for one tool call, computed without running it
    (:meth:`ToolCalls.preview_call`; an application with no terminal shows this for a paused run's
    ``pending_tool_calls``)."""

    #: The tool the call names (its real name; the name as called when no tool has it).
    tool_name: str
    #: A one-line question: ``Edit app.py?``, ``Run pytest -q?``.
    title: str
    #: The unified diff of a file change, ``$ command`` for a command, else the JSON arguments.
    preview: str
    #: Whether the call writes or edits a file (``preview`` is then a diff).
    is_file_change: bool
    #: The approval policy's verdict and its reason (the command rules' verdict for a command).
    decision: ApprovalDecision
    #: What answering "always" would allow for the session (None: nothing safe to generalise).
    always: str | None

    @property
    def needs_answer(self) -> bool:
        """Whether the user must answer this call (the policy neither allows nor refuses it)."""
        return self.decision.verdict is Verdict.ASK


class ToolCalls:
    """The per-call machinery of :class:`~llm_coding_agent.CodingAgent`."""

    tools: list[llm.Tool]
    _pending: list[llm.ToolCall]
    _sandbox_asked: bool

    def preview_call(self, call: llm.ToolCall) -> CallPreview:
        """What ``call`` would do and what the policy says about it, for an approval screen."""
        name = self._resolve_tool_name(call.name) or str(call.name)
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        short = short_tool_name(name)
        known = self._tool(name) is not None
        if known and name.startswith(CODING_TOOL_PREFIX) and short in (*FILE_CHANGING_TOOLS, "execute_command"):
            preview = self.coding_tools._preview(short, arguments)
        else:
            preview = json.dumps(arguments, indent=2, default=str)
        decision = self.decide(call)
        verb = {"write_file": "Write", "edit_file": "Edit", "execute_command": "Run"}.get(short, "Call")
        subject = arguments.get("path") or arguments.get("command") or name
        always = None if decision.destructive or not known else self.policy.always_description(name, arguments)
        return CallPreview(
            tool_name=name, title=f"{verb} {subject}?", preview=preview,
            is_file_change=known and short in FILE_CHANGING_TOOLS, decision=decision, always=always,
        )

    def allow_always(self, call: llm.ToolCall) -> str | None:
        """The user's "always" for calls like ``call`` this session (as ``a`` in ``llm code``);
        returns what is now allowed (None when nothing safe could be)."""
        name = self._resolve_tool_name(call.name)
        if name is None or self.decide(call).destructive:
            return None
        return self.policy.remember_always(name, call.arguments if isinstance(call.arguments, dict) else {})

    def decide(self, call: llm.ToolCall) -> ApprovalDecision:
        """The approval policy's verdict for ``call``. Calls that cannot run (unknown tool, bad
        arguments) are allowed through: they only produce an error for the model."""
        tool = self._tool(self._resolve_tool_name(call.name) or "")
        if tool is None or argument_problem(tool, call.arguments) or self.planning_refusal(tool, call):
            return ApprovalDecision(Verdict.ALLOW, "nothing will run")
        decision = self.policy.decide(tool.name, call.arguments)
        if decision.verdict is Verdict.ASK and self._bound_to_fail(tool, call):
            return ApprovalDecision(Verdict.ALLOW, "nothing will change")
        return decision

    def execute_all(
        self,
        calls: list[llm.ToolCall],
        result: AgentResult,
        preapproved: set[str] | None = None,
        repeats: RepeatTracker | None = None,
    ) -> list[llm.ToolResult]:
        """Run a batch of calls in order. A ``PauseChain`` leaves the call that raised it and the
        rest pending; Ctrl-C answers the rest as interrupted so the history stays consistent."""
        results: list[llm.ToolResult] = []
        for index, call in enumerate(calls):
            if repeats is not None and repeats.stop_reason:
                # The batch itself repeats a call (the 1.5B model once sent 23 identical calls in
                # one answer): the rest is answered, not run; the run stops after this round.
                skipped = self._cancelled(call, "not run: the same call was repeated; the run is stopping")
                results.append(skipped)
                result.tool_calls.append((call, skipped))
                continue
            try:
                tool_result = self.execute_call(call, preapproved)
            except llm.PauseChain:
                result.paused = True
                self._pending = list(calls[index:])
                return results
            except KeyboardInterrupt:
                result.interrupted = True
                results += [
                    self._error(rest, "interrupted by the user before this call finished")
                    for rest in calls[index:]
                ]
                return results
            note = repeats.observe(call, tool_result) if repeats is not None else None
            if note:
                tool_result.output += note
            results.append(tool_result)
            result.tool_calls.append((call, tool_result))
            if self.on_tool:
                self.on_tool(call, tool_result)
        return results

    def execute_call(self, call: llm.ToolCall, preapproved: set[str] | None = None) -> llm.ToolResult:
        """Validate, approve and run one tool call; always returns a result for the model."""
        tool = self._tool(self._resolve_tool_name(call.name) or "")
        if tool is None:
            return self._error(call, self._unknown_tool_message(call.name))
        problem = argument_problem(tool, call.arguments)
        if problem:
            return self._error(call, problem)
        decided = self.planning_call(tool, call)  # refused while planning, or present_plan answered
        if decided is not None:
            return decided
        refused = self.pre_tool_checks(tool, call)  # create_tool's checks, PreToolUse hooks (hooked.py)
        if refused is not None:
            return refused
        resolved = llm.ToolCall(name=tool.name, arguments=call.arguments, tool_call_id=call.tool_call_id)
        refusal = self.approval_refusal(tool, call, resolved, preapproved)
        if refusal is not None:
            return refusal
        # The approver may have replaced the arguments (the user edited the change): say so.
        note = self._user_edit_note(tool, call, resolved) if resolved.arguments is not call.arguments else ""
        if self.on_tool_start:
            self.on_tool_start(call)
        tool_result = execute_with_llm(self.model, tool, resolved)
        tool_result.name = call.name
        self.post_tool_hooks(tool, call, tool_result)  # PostToolUse hooks (agent/hooked.py)
        if note and not tool_result.output.startswith("Error:"):
            tool_result.output += note
        return tool_result

    def approval_refusal(
        self, tool: llm.Tool, call: llm.ToolCall, resolved: llm.ToolCall, preapproved: set[str] | None
    ) -> llm.ToolResult | None:
        """The result to send instead of running ``call`` (denied, declined, bound to fail, no
        sandbox), or None when it may run. ``resolved`` is the call under the tool's real name
        (what the approver sees); ``preapproved`` holds the ids a ``resume()`` approved."""
        decision = self.policy.decide(tool.name, call.arguments)
        if decision.verdict is Verdict.DENY:
            return self._cancelled(call, f"refused by a deny rule: {decision.reason}")
        if decision.verdict is Verdict.ASK:
            error = self._bound_to_fail(tool, call)
            if error:
                # Nothing would change (missing file, no match, outside the root): no question.
                return self._error(call, error)
            if preapproved is not None:
                if call.tool_call_id not in preapproved:
                    reason = self._decline_reasons.get(call.tool_call_id or "")
                    return self._cancelled(
                        call, declined_reason(llm.CancelToolCall(reason)) if reason else "the user declined this call"
                    )
            else:
                try:
                    answer = self.ask(tool, resolved)
                except llm.CancelToolCall as ex:
                    return self._cancelled(call, declined_reason(ex))
                if not answer:
                    return self._cancelled(call, "the user declined this call")
                if isinstance(answer, EditedContent):
                    refusal = self._apply_user_edit(tool, call, resolved, answer.content)
                    if refusal is not None:
                        return refusal
        if tool.name == _COMMAND_TOOL and not self._sandbox_ready():
            return self._error(
                call,
                f"commands must run in a sandbox but {bwrap_problem()}; the user did not allow "
                "running unsandboxed. Use the file tools instead, or ask the user.",
            )
        return None

    def ask(self, tool: llm.Tool, call: llm.ToolCall) -> bool | EditedContent:
        """Ask ``approve`` about a call the policy cannot allow on its own. It may raise
        ``llm.CancelToolCall`` (declined, with a reason) or ``llm.PauseChain`` (decide later), and
        for a file change answer :class:`EditedContent` (approved, with the user's version)."""
        if self.approve is True:
            return True
        if callable(self.approve):
            answer = self.approve(tool, call)
            return answer if isinstance(answer, EditedContent) else bool(answer)
        return False

    def _apply_user_edit(
        self, tool: llm.Tool, call: llm.ToolCall, resolved: llm.ToolCall, content: str
    ) -> llm.ToolResult | None:
        """Make ``resolved`` a call that leaves the file as ``content``: a write with it, or an
        edit replacing the whole current text with it (so the result is still the real diff).
        The result to send instead when that cannot be done (None when it can)."""
        name = short_tool_name(tool.name)
        if not tool.name.startswith(CODING_TOOL_PREFIX) or name not in FILE_CHANGING_TOOLS:
            return self._error(call, f"only file changes can be edited, not {tool.name}")
        try:
            _, before, _ = self.coding_tools._change(name, call.arguments)
        except ToolError as ex:
            return self._error(call, str(ex))
        if content == before:
            return self._cancelled(
                call, "the user edited your change away, so the file keeps its current content"
            )
        if name == "write_file":
            resolved.arguments = {**call.arguments, "content": content}
        else:
            resolved.arguments = {"path": call.arguments["path"], "old_string": before, "new_string": content}
        return None

    def _user_edit_note(self, tool: llm.Tool, call: llm.ToolCall, resolved: llm.ToolCall) -> str:
        """What the model is told after the user edited its change: the diff from what it
        proposed to what the file now holds."""
        name = short_tool_name(tool.name)
        written = resolved.arguments.get("content" if name == "write_file" else "new_string", "")
        try:
            display, _, proposed = self.coding_tools._change(name, call.arguments)
        except ToolError:
            display, proposed = str(call.arguments.get("path")), ""
        diff = unified_diff(proposed, written, display)
        return (
            f"\n\n[Note from the system: the user edited your change before approving it, so "
            f"{display} now holds their version, not yours. The difference from what you proposed "
            f"(-) to what was written (+):\n{diff}\nRead the file again before changing it further.]"
        )

    def _bound_to_fail(self, tool: llm.Tool, call: llm.ToolCall) -> str | None:
        """The error a file change will certainly return (missing file, no match, ...), if any."""
        if not tool.name.startswith(CODING_TOOL_PREFIX):
            return None
        return self.coding_tools._plan(short_tool_name(tool.name), call.arguments)[1]

    def _sandbox_ready(self) -> bool:
        try:
            self.coding_tools._sandbox()
            return True
        except SandboxUnavailable as ex:
            if self._sandbox_asked or self.allow_unsandboxed is False:
                return False
            self._sandbox_asked = True
            allowed = (
                self.allow_unsandboxed(str(ex))
                if callable(self.allow_unsandboxed)
                else bool(self.allow_unsandboxed)
            )
            self.coding_tools._allow_unsandboxed(allowed)
            return allowed

    def offer_profile_tools(self) -> None:
        """Offer or withhold the tools the profile chooses, as ``disabled_tools`` allows:
        ``edit_file`` (``offers_edit_file``; small models change files with whole-file writes) and
        ``update_todos`` (``offers_todos``; offered anyway in plan mode and once a todo list
        exists) and ``activate_skill`` (``offers_skills``). Again after a model switch changed the
        profile, and when the mode changes."""
        disabled = {short_tool_name(n) for n in self.config.disabled_tools}  # type: ignore[attr-defined]
        profile = self.profile  # type: ignore[attr-defined]
        self._offer(getattr(self, "_edit_file_tool", None), profile.offers_edit_file, disabled, after="write_file")
        todos = getattr(self, "todos", None)
        wanted = profile.offers_todos or getattr(self, "_planning", False) or bool(todos and todos.items)
        self._offer(getattr(self, "_todo_tool", None), wanted, disabled)
        self._offer(getattr(self, "_skill_tool", None), profile.offers_skills, disabled)

    def _offer(self, tool: llm.Tool | None, wanted: bool, disabled: set[str], after: str = "") -> None:
        if tool is None:
            return
        name = short_tool_name(tool.name)
        wanted = wanted and name not in disabled
        names = [short_tool_name(t.name) for t in self.tools]  # type: ignore[attr-defined]
        if wanted and name not in names:
            at = names.index(after) + 1 if after in names else len(names)
            self.tools.insert(at, tool)  # type: ignore[attr-defined]
        elif not wanted and name in names:
            del self.tools[names.index(name)]  # type: ignore[attr-defined]

    def _tool(self, name: str) -> llm.Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def _resolve_tool_name(self, name: Any) -> str | None:
        """The real tool a model meant: exact name, or the short form weak models often use."""
        if not isinstance(name, str):
            return None
        names = [t.name for t in self.tools]
        if name in names:
            return name
        wanted = name.strip().lower()
        # Weak models also put the toolbox's prefix on the other tools (CodingTools_present_plan).
        bare = short_tool_name(name.strip()).lower()
        for candidate in names:
            if candidate.lower() == wanted or short_tool_name(candidate).lower() in (wanted, bare):
                return candidate
        return None

    def _unknown_tool_message(self, name: Any) -> str:
        return (
            f"Error: there is no tool named {name!r}. Available tools: "
            + ", ".join(t.name for t in self.tools)
            + '. Call one of them with its arguments, e.g. CodingTools_read_file with {"path": "README.md"}.'
        )

    @staticmethod
    def _error(call: llm.ToolCall, message: str) -> llm.ToolResult:
        if not message.startswith("Error:"):
            message = "Error: " + message
        return llm.ToolResult(name=call.name, output=message, tool_call_id=call.tool_call_id)

    @staticmethod
    def _cancelled(call: llm.ToolCall, reason: str) -> llm.ToolResult:
        return llm.ToolResult(
            name=call.name,
            output=f"Cancelled: {reason}. Do not retry the same call; adjust your plan or ask the user.",
            tool_call_id=call.tool_call_id,
            exception=llm.CancelToolCall(reason),
        )


# -- helpers ------------------------------------------------------------------------------------


def wrap_tools(tools: Iterable[Any]) -> list[llm.Tool]:
    """``llm.Tool`` objects for the extra tools given to the agent (tools, toolboxes, functions)."""
    wrapped: list[llm.Tool] = []
    for tool in tools:
        if isinstance(tool, llm.Tool):
            wrapped.append(tool)
        elif isinstance(tool, llm.Toolbox):
            wrapped.extend(tool.tools())
        elif isinstance(tool, type) and issubclass(tool, llm.Toolbox):
            wrapped.extend(tool().tools())
        elif callable(tool):
            wrapped.append(llm.Tool.function(tool))
        else:
            raise TypeError(f"not a tool: {tool!r}")
    return wrapped


_JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _call_shape(tool: llm.Tool) -> str:
    props = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    fields = []
    for name, spec in props.items():
        kind = spec.get("type") or "/".join(s.get("type", "?") for s in spec.get("anyOf", []))
        fields.append(f'"{name}": <{kind}{"" if name in required else ", optional"}>')
    return f"{tool.name} with arguments {{{', '.join(fields)}}}"


def argument_problem(tool: llm.Tool, arguments: Any) -> str | None:
    """Why ``arguments`` cannot be passed to ``tool`` (None when they can)."""
    shape = _call_shape(tool)
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object. Call {shape}"
    if "_raw" in arguments and len(arguments) == 1:
        raw = str(arguments["_raw"])[:200]
        return f"the arguments were not valid JSON ({raw!r}). Call {shape}"
    props = tool.input_schema.get("properties", {})
    required = tool.input_schema.get("required", [])
    missing = [r for r in required if r not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}. Call {shape}"
    unknown = [k for k in arguments if k not in props]
    if unknown and props:
        return f"unknown argument(s): {', '.join(unknown)}. Call {shape}"
    for name, value in arguments.items():
        spec = props.get(name, {})
        kinds = [spec.get("type")] if spec.get("type") else [s.get("type") for s in spec.get("anyOf", [])]
        kinds = [k for k in kinds if k]
        if not kinds or value is None and "null" in kinds:
            continue
        if value is None:
            return f"argument {name!r} must not be null. Call {shape}"
        ok = any(
            isinstance(value, _JSON_TYPES[k]) and not (k in ("integer", "number") and isinstance(value, bool))
            for k in kinds
            if k in _JSON_TYPES
        )
        # Numbers sent as strings ("10") are common and harmless: the tools coerce them.
        if not ok and not (isinstance(value, str) and kinds[0] in ("integer", "number", "boolean")):
            return f"argument {name!r} must be {'/'.join(kinds)}, got {type(value).__name__}. Call {shape}"
    return None


def execute_with_llm(model: llm.Model, tool: llm.Tool, call: llm.ToolCall) -> llm.ToolResult:
    """Run one call through llm's own executor (ToolOutput, exceptions → ``Error:``, PauseChain).

    The carrier response is never sent to the model: it only gives llm's executor its context.
    """
    carrier = llm.Response(Prompt("", model, tools=[tool]), model, stream=False)
    return carrier.execute_tool_calls(tool_calls_list=[call])[0]
