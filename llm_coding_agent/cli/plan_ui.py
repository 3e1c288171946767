"""Plan mode and the todo list in ``llm code``: the plan shown and answered (y / e / n), the
``!plan`` command, the checklist printed when the list changes, and what a headless run
prints (``-p --plan``: the plan, or with ``--json`` a ``plan`` event; ``todo`` events).

:class:`PlanSession` is part of :class:`~llm_coding_agent.cli.session.Session` (a mixin): it
uses the session's ``ui``, ``agent``, ``config`` and ``headless``.
"""

from __future__ import annotations

import sys
from typing import Any

from ..agent import AgentResult, Plan, PlanAnswer
from ..agent.planning import PRESENT_PLAN, split_steps
from ..tools import short_tool_name
from ..tools.todo import TODO_TOOL, TodoList
from .editor import edit_text

__all__ = ["PlanSession", "plan_text", "todo_lines"]

#: The checklist's marks: in a terminal, and in plain text (pipes, NO_COLOR).
_MARKS = {"pending": "☐", "in_progress": "◐", "completed": "☑"}
_PLAIN_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}
_STYLES = {"pending": "", "in_progress": "bold yellow", "completed": "green"}

_EDIT_HEADER = (
    "# Edit the plan: one step per line (numbers are optional). Lines starting with # are\n"
    "# ignored. Save and close the editor to approve this version; leave it unchanged to go back.\n"
)


def plan_text(plan: Plan) -> str:
    """The plan as the user reads it: numbered steps, then the open questions."""
    text = plan.as_text()
    if plan.questions:
        text += "\nOpen questions:\n" + "\n".join(f"- {q}" for q in plan.questions)
    return text


def todo_lines(todos: TodoList, rich: bool) -> list[tuple[str, str]]:
    """(line, style) for each step of the checklist."""
    marks = _MARKS if rich else _PLAIN_MARKS
    return [(f"  {marks[item.status]} {item.step}", _STYLES[item.status]) for item in todos.items]


class PlanSession:
    """Plan mode and the todo list of an ``llm code`` session."""

    # -- what the agent is given ------------------------------------------------------------------

    def _plan_approver(self):
        """Who answers a plan: the user (interactive); ``--yolo`` (headless: approved, and the
        plan is shown); or nobody (headless: the run stops with the plan, changing nothing)."""
        return self._headless_plan if self.headless else self._ask_plan

    def _show_todos(self, todos: TodoList) -> None:
        """The todo list changed: a ``todo`` event, or the checklist (stderr when headless)."""
        if self.config.json_output:
            from .session import emit_event

            emit_event({"type": "todo", "items": todos.as_dicts(), "explanation": todos.explanation})
            return
        if not todos.items:
            return
        ui = self.ui
        ui.notice(f"Todo list ({todos.progress()})", style="bold")
        if todos.explanation:
            ui.notice(f"  {todos.explanation}", style="dim")
        for line, style in todo_lines(todos, ui.rich):
            ui.notice(line, style=style)

    def _quiet_tool(self, call, result=None) -> bool:
        """Calls of the todo list and of ``present_plan`` get no line of their own in the
        terminal (the checklist or the plan is what shows them), unless they failed."""
        if short_tool_name(call.name) not in (TODO_TOOL, PRESENT_PLAN):
            return False
        return result is None or not result.output.startswith("Error:")

    # -- the plan's question ----------------------------------------------------------------------

    def _show_plan(self, plan: Plan, title: str) -> None:
        ui = self.ui
        ui.notice(title, style="bold yellow")
        for number, step in enumerate(plan.steps, 1):
            ui.notice(f"  {number}. {step}", style="")
        if plan.questions:
            ui.notice("  Open questions:", style="bold")
            for question in plan.questions:
                ui.notice(f"  - {question}", style="")

    def _ask_plan(self, plan: Plan) -> PlanAnswer:
        """y: approve and carry it out; e: edit it in $EDITOR (``e: text`` adds a step); n:
        reject; ``n: feedback`` (or any other text): the model revises the plan."""
        ui = self.ui
        self._show_plan(plan, f"? Plan ({len(plan.steps)} step{'s' if len(plan.steps) != 1 else ''})")
        ui.notice("  y carry it out · e edit it ($EDITOR, or e: TEXT to add a step) · n reject · n: TEXT revise",
                  style="dim")
        while True:
            reply = ui.ask_line("  [y]es  [e]dit  [n]o  (n: what to change) › ")
            if reply is None:
                return PlanAnswer(approved=False)  # end of input: nobody approved it
            reply = reply.strip()
            low = reply.lower()
            if low in ("y", "yes"):
                ui.notice("plan approved: carrying it out", style="dim")
                return PlanAnswer(approved=True)
            if low in ("e", "edit"):
                steps, problem = self._edit_plan(plan)
                if steps:
                    self._show_plan(Plan(steps), "Your version of the plan (approved):")
                    return PlanAnswer(approved=True, steps=steps)
                ui.notice(f"  {problem}", style="dim")
                continue
            if low.startswith(("e:", "edit:")):
                amendment = reply.split(":", 1)[1].strip()
                if amendment:
                    steps = plan.steps + [amendment]
                    self._show_plan(Plan(steps), "Your version of the plan (approved):")
                    return PlanAnswer(approved=True, steps=steps)
            if low in ("n", "no"):
                return PlanAnswer(approved=False)
            if reply:
                feedback = reply.split(":", 1)[1].strip() if low.startswith(("n:", "no:")) else reply
                if feedback:
                    ui.notice("sent back with your feedback: the model keeps planning", style="dim")
                    return PlanAnswer(approved=False, feedback=feedback)
            ui.notice("  answer y, e or n (or say what to change)", style="dim")

    def _edit_plan(self, plan: Plan) -> tuple[list[str] | None, str]:
        """The steps as the user left them in their editor, or (None, why not)."""
        outcome = edit_text(_EDIT_HEADER + plan.as_text() + "\n", "plan.md", terminal=self.ui.interactive_in)
        if outcome.text is None:
            return None, outcome.problem.replace("content", "plan")
        steps = split_steps(outcome.text)
        return (steps, "") if steps else (None, "the edited plan has no steps")

    def _headless_plan(self, plan: Plan) -> Any:
        """``-p --plan``: the plan is printed (a ``plan`` event with ``--json``); with ``--yolo``
        it is approved and carried out, else the run stops there with nothing changed."""
        if self.config.json_output:
            from .session import emit_event

            emit_event({"type": "plan", "steps": plan.steps, "questions": plan.questions})
        elif self.config.yolo:
            self._show_plan(plan, "Plan (approved: --yolo):")
        else:
            if self.agent.on_text is not None:
                sys.stdout.write("\n")
            sys.stdout.write(plan_text(plan) + "\n")
            sys.stdout.flush()
        return True if self.config.yolo else None

    def _headless_plan_notice(self, result: AgentResult) -> bool:
        """After a headless run that stopped at its plan: how to go on. True when it did."""
        if not (result.paused and self.agent.pending_plan is not None):
            return False
        if not self.config.json_output:
            self.ui.notice(
                "Plan mode: nothing was changed. To approve, edit or revise this plan, run "
                f"`llm code --cid {self.agent.conversation_id}` (or add --yolo to -p --plan to carry it out at once)."
            )
        return True

    # -- !plan --------------------------------------------------------------------------------------

    def _plan_command(self, arg: str) -> None:
        """``!plan``: plan mode on (or off again); ``!plan TASK``: plan this task now;
        ``!plan off`` / ``!plan on``."""
        agent = self.agent
        if arg.lower() in ("", "on", "off"):
            agent.planning = (not agent.planning) if not arg else arg.lower() == "on"
            self.ui.notice(
                "plan mode on: the model looks around read-only and presents a plan for you to approve"
                if agent.planning else "plan mode off: changes and commands ask first, as usual",
                style="",
            )
            return
        agent.planning = True
        self._turn(arg)

    def _show_recovered_todos(self) -> None:
        """A continued conversation: its todo list and mode, as they were left."""
        if self.agent.todos.items:
            self._show_todos(self.agent.todos)
        if self.agent.planning and self.agent.pending_plan is None:
            self.ui.notice("plan mode is on (!plan off to leave it)", style="dim")

