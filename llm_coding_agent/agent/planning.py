"""Plan mode and the todo list, as part of :class:`~llm_coding_agent.CodingAgent` (a mixin).

**Plan mode** (``CodingAgent(plan=True)``, :meth:`Planning.plan`): the model explores with
read-only tools and ends by calling ``present_plan`` with numbered steps. It is enforced where
every call passes, not in the prompt: :meth:`Planning.planning_call` (called by ``execute_call``)
refuses every call that could change something, whatever the model does, using
:meth:`~llm_coding_agent.safety.approval.ApprovalPolicy.planning_refusal`; the toolbox refuses
them again (``CodingTools._read_only_check``), and sandboxed commands see the project read-only.

``present_plan`` is answered by ``plan_approver(plan)`` when there is one (``llm code`` asks
the user y / e / n), else the run pauses on it like a tool call waiting for approval: the
plan is in ``result.plan``, and :meth:`Planning.approve_plan` / :meth:`Planning.revise_plan`
answer it, in this process or after ``CodingAgent.load()`` in another. An approved plan ends
plan mode and becomes the todo list; the model is told the (possibly edited) steps.

**The todo list** (``update_todos``, :mod:`llm_coding_agent.tools.todo`) is offered in every
mode (under a profile without ``offers_todos``, only in plan mode and once a list exists). It
survives compaction (its text is kept with the summary) and is recovered from the logged calls
when a conversation is continued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import llm
from llm.parts import TextPart, ToolCallPart, ToolResultPart

from ..errors import ToolError
from ..tools import CODING_TOOL_PREFIX, short_tool_name
from ..tools.sandbox import bwrap_problem
from ..tools.todo import TODO_TOOL, TodoItem, TodoList, one_line, parse_todo_text, parse_todo_update
from .context import SUMMARY_HEADER
from .results import AgentStateError

__all__ = [
    "Planning",
    "Plan",
    "PlanAnswer",
    "PRESENT_PLAN",
    "PLAN_MODE_NOTE",
    "mark_read_only",
    "plan_from_calls",
    "split_steps",
]

#: The tool that ends planning, as the model sees it.
PRESENT_PLAN = "present_plan"
_COMMAND = f"{CODING_TOOL_PREFIX}execute_command"

#: Sent before each request made while planning (never part of the system prompt, so a small
#: model's prompt stays as short as it was).
PLAN_MODE_NOTE = (
    "[Plan mode: change nothing yet. Look around with the read-only tools (edits, writes and "
    "commands that could change files are refused), then call present_plan with numbered steps: "
    "what changes where, which tests prove it, and any open questions. The user approves the "
    "plan, edits it, or asks you to revise it.]"
)
#: Sent once when a run in plan mode ends without a plan.
PLAN_NUDGE = (
    "[Plan mode: you have not presented a plan. Call present_plan now with your plan as a list of "
    "steps (what changes where, which tests prove it); nothing can change before the user approves it.]"
)
#: What the summary of a compacted history keeps of plan mode and the todo list; it says how
#: things stood at that point when a continued conversation is recovered.
PINNED = "[Kept when the history was compacted]"
_PLAN_MODE_ON = "Plan mode is on: change nothing; end with present_plan."
#: How an approved plan's result begins (recognised when recovering: plan mode ended there).
_APPROVED = "Plan approved"

_PRESENT_PLAN_DESCRIPTION = (
    "End planning: present your plan to the user as numbered steps (what changes where, which "
    "tests prove it), with any open questions. The user approves it, edits it or asks for changes."
)
_PRESENT_PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "steps": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
        "questions": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
    },
    "required": ["steps"],
}

_STEP_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•]|\[[ x~]\])\s+")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S")


@dataclass
class Plan:
    """A plan the model presented: its steps, its open questions, and the call that carried it."""

    steps: list[str]
    questions: list[str] = field(default_factory=list)
    call_id: str | None = None

    def as_text(self) -> str:
        """The steps numbered, one per line."""
        return "\n".join(f"{number}. {step}" for number, step in enumerate(self.steps, 1))


@dataclass
class PlanAnswer:
    """The user's answer to a plan: approved (with edited ``steps``, or None for the plan as
    presented), or not approved: revise it as ``feedback`` says, or (no feedback) rejected."""

    approved: bool
    steps: list[str] | None = None
    feedback: str = ""


#: ``plan_approver(plan)`` answers a presented plan: a :class:`PlanAnswer`, ``True`` (approved
#: as presented), ``False`` (rejected), or ``None`` / ``raise llm.PauseChain`` (decide later).
PlanApprover = Callable[[Plan], "PlanAnswer | bool | None"]


def mark_read_only(function: Callable) -> Callable:
    """Mark an extra tool's function as changing nothing: it then never asks for approval and
    runs while planning (``CodingAgent(tools=[mark_read_only(lookup)])``)."""
    function.read_only = True  # type: ignore[attr-defined]
    return function


def split_steps(text: str) -> list[str]:
    """Steps from text, one per line, numbering (``1.``, ``2)``) and bullets removed; in a
    numbered list an indented line continues the step above it. ``#`` lines are comments."""
    lines = [line for line in str(text).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    numbered = any(_NUMBERED.match(line) for line in lines)
    steps: list[str] = []
    for line in lines:
        if numbered and steps and line[:1].isspace() and not _STEP_MARKER.match(line):
            steps[-1] += " " + line.strip()
        else:
            steps.append(_STEP_MARKER.sub("", line, count=1).strip())
    return [one_line(step) for step in steps if step.strip()]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return split_steps(value)
    if isinstance(value, list):
        return [one_line(_STEP_MARKER.sub("", str(v), count=1)) for v in value if str(v).strip()]
    return []


def parse_plan(arguments: Any, call_id: str | None = None) -> Plan:
    """The plan a ``present_plan`` call carries; raises ToolError saying what to fix."""
    if not isinstance(arguments, dict):
        raise ToolError('call present_plan with {"steps": ["...", "..."], "questions": [...]}')
    steps = _as_list(arguments.get("steps"))
    if not steps:
        raise ToolError('the plan has no steps: give "steps" as a list of strings, one per step')
    return Plan(steps, _as_list(arguments.get("questions")), call_id)


def plan_from_calls(calls: Iterable[llm.ToolCall]) -> Plan | None:
    """The last well-formed plan among ``calls`` (None when there is none)."""
    found = None
    for call in calls:
        if short_tool_name(str(call.name)).lower() == PRESENT_PLAN:
            try:
                found = parse_plan(call.arguments, call.tool_call_id)
            except ToolError:
                continue
    return found


class Planning:
    """Plan mode and the todo list of :class:`~llm_coding_agent.CodingAgent`.

    Relies on the agent's ``tools``, ``policy``, ``coding_tools``, ``_pending``, ``_resolve_tool_name``,
    ``history()``, ``resume()``, ``run()`` and the ``_error``/``_cancelled`` results of
    :class:`~.calls.ToolCalls`.
    """

    def _init_planning(self, plan_approver, on_todos) -> None:
        """Set up before the tools are assembled (the todo tool is one of them)."""
        self.plan_approver: PlanApprover | None = plan_approver
        #: Called with the :class:`~llm_coding_agent.tools.todo.TodoList` whenever it changes.
        self.on_todos = on_todos
        self.todos = TodoList(on_change=lambda todos: self.on_todos and self.on_todos(todos))
        self._planning = False
        self._plan_answer: PlanAnswer | None = None  # given by approve_plan()/revise_plan()
        self._plan_rejected = False
        self._present_plan_tool = llm.Tool(
            name=PRESENT_PLAN, description=_PRESENT_PLAN_DESCRIPTION, input_schema=_PRESENT_PLAN_SCHEMA,
            implementation=None,  # answered by the agent itself (planning_call), never executed
        )

    def _start_planning(self, plan: bool) -> None:
        """Once the tools and the policy exist: which of them change nothing, and the mode."""
        self.policy.read_only_tools |= {TODO_TOOL, PRESENT_PLAN} | {
            t.name for t in self.tools if getattr(t.implementation, "read_only", False) is True
        }
        self.planning = plan

    # -- the mode ---------------------------------------------------------------------------------

    @property
    def planning(self) -> bool:
        """Plan mode is on: only read-only calls run, and the model ends with ``present_plan``."""
        return self._planning

    @planning.setter
    def planning(self, on: bool) -> None:
        self._planning = bool(on)
        offered = self._present_plan_tool in self.tools
        if self._planning and not offered:
            self.tools.append(self._present_plan_tool)
        elif not self._planning and offered:
            self.tools.remove(self._present_plan_tool)
        self.offer_profile_tools()  # update_todos is offered in plan mode whatever the profile
        self.coding_tools._read_only_check = self._toolbox_refusal if self._changes_refused() else None

    def _changes_refused(self) -> bool:
        """Whether the toolbox refuses changes (plan mode; a read-only sub-agent, agent/subagents.py)."""
        return self._planning

    def _toolbox_refusal(self, method: str, arguments: dict) -> str | None:
        return self.policy.planning_refusal(CODING_TOOL_PREFIX + method, arguments)

    def plan(self, task: str):
        """Turn plan mode on and send ``task``: the model explores and presents a plan."""
        self.planning = True
        return self.run(task)

    def plan_mode_prompt(self, prompt: str) -> str:
        """``prompt`` with the plan-mode note in front while planning."""
        return f"{PLAN_MODE_NOTE}\n\n{prompt}" if self._planning else prompt

    def planning_refusal(self, tool: llm.Tool, call: llm.ToolCall) -> str | None:
        """The ``Error:`` for a call that may not run while planning (None when it may)."""
        if not self._planning:
            return None
        reason = self.read_only_reason(tool, call, "while planning")
        if reason is None:
            return None
        return (
            f"Error: plan mode is on: {reason}. Nothing may change until the user approves a plan: look "
            f"around with read_file, list_files and search_files, then present your plan with {PRESENT_PLAN}."
        )

    def read_only_reason(self, tool: llm.Tool, call: llm.ToolCall, when: str) -> str | None:
        """Why ``call`` could change something, in a few words (None: it changes nothing). The
        rule of plan mode and of read-only sub-agents; ``when`` names which ("while planning")."""
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        reason = self.policy.planning_refusal(tool.name, arguments)
        if reason is None and tool.name == _COMMAND:
            # An allow rule may cover a command that changes files (`rm*`): read-only, commands
            # run only where the sandbox keeps the project read-only.
            unsandboxed = "the sandbox is off" if self.config.sandbox == "off" else bwrap_problem()
            if unsandboxed:
                reason = f"commands run {when} only in the sandbox, read-only, and {unsandboxed}"
        return reason

    def planning_call(self, tool: llm.Tool, call: llm.ToolCall) -> llm.ToolResult | None:
        """The result of a call that plan mode decides (refused, or ``present_plan`` answered),
        or None for a call that goes on as usual. Called by ``execute_call`` for every call."""
        refusal = self.planning_refusal(tool, call)
        if refusal is not None:
            return self._error(call, refusal)
        if tool.name == PRESENT_PLAN:
            return self._answer_plan_call(call)
        return None

    # -- presenting and answering a plan ----------------------------------------------------------

    @property
    def pending_plan(self) -> Plan | None:
        """The plan waiting for an answer (the run paused on ``present_plan``), if any."""
        call = self._pending_plan_call()
        return plan_from_calls([call]) if call is not None else None

    def approve_plan(self, edits: list[str] | str | None = None):
        """Approve the pending plan and carry it out (``edits``: the steps to follow instead, as a
        list or as numbered lines). Plan mode ends; the steps become the todo list."""
        steps = None if edits is None else _as_list(edits)
        if edits is not None and not steps:
            raise AgentStateError("the edited plan has no steps")
        return self._answer_pending_plan(PlanAnswer(approved=True, steps=steps))

    def revise_plan(self, feedback: str):
        """Send the pending plan back with ``feedback``: the model keeps planning and presents
        a new plan."""
        if not isinstance(feedback, str) or not feedback.strip():
            raise AgentStateError("say what to change in the plan (feedback must be non-empty)")
        return self._answer_pending_plan(PlanAnswer(approved=False, feedback=feedback.strip()))

    def reject_plan(self):
        """Reject the pending plan: nothing is carried out, plan mode stays on, the run stops."""
        return self._answer_pending_plan(PlanAnswer(approved=False))

    def _pending_plan_call(self) -> llm.ToolCall | None:
        return next((c for c in self._pending if short_tool_name(str(c.name)).lower() == PRESENT_PLAN), None)

    def _answer_pending_plan(self, answer: PlanAnswer):
        call = self._pending_plan_call()
        if call is None:
            raise AgentStateError("no plan is waiting for an answer")
        self.planning = True  # a plan presented in a logged conversation: it was planning then
        self._plan_answer = answer
        try:
            # The other calls of that batch are declined (they were made before the answer).
            return self.resume(approve={call.tool_call_id})
        finally:
            self._plan_answer = None

    def _answer_plan_call(self, call: llm.ToolCall) -> llm.ToolResult:
        try:
            plan = parse_plan(call.arguments, call.tool_call_id)
        except ToolError as ex:
            return self._error(call, str(ex))
        answer: Any = self._plan_answer
        if answer is None and self.plan_approver is not None:
            answer = self.plan_approver(plan)
        if answer is None:
            raise llm.PauseChain("the plan waits for the user's answer")
        self._plan_answer = None  # one answer, one plan
        if answer is True or answer is False:
            answer = PlanAnswer(approved=answer)
        if answer.approved:
            return self._plan_approved(call, plan, answer.steps)
        if answer.feedback:
            return llm.ToolResult(
                name=call.name, tool_call_id=call.tool_call_id,
                output=f"The user wants changes to the plan: {answer.feedback}\nPlan mode is still on: "
                f"look into what you need, then call {PRESENT_PLAN} again with the revised plan.",
            )
        self._plan_rejected = True
        return self._cancelled(call, "the user rejected this plan; plan mode is still on, so change nothing "
                                     "and wait for the user's next message")

    def _plan_approved(self, call: llm.ToolCall, plan: Plan, edited: list[str] | None) -> llm.ToolResult:
        steps = edited or plan.steps
        self.todos.set([TodoItem(step) for step in steps])
        self.planning = False  # after the list is set: update_todos stays offered to keep it current
        how = ("The user edited the plan before approving it: follow their version below, not yours."
               if edited and edited != plan.steps else "")
        numbered = Plan(steps).as_text()
        return llm.ToolResult(
            name=call.name, tool_call_id=call.tool_call_id,
            output=f"{_APPROVED}. Plan mode is off: carry out the plan now, step by step (changes ask the "
            f"user for approval as usual), and keep the todo list current with {TODO_TOOL}. {how}"
            f"\n\nThe plan:\n{numbered}",
        )

    def planning_stop(self) -> str | None:
        """Why the run stops after this batch because of a plan answer (a rejection), if it does."""
        if not self._plan_rejected:
            return None
        self._plan_rejected = False
        return "plan_rejected"

    def plan_nudge(self, result, run) -> str | None:
        """While planning, a run that ends without a plan asks the model once to present it."""
        if not self._planning or run.plan_nudged or result.plan is not None or result.interrupted:
            return None
        run.plan_nudged = True
        self._notice("no plan was presented; asking the model for it")
        return PLAN_NUDGE

    def plan_from_text(self, text: str) -> list[tuple[str, dict]]:
        """While planning, an answer that lists numbered steps but calls no tool is taken as its
        ``present_plan`` call (small models often write the plan out instead)."""
        if not self._planning:
            return []
        lines = text.splitlines()
        numbered = [n for n, line in enumerate(lines) if _NUMBERED.match(line)]
        if len(numbered) < 2:
            return []
        # The numbered lines and the indented lines continuing them; not the words around the list.
        kept = [line for n, line in enumerate(lines) if n in numbered or (n > numbered[0] and line[:1].isspace())]
        return [(PRESENT_PLAN, {"steps": split_steps("\n".join(kept))})]

    # -- the todo list through compaction and restarts --------------------------------------------

    def pinned_context(self) -> str:
        """What compaction keeps verbatim with its summary: plan mode and the todo list."""
        if not self._planning and not self.todos.items:
            return ""
        lines = [PINNED] + ([_PLAN_MODE_ON] if self._planning else [])
        if self.todos.items:
            lines += ["Todo list:", self.todos.as_text()]
        return "\n".join(lines)

    def _recover_planning(self) -> None:
        """After ``load()``: the todo list and plan mode as the logged conversation left them."""
        messages = self.history()
        results = {p.tool_call_id: p for m in messages for p in m.parts if isinstance(p, ToolResultPart)}
        planning, todos = False, None
        for message in messages:
            for part in message.parts:
                if isinstance(part, TextPart) and message.role == "user" and part.text:
                    if part.text.startswith(SUMMARY_HEADER):
                        # A summary replaced what came before: how things stood is what it kept.
                        pinned = part.text.rsplit(PINNED, 1)[1] if PINNED in part.text else ""
                        planning, todos = _PLAN_MODE_ON in pinned, parse_todo_text(pinned)
                    elif PLAN_MODE_NOTE in part.text:
                        planning = True
                elif isinstance(part, ToolCallPart):
                    name = short_tool_name(self._resolve_tool_name(part.name) or str(part.name))
                    result = results.get(part.tool_call_id)
                    output = result.output if result is not None else ""
                    if not output or output.startswith(("Error:", "Cancelled:")):
                        continue
                    if name == TODO_TOOL:
                        try:
                            todos = parse_todo_update((part.arguments or {}).get("plan"))
                        except ToolError:
                            pass
                    elif name == PRESENT_PLAN and output.startswith(_APPROVED):
                        planning = False
                        todos = [TodoItem(step) for step in split_steps(output.split("The plan:", 1)[-1])]
        self.todos.set(todos or [], notify=False)  # the planning setter below offers its tool
        # Asked for (``plan=True``), or left that way: planning until a plan is approved.
        self.planning = planning or self._pending_plan_call() is not None or self.config.plan
