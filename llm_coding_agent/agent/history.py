"""The agent's history and undo, as a mixin of :class:`~.loop.CodingAgent`: the messages the next
request builds on, compaction on request (``!compact``), and restoring the files of the last turn."""

from __future__ import annotations

from ..errors import CodingAgentError
from .context import mechanical_summary
from .results import AgentStateError

__all__ = ["HistoryAndUndo"]


class HistoryAndUndo:
    """History, compaction and undo of :class:`~.loop.CodingAgent` (uses its ``conversation``,
    ``context``, ``model``, ``undo_history`` and ``coding_tools``)."""

    # -- context ----------------------------------------------------------------------------------

    def history(self) -> list:
        """The messages the next request builds on (the compacted form, once compacted)."""
        if self._history_override is not None:
            return list(self._history_override)
        conversation = self.conversation
        if conversation.responses:
            last = conversation.responses[-1]
            return list(last.prompt.messages) + list(last._messages_now())
        return list(conversation.loaded_messages or [])

    def context_tokens(self) -> tuple[int, str]:
        """Tokens the current history takes: ("reported" by the model or "estimated")."""
        count, how = self.context.last_request
        if self._history_override is not None or not count:
            return self.context.tokens(self.history()), "estimated"
        return count, how

    def compact(self, focus: str | None = None):
        """Compact the history now (``!compact``); returns the CompactionReport (None if empty)."""
        history = self.history()
        if len(history) < 3:
            return None
        compacted, report = self.context.compact(
            history, 0, self._summarize, force=True, focus=focus, pinned=self.pinned_context()
        )
        self._history_override = compacted
        return report

    def _summarize(self, text: str) -> str:
        """Ask the model for a summary (no tools); a mechanical one if the model fails."""
        try:
            response = self.model.prompt(text, key=self.config.key, stream=False)
            summary = response.text()
            usage = response.usage()
            self.usage.add(usage.input, usage.output)
            if summary.strip():
                return summary
        except Exception as ex:  # a summary must never break the session
            self._notice(f"the model could not summarise ({ex}); using a mechanical summary")
        return mechanical_summary(text)

    # -- undo ------------------------------------------------------------------------------------

    def undo(self):
        """Restore the project to how it was before the last turn; returns an ``UndoResult``.

        The model is told what was undone with the next prompt.
        """
        if self.undo_history is None:
            raise AgentStateError("undo is off for this agent")
        outcome = self.undo_history.undo()
        self._notes.append(
            "[Note from the system: the user undid your previous turn. " + outcome.summary()
            + " Files are back as they were before that turn; re-read before editing.]"
        )
        # Our record of what the model last saw is void now.
        self.coding_tools._seen.clear()
        return outcome

    def _snapshot(self, label: str) -> None:
        if self.undo_history is None:
            return
        try:
            self.undo_history.snapshot(label[:80])
        except CodingAgentError as ex:
            self._notice(f"undo unavailable for this turn: {ex}")
