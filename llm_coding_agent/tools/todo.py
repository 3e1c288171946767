"""The todo list: the ``update_todos`` tool, in the shape of Codex's ``update_plan``.

The model sends the whole list each time: ``{"explanation"?: str, "plan": [{"step": str,
"status": "pending" | "in_progress" | "completed"}]}``, with at most one step in progress. The
list changes nothing outside itself, so it never needs approval and works in plan mode too. A
bad list is refused with an ``Error:`` saying what to fix, and the list keeps its last good state.

:meth:`TodoList.as_text` writes the list as ``[x]``/``[~]``/``[ ]`` lines (what compaction keeps
of it) and :func:`parse_todo_text` reads those lines back (what a continued session recovers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import llm

from ..errors import ToolError

__all__ = ["TODO_TOOL", "TODO_STATUSES", "TodoItem", "TodoList", "parse_todo_update", "parse_todo_text"]

#: The todo tool's name, as the model sees it.
TODO_TOOL = "update_todos"
#: A step's possible states, in the order work moves through them.
TODO_STATUSES = ("pending", "in_progress", "completed")
#: How :meth:`TodoList.as_text` marks each state.
_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}
_MARKED_LINE = re.compile(r"^\s*\[( |~|x)\]\s+(.+?)\s*$")

_DESCRIPTION = (
    "Keep a todo list for work of several steps: send the whole list each time, each step with "
    "its status (pending, in_progress or completed; at most one in_progress). The user sees it."
)

_SCHEMA = {
    "type": "object",
    "properties": {
        "explanation": {"type": "string"},
        "plan": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "step": {"type": "string"},
                    "status": {"type": "string", "enum": list(TODO_STATUSES)},
                },
                "required": ["step", "status"],
            },
        },
    },
    "required": ["plan"],
}


@dataclass(frozen=True)
class TodoItem:
    """One step of the todo list."""

    step: str
    status: str = "pending"

    def as_dict(self) -> dict[str, str]:
        return {"step": self.step, "status": self.status}


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (line breaks included) made single spaces."""
    return " ".join(str(text).split())


def parse_todo_update(plan: Any) -> list[TodoItem]:
    """The items of an ``update_todos`` call's ``plan``; raises ToolError saying what to fix."""
    if not isinstance(plan, list):
        raise ToolError('plan must be a list of {"step": ..., "status": ...} objects')
    items: list[TodoItem] = []
    for number, entry in enumerate(plan, 1):
        if isinstance(entry, str):  # a bare step: weak models often send just the text
            entry = {"step": entry, "status": "pending"}
        if not isinstance(entry, dict):
            raise ToolError(f'step {number} must be an object {{"step": ..., "status": ...}}')
        step = one_line(entry.get("step") or "")
        status = str(entry.get("status") or "pending").strip().lower().replace(" ", "_").replace("-", "_")
        if not step:
            raise ToolError(f"step {number} has no text; give each step a short description")
        if status not in TODO_STATUSES:
            raise ToolError(
                f"step {number} has status {entry.get('status')!r}; use one of {', '.join(TODO_STATUSES)}"
            )
        items.append(TodoItem(step, status))
    in_progress = [item.step for item in items if item.status == "in_progress"]
    if len(in_progress) > 1:
        raise ToolError(
            f"{len(in_progress)} steps are in_progress ({'; '.join(in_progress)}); at most one step may "
            "be in_progress: mark the others pending or completed and send the whole list again"
        )
    return items


def parse_todo_text(text: str) -> list[TodoItem]:
    """The items of a list written by :meth:`TodoList.as_text` (other lines are ignored)."""
    states = {mark[1]: status for status, mark in _MARKS.items()}
    items = []
    for line in text.splitlines():
        match = _MARKED_LINE.match(line)
        if match:
            items.append(TodoItem(match.group(2), states[match.group(1)]))
    return items


class TodoList:
    """The current todo list, the tool that updates it, and a callback for every change."""

    def __init__(self, on_change: Callable[["TodoList"], None] | None = None):
        self.items: list[TodoItem] = []
        self.explanation = ""
        #: Called after every change (a user interface shows the list; the agent may notify).
        self.on_change = on_change

    def set(self, items: list[TodoItem], explanation: str = "", *, notify: bool = True) -> None:
        """Replace the list (``notify`` False: recovered from the logs, not a change to show)."""
        changed = items != self.items or explanation != self.explanation
        self.items = list(items)
        self.explanation = explanation
        if changed and notify and self.on_change is not None:
            self.on_change(self)

    def update(self, plan: Any, explanation: str | None = None) -> str:
        """The tool: replace the whole list; returns a short summary, or ``Error: ...``."""
        try:
            items = parse_todo_update(plan)
        except ToolError as ex:
            return f"Error: {ex}"
        self.set(items, one_line(explanation or ""))
        return "Todo list updated: " + self.progress()

    def progress(self) -> str:
        """``2 of 5 done; in progress: Run the tests``."""
        if not self.items:
            return "empty"
        done = sum(1 for item in self.items if item.status == "completed")
        current = next((item.step for item in self.items if item.status == "in_progress"), None)
        return f"{done} of {len(self.items)} done" + (f"; in progress: {current}" if current else "")

    def as_text(self) -> str:
        """One ``[x] step`` / ``[~] step`` / ``[ ] step`` line per item."""
        return "\n".join(f"{_MARKS[item.status]} {item.step}" for item in self.items)

    def as_dicts(self) -> list[dict[str, str]]:
        return [item.as_dict() for item in self.items]

    def tool(self) -> llm.Tool:
        """``update_todos`` as an ``llm.Tool`` bound to this list."""

        def update_todos(plan: list, explanation: str | None = None) -> str:
            return self.update(plan, explanation)

        return llm.Tool(
            name=TODO_TOOL, description=_DESCRIPTION, input_schema=_SCHEMA, implementation=update_todos
        )
