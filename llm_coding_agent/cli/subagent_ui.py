"""Sub-agents on screen: the progress of a ``delegate`` call as an indented block, and its
``--json`` events tagged with ``parent`` (the delegate call's id) and the sub-conversation's id.

In the terminal (and on stderr for ``-p``), a delegate call shows as::

    ⏺ delegate (read-only) find where prices are rounded
      │ ● search_files round → 3 matches
      │ ● read_file prices.py → 40 lines
      │ prices.py:12 rounds with round(); ...
    ● delegate → done · 2 model calls · 2 tool calls · no files changed · 1.2k tokens

The sub-agent's answer streams as plain indented lines (the main agent's answer keeps the
Markdown rendering); its calls show one line each, without diffs (an approval prompt shows the
diff of a change it asks about). :class:`SubagentSession` is the part of
:class:`~llm_coding_agent.cli.session.Session` that receives
:class:`~llm_coding_agent.agent.subagents.SubagentEvent` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import llm
from rich.text import Text

from ..agent.subagents import DELEGATE_TOOL, SubagentEvent, SubagentOutcome
from ..tools import short_tool_name
from .live import tool_heading
from .messages import clip, plural
from .ui import tool_summary

__all__ = ["SubagentSession", "INDENT", "indented", "subagent_tool_line", "subagent_end_line"]

#: Put before each line of a sub-agent's block, once per level of depth.
INDENT = "  │ "


def indented(text: Text, depth: int) -> Text:
    """``text`` moved ``depth`` levels in, behind the block's bar."""
    line = Text(INDENT * depth, style="dim")
    line.append_text(text)
    return line


def subagent_start_line(task: str, tools: str) -> Text:
    """``⏺ delegate (read-only) find where prices are rounded``"""
    return tool_heading(DELEGATE_TOOL, f"({tools}) {clip(' '.join(task.split()), 80)}")


def subagent_tool_line(call: llm.ToolCall, result: llm.ToolResult) -> Text:
    """A sub-agent's finished call on one line, as the main agent's calls show (without timing)."""
    name, key, outcome = tool_summary(call, result)
    failed = outcome.startswith(("error", "declined")) or outcome.startswith("exit ") and outcome != "exit 0"
    style = "red" if failed else "green"
    line = tool_heading(name, key, "● ", style)
    line.append(f" → {outcome}", style=style)
    return line


def _tokens(usage) -> str:
    total = (usage.input or 0) + (usage.output or 0)
    return f"{total / 1000:.1f}k tokens" if total >= 1000 else f"{total} tokens"


def subagent_end_line(outcome: SubagentOutcome) -> Text:
    """``● delegate → done · 2 model calls · 3 tool calls · changed app.py · 1.2k tokens``"""
    style = "green" if outcome.completed else "yellow"
    files = "changed " + ", ".join(outcome.changed_files) if outcome.changed_files else "no files changed"
    line = tool_heading(DELEGATE_TOOL, "", "● ", style)
    line.append(
        f" → {outcome.stop_reason} · {plural(outcome.model_calls, 'model call')} · "
        f"{plural(outcome.tool_calls, 'tool call')} · {clip(files, 100)} · {_tokens(outcome.usage)}",
        style=style,
    )
    return line


@dataclass
class _Progress:
    """What the session keeps while sub-agents run."""

    delegated: set = field(default_factory=set)  # delegate calls whose sub-agent started
    started: set = field(default_factory=set)  # sub-agents' calls that began to run
    text: dict = field(default_factory=dict)  # conversation id -> its answer's unfinished line


class SubagentSession:
    """Sub-agents' progress, as part of :class:`~llm_coding_agent.cli.session.Session` (a mixin:
    it uses the session's ``ui``, ``config`` and ``headless``)."""

    @property
    def _subagents(self) -> _Progress:
        if "_subagent_progress" not in vars(self):
            self._subagent_progress = _Progress()
        return self._subagent_progress

    def _quiet_tool(self, call, result=None) -> bool:
        """A delegate call gets no line of its own: its block shows it (unless it failed before
        its sub-agent started)."""
        if short_tool_name(call.name) == DELEGATE_TOOL:
            if result is None or call.tool_call_id in self._subagents.delegated:
                return True
        return super()._quiet_tool(call, result)  # type: ignore[misc]

    def _on_subagent(self, event: SubagentEvent) -> None:
        if event.kind == "start":
            self._subagents.delegated.add(event.parent)
        if self.config.json_output:  # type: ignore[attr-defined]
            self._emit_subagent_event(event)
        else:
            self._show_subagent_event(event)

    # -- --json -----------------------------------------------------------------------------------

    def _emit_subagent_event(self, event: SubagentEvent) -> None:
        from .session import emit_event  # session.py builds on this module

        tags = {"parent": event.parent, "conversation_id": event.conversation_id, "depth": event.depth}
        started = self._subagents.started
        if event.kind == "start":
            emit_event({"type": "subagent_start", **tags, "task": event.task, "tools": event.tools})
        elif event.kind == "text":
            emit_event({"type": "text", "text": event.text, **tags})
        elif event.kind in ("tool_start", "tool"):
            call = event.call
            if event.kind == "tool_start" or call.tool_call_id not in started:
                # A call refused, declined or invalid never started: announced with its result.
                emit_event({"type": "tool_call", "id": call.tool_call_id, "name": call.name,
                            "arguments": call.arguments, **tags})
            if event.kind == "tool_start":
                started.add(call.tool_call_id)
                return
            started.discard(call.tool_call_id)
            output = event.result.output or ""
            emit_event({"type": "tool_result", "id": call.tool_call_id, "name": call.name, "output": output,
                        "error": output.startswith(("Error:", "Cancelled:")), **tags})
        elif event.kind == "notice":
            self.ui.notice(INDENT * event.depth + event.text)  # type: ignore[attr-defined]
        elif event.kind == "end":
            outcome = event.outcome
            emit_event({
                "type": "subagent_end", **tags, "text": outcome.text, "stop_reason": outcome.stop_reason,
                "changed_files": outcome.changed_files, "model_calls": outcome.model_calls,
                "tool_calls": outcome.tool_calls,
                "usage": {"input": outcome.usage.input, "output": outcome.usage.output},
            })

    # -- the terminal (stderr for -p) -------------------------------------------------------------

    def _show_subagent_event(self, event: SubagentEvent) -> None:
        ui = self.ui  # type: ignore[attr-defined]
        depth = event.depth
        if event.kind == "text":
            self._stream_subagent_text(event)
            return
        self._flush_subagent_text(event)
        if event.kind == "start":
            ui.line(indented(subagent_start_line(event.task, event.tools), depth - 1))
        elif event.kind == "tool":
            ui.line(indented(subagent_tool_line(event.call, event.result), depth))
        elif event.kind == "notice":
            ui.line(indented(Text(event.text, style="yellow"), depth))
        elif event.kind == "end":
            ui.line(indented(subagent_end_line(event.outcome), depth - 1))
            return
        else:
            return  # tool_start: the line comes with the result
        if not self.headless:  # type: ignore[attr-defined]
            ui.waiting()

    def _stream_subagent_text(self, event: SubagentEvent) -> None:
        """The sub-agent's answer, a whole line at a time, indented."""
        buffers = self._subagents.text
        *complete, buffers[event.conversation_id] = (buffers.get(event.conversation_id, "") + event.text).split("\n")
        for line in complete:
            self.ui.line(indented(Text(line, style="dim"), event.depth))  # type: ignore[attr-defined]

    def _flush_subagent_text(self, event: SubagentEvent) -> None:
        rest = self._subagents.text.pop(event.conversation_id, "")
        if rest.strip():
            self.ui.line(indented(Text(rest, style="dim"), event.depth))  # type: ignore[attr-defined]
