"""Autonomous runs: the agent works turn after turn on one task until it calls ``task_complete``.

A *turn* is one :meth:`~.loop.CodingAgent.run`: a request and the tool rounds it leads to (up to
``chain_limit``). An autonomous run sends the task, then, whenever a turn ends without the task
marked complete, a short continuation message saying what is left (the unfinished items of the
todo list when there is one). It ends in one of five ways, :attr:`AutoResult.outcome`:

- ``completed``: the model called ``task_complete(summary)``. That tool exists only during an
  autonomous run, and only a real call counts: an answer that says "TASK_COMPLETE" goes on;
- ``budget``: ``max_turns`` turns, the agent's ``max_tokens`` or ``max_time`` seconds are used up;
- ``stuck``: the model repeated the same call (the agent's repeat guard), or answered without a
  tool call ``stuck_turns`` turns in a row (two in a row with the very same answer);
- ``declined``: ``declined_turns`` turns in a row had calls declined and none that needed
  approval ran (nobody approves them: an autonomous run cannot get further), or a plan was rejected;
- ``interrupted``: Ctrl-C.

Approvals are the agent's own (``approve=``); this module only reads the results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import llm

from ..tools import short_tool_name
from .results import AgentResult, AgentStateError, TokenUsage

if TYPE_CHECKING:  # pragma: no cover
    from .loop import CodingAgent

__all__ = [
    "AutonomousRun",
    "AutoResult",
    "COMPLETION_TOOL",
    "COMPLETED_OUTPUT",
    "OUTCOMES",
    "settle_completed_calls",
]

#: The completion tool, as the model sees it.
COMPLETION_TOOL = "task_complete"
#: What a ``task_complete`` call returns (also the answer given to one left unanswered in the
#: logs, so that a continued session sends exactly what the original process would have sent).
COMPLETED_OUTPUT = "Task marked complete. The autonomous run ends here."
#: The ways an autonomous run ends.
OUTCOMES = ("completed", "budget", "stuck", "declined", "interrupted")

_DESCRIPTION = (
    "Call this once the whole task is done and checked (tests run where there are tests): it ends "
    "the autonomous run. summary: what you changed and how you verified it, in a few sentences."
)
_SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}

#: Sent in front of the task: nobody answers between turns, and only the tool ends the run.
START_NOTE = (
    "[Autonomous run: work on the task below without waiting for the user; nobody answers "
    "questions until the run ends. For work of several steps keep a todo list with update_todos. "
    f"When the whole task is done and checked, call {COMPLETION_TOOL} with a summary: only that "
    "call ends the run.]"
)

#: Stops inside a turn and the outcome they give the run ("limit", the chain limit of one turn,
#: and "done" just end the turn).
_TURN_STOPS = {
    "repeated_failures": "stuck", "repeated_calls": "stuck",
    "max_tokens": "budget", "max_time": "budget", "max_turns": "budget",
    "plan_rejected": "declined", "interrupted": "interrupted",
}


@dataclass
class AutoResult:
    """How an autonomous run ended, with its numbers."""

    #: One of :data:`OUTCOMES`.
    outcome: str = "completed"
    #: What exactly ended it: ``task_complete``, ``max_turns``, ``max_tokens``, ``max_time``,
    #: ``repeated_calls``, ``repeated_failures``, ``no_tool_calls``, ``same_answer``,
    #: ``declined``, ``plan_rejected``, ``paused`` or ``interrupted``.
    reason: str = "task_complete"
    #: ``task_complete``'s summary; otherwise the last answer.
    summary: str = ""
    #: The model's last answer.
    text: str = ""
    turns: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    seconds: float = 0.0
    #: Whether the last test command run during the run passed (None: none ran).
    tests_passed: bool | None = None

    @property
    def completed(self) -> bool:
        return self.outcome == "completed"

    def numbers(self) -> str:
        """``3 turns · 7 tool calls · 1,234 tokens · 12.5s · tests passing``"""
        tokens = (self.usage.input or 0) + (self.usage.output or 0)
        tests = {True: "tests passing", False: "tests failing", None: "no tests run"}[self.tests_passed]
        return (f"{_plural(self.turns, 'turn')} · {_plural(self.tool_calls, 'tool call')} · "
                f"{tokens:,} tokens · {self.seconds:.1f}s · {tests}")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class AutonomousRun:
    """Drive ``agent`` across turns until the task is complete or the run must end.

    ``max_turns``: turns at most (None: no limit); ``max_time``: seconds (checked after every tool
    round); token budgets are the agent's own ``max_tokens``. ``on_turn(number)`` is called before
    each turn. The agent needs an approver (``approve=True`` or a callable): with ``None`` it
    would pause, and nobody resumes an autonomous run.
    """

    def __init__(
        self,
        agent: "CodingAgent",
        *,
        max_turns: int | None = None,
        max_time: float | None = None,
        stuck_turns: int = 3,
        declined_turns: int = 2,
        on_turn: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if agent.approve is None:
            raise AgentStateError("an autonomous run needs approve=True or an approver callable, not None")
        self.agent = agent
        self.max_turns = max_turns
        self.max_time = max_time
        self.stuck_turns = max(1, stuck_turns)
        self.declined_turns = max(1, declined_turns)
        self.on_turn = on_turn
        self.clock = clock
        self._summary: str | None = None
        self._started = 0.0
        self._tool = llm.Tool(
            name=COMPLETION_TOOL, description=_DESCRIPTION, input_schema=_SCHEMA,
            implementation=self._complete,
        )

    def _complete(self, summary: str) -> str:
        if not isinstance(summary, str) or not summary.strip():
            return f"Error: give {COMPLETION_TOOL} a summary of what was done and how it was checked"
        self._summary = summary.strip()
        return COMPLETED_OUTPUT

    def _stop_check(self, result: AgentResult) -> str | None:
        """After each tool round: end the turn once the task is complete or the time is up."""
        if self._summary is not None:
            return "completed"
        if self.max_time and self.clock() - self._started >= self.max_time:
            return "max_time"
        return None

    def run(self, task: str) -> AutoResult:
        """Work on ``task`` until one of the endings in the module's docstring."""
        if not isinstance(task, str) or not task.strip():
            raise AgentStateError("the task must be a non-empty string")
        agent = self.agent
        self._summary, self._started = None, self.clock()
        agent.tools.append(self._tool)
        agent.policy.read_only_tools.add(COMPLETION_TOOL)  # it changes nothing: never asks
        agent.stop_checks.append(self._stop_check)
        try:
            return self._loop(f"{START_NOTE}\n\n{task}")
        finally:
            agent.stop_checks.remove(self._stop_check)
            agent.tools.remove(self._tool)

    def _loop(self, prompt: str) -> AutoResult:
        agent, outcome = self.agent, AutoResult()
        idle = declined = 0
        last_answer: str | None = None
        while True:
            if self.max_turns and outcome.turns >= self.max_turns:
                return self._end(outcome, "budget", "max_turns")
            if self.max_time and self.clock() - self._started >= self.max_time:
                return self._end(outcome, "budget", "max_time")
            outcome.turns += 1
            if self.on_turn:
                self.on_turn(outcome.turns)
            result = agent.run(prompt)
            self._add(outcome, result)
            if result.stop_reason == "completed" or self._summary is not None:
                return self._end(outcome, "completed", "task_complete")
            if result.paused:
                return self._end(outcome, "declined", "paused")
            if result.stop_reason in _TURN_STOPS:
                return self._end(outcome, _TURN_STOPS[result.stop_reason], result.stop_reason)
            idle = idle + 1 if not result.tool_calls else 0
            if idle >= self.stuck_turns:
                return self._end(outcome, "stuck", "no_tool_calls")
            if idle >= 2 and result.text.strip() and result.text == last_answer:
                return self._end(outcome, "stuck", "same_answer")
            last_answer = result.text
            declined = declined + 1 if self._only_declined(result) else 0
            if declined >= self.declined_turns:
                return self._end(outcome, "declined", "declined")
            prompt = self.continuation(outcome.turns, bool(result.tool_calls))

    def continuation(self, turns_done: int, used_tools: bool) -> str:
        """The message that starts the next turn: where the run stands and what is left."""
        agent = self.agent
        limit = f" of {self.max_turns}" if self.max_turns else ""
        lines = [f"[Autonomous run, turn {turns_done + 1}{limit}: the task is not marked complete yet."]
        left = [item for item in agent.todos.items if item.status != "completed"]
        if left:
            lines.append("Left on the todo list:")
            lines += [f"- {item.step}" + (" (in progress)" if item.status == "in_progress" else "") for item in left]
        elif agent.todos.items:
            lines.append("Every todo item is completed: check the result (run the tests).")
        if not used_tools:
            lines.append("Your last answer called no tool: act with the tools instead of describing the next step.")
        lines.append(f"Carry on; when the whole task is done and checked, call {COMPLETION_TOOL} with a summary.]")
        return "\n".join(lines)

    def _only_declined(self, result: AgentResult) -> bool:
        """Calls were declined in this turn and none that needed approval ran."""
        agent, declined, ran = self.agent, False, False
        for call, tool_result in result.tool_calls:
            output = tool_result.output or ""
            name = agent._resolve_tool_name(call.name) or str(call.name)
            if output.startswith("Cancelled:") and "chain limit" not in output:
                declined = True
            elif not agent.policy.is_read_only(name) and not output.startswith("Error:"):
                ran = True
        return declined and not ran

    def _add(self, outcome: AutoResult, result: AgentResult) -> None:
        outcome.model_calls += result.model_calls
        outcome.tool_calls += len(result.tool_calls)
        outcome.usage += result.usage
        outcome.text = result.text
        if result.tests_passed is not None:
            outcome.tests_passed = result.tests_passed

    def _end(self, outcome: AutoResult, how: str, reason: str) -> AutoResult:
        outcome.outcome, outcome.reason = how, reason
        outcome.summary = self._summary if self._summary is not None else outcome.text
        outcome.seconds = self.clock() - self._started
        return outcome


def settle_completed_calls(agent: "CodingAgent") -> None:
    """A conversation continued from the logs whose last calls were ``task_complete``: answer
    them as the run did (their results went unsent when the run ended), instead of coming back
    paused on a tool the continued session does not have."""
    pending = agent._pending
    if pending and all(short_tool_name(str(c.name)) == COMPLETION_TOOL for c in pending):
        agent._unsent_results += [
            llm.ToolResult(name=c.name, output=COMPLETED_OUTPUT, tool_call_id=c.tool_call_id) for c in pending
        ]
        agent._pending = []
