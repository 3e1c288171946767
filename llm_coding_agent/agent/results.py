"""What a run returns (:class:`AgentResult`, :class:`TokenUsage`) and the agent's typed errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import llm

from ..errors import CodingAgentError

__all__ = ["AgentResult", "TokenUsage", "ModelError", "AgentStateError", "LIMIT_STOPS"]

#: Stop reasons that mean "a limit or budget ended the task" (``llm code`` exits with 3).
LIMIT_STOPS = frozenset({"limit", "repeated_failures", "repeated_calls", "max_turns", "max_tokens"})


class ModelError(CodingAgentError):
    """The model could not be reached or refused the request (network, key, API error)."""


class AgentStateError(CodingAgentError, ValueError):
    """An API call that does not fit the agent's state (e.g. ``resume()`` when nothing is paused).

    A ``ValueError`` too, as in llm-coding-agent 0.1a0, whose ``resume()`` raised ``ValueError``.
    """


@dataclass
class TokenUsage:
    """Input and output tokens; ``None`` where the model reported nothing."""

    input: int | None = None
    output: int | None = None

    def add(self, input: int | None, output: int | None) -> None:
        if input is not None:
            self.input = (self.input or 0) + input
        if output is not None:
            self.output = (self.output or 0) + output

    def __iadd__(self, other: "TokenUsage") -> "TokenUsage":
        self.add(other.input, other.output)
        return self


@dataclass
class AgentResult:
    """The outcome of one ``run()`` or ``resume()``."""

    #: The model's final answer (the text of the last response).
    text: str = ""
    #: Every tool call executed (or declined) in this run, with its result.
    tool_calls: list[tuple[llm.ToolCall, llm.ToolResult]] = field(default_factory=list)
    #: The run stopped to wait for approval of ``pending_tool_calls``.
    paused: bool = False
    pending_tool_calls: list[llm.ToolCall] = field(default_factory=list)
    #: The run ended because the model still wanted tools after ``chain_limit`` tool rounds.
    hit_limit: bool = False
    #: Ctrl-C interrupted the run; the history was closed consistently.
    interrupted: bool = False
    #: Why the run ended: "done", "paused", "limit", "interrupted", "repeated_failures" (the same
    #: failing call again and again), "repeated_calls" (the same call with the same result),
    #: "max_turns", "max_tokens" or "plan_rejected" (the user said no to the plan).
    stop_reason: str = "done"
    #: Tokens used by this run.
    usage: TokenUsage = field(default_factory=TokenUsage)
    #: Model responses in this run.
    model_calls: int = 0
    #: Whether the last test command run in this run (by the model, or by the agent under the
    #: ``verify_with_tests`` profile choice) passed; None when no test command ran.
    tests_passed: bool | None = None
    #: With ``attempts`` > 1: every attempt (:class:`~.attempts.Attempt`: its result, changes,
    #: tests and whether it was the one applied); empty for a single run.
    attempts: list = field(default_factory=list)

    @property
    def plan(self):
        """The plan the model presented in this run (the last one; when the run is paused on it,
        it waits for ``approve_plan()`` / ``revise_plan()``), or None: a
        :class:`~llm_coding_agent.agent.planning.Plan` (``steps``, ``questions``)."""
        from .planning import plan_from_calls

        return plan_from_calls([call for call, _ in self.tool_calls] + self.pending_tool_calls)
