"""The session of an autonomous run (``llm code --auto``, ``llm loop``): :class:`AutoSession` is
an ``llm code`` session whose task runs through :class:`~llm_coding_agent.agent.autonomous.AutonomousRun`.
Kept apart from :mod:`.auto`, which the plugin imports at start-up, because this imports the
terminal UI."""

from __future__ import annotations

import json
import sys
from typing import Any, Mapping

from ..agent import AgentStateError, ModelError
from ..agent.autonomous import AutonomousRun
from .messages import declined_advice
from .session import EXIT_INTERRUPTED, EXIT_LIMIT, EXIT_OK, Session, SessionError, emit_event

__all__ = ["AutoSession", "start_auto", "auto_exit_status", "ENDINGS"]

#: How the printed summary names each ending.
ENDINGS = {
    "completed": "Completed",
    "budget": "Stopped: a budget is used up",
    "stuck": "Stopped: the model is stuck",
    "declined": "Stopped: calls were declined",
    "interrupted": "Interrupted",
}
_REASONS = {
    "max_turns": "--max-turns", "max_tokens": "--max-tokens", "max_time": "--max-time",
    "repeated_calls": "the same call again and again", "repeated_failures": "the same failing call again and again",
    "no_tool_calls": "answers without any tool call", "same_answer": "the same answer again",
    "declined": "nothing that needed approval could run", "plan_rejected": "the plan was rejected",
    "paused": "a call waits for an approval nobody gives",
}


def auto_exit_status(outcome: str) -> int:
    """0 completed, 130 interrupted, 3 any other ending (a budget, stuck, declined)."""
    return {"completed": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(outcome, EXIT_LIMIT)


def start_auto(command_line: Mapping[str, Any]) -> int:
    """Run ``llm code --auto``; returns the exit status (errors raise ``SessionError``)."""
    command_line = dict(command_line)
    source = command_line.get("import_conversation")
    if source:
        if command_line.get("continue_") or command_line.get("conversation_id"):
            raise SessionError("--import-conversation starts from the file; leave out -c and --cid")
        from .portable import import_file

        command_line["conversation_id"] = import_file(source, root=command_line.get("root"))
    task = command_line["auto"]
    session = AutoSession({**command_line, "print_prompt": task})
    try:
        return session.run_auto(task)
    finally:
        session.close()  # stops the MCP servers


class AutoSession(Session):
    """An ``llm code`` session that runs one task autonomously (headless output, approvals at the
    terminal when there is one)."""

    def _agent_kwargs(self) -> dict[str, Any]:
        kwargs = super()._agent_kwargs()
        kwargs["max_turns"] = None  # --max-turns counts turns here, not model calls per turn
        if not self.config.yolo:
            asks = self.ui.interactive_in and not self.config.json_output
            kwargs["approve"] = self._approve if asks else self._headless_approve
        return kwargs

    def _on_text(self, chunk: str) -> None:
        super()._on_text(chunk)
        self._line_open = not chunk.endswith("\n")  # the next turn's text starts on a new line

    def _end_line(self) -> None:
        if getattr(self, "_line_open", False) and not self.config.json_output:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self._line_open = False

    def _on_tool(self, call, result) -> None:
        super()._on_tool(call, result)
        if self.config.tools_debug and not self.config.json_output:
            self.ui.notice(f"  {call.name} {json.dumps(call.arguments, default=str)}", style="dim")
            self.ui.show_output(result.output or "")

    def run_auto(self, task: str) -> int:
        agent = self.agent
        if agent.paused:
            self.ui.notice("The continued conversation had tool calls waiting; they are declined.")
            agent.discard_pending("declined: the session was continued by an autonomous run")
        self._declined = []
        config = self.config

        def on_turn(number: int) -> None:
            self._end_line()
            if config.json_output:
                emit_event({"type": "turn", "turn": number})
            else:
                limit = f"/{config.max_turns}" if config.max_turns else ""
                self.ui.notice(f"── turn {number}{limit} ──", style="dim")

        runner = AutonomousRun(agent, max_turns=config.max_turns, max_time=config.max_time, on_turn=on_turn)
        try:
            outcome = runner.run(task)
        except (ModelError, AgentStateError) as ex:
            raise SessionError(str(ex)) from None
        if self._declined:
            self.ui.notice(declined_advice(self._declined, agent.policy.rules, agent.root))
        if config.export_conversation:
            self._export(config.export_conversation)
        status = auto_exit_status(outcome.outcome)
        if config.json_output:
            emit_event({
                "type": "final", "status": outcome.outcome, "reason": outcome.reason,
                "summary": outcome.summary, "text": outcome.text, "turns": outcome.turns,
                "model_calls": outcome.model_calls, "tool_calls": outcome.tool_calls,
                "usage": {"input": outcome.usage.input, "output": outcome.usage.output},
                "seconds": round(outcome.seconds, 3), "tests_passed": outcome.tests_passed,
                "conversation_id": agent.conversation_id,
            })
            return status
        self._end_line()
        if outcome.completed:
            sys.stdout.write(f"Summary: {outcome.summary}\n")
        ending = ENDINGS[outcome.outcome]
        if outcome.reason in _REASONS:
            ending += f" ({_REASONS[outcome.reason]})"
        self.ui.notice(f"{ending} · {outcome.numbers()}", style="bold")
        if not outcome.completed and outcome.outcome != "interrupted":
            self.ui.notice(f"to go on: llm code --cid {agent.conversation_id} --auto \"continue\"", style="dim")
        return status

    def _export(self, path: str) -> None:
        from ..agent.portable import PortableError
        from .portable import export_file

        if self.db is None:
            raise SessionError("cannot export the session: logging is off (`llm logs on`)")
        try:
            export_file(self.db, self.agent.conversation_id, path, "json")
        except PortableError as ex:
            raise SessionError(str(ex)) from None
        self.ui.notice(f"session exported to {path}", style="dim")
