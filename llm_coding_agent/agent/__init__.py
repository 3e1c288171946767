"""The agent layer: :class:`CodingAgent`, the loop as a Python API. No terminal code lives here.

What lives here:

- ``loop.py``: ``CodingAgent``: send a request, stream the answer, run the tool calls, repeat.
- ``planning.py``: plan mode (read-only until a presented plan is approved) and the todo list.
- ``context.py``: the context window budget and compaction of long histories.
- ``textcalls.py``: tool calls that weak models write as text instead of real calls.
- ``mentions.py``: files a request names, read and sent with it.
- ``prompts.py``: the system prompt.
- ``logstore.py``: logging each response to llm's database as it happens.
- ``reviewer.py``: the reviewer model that sees file changes before the user does.
- ``subagents.py``: the ``delegate`` tool: a sub-agent with a fresh context, read-only by default.
- ``scratch.py``: scratch copies of a project (a git worktree with the uncommitted state, or a copy)
  and their changes read back; ``attempts.py``: ``--attempts``, the best of N attempts applied.
- ``autonomous.py``: autonomous runs, turn after turn until ``task_complete`` or a budget.
- ``portable.py``: a logged session exported as a versioned JSON document, and imported back.

May import: :mod:`llm_coding_agent.safety`, :mod:`llm_coding_agent.tools`,
:mod:`llm_coding_agent.errors` and ``llm``; never ``cli``. It talks to a user interface only
through the callbacks it is given (``approve``, ``on_text``, ``on_tool_start``, ``on_tool``,
``on_notice``).
"""

from __future__ import annotations

from .calls import CallPreview, EditedContent
from .loop import AgentResult, AgentStateError, CodingAgent, ModelError, TokenUsage
from .planning import Plan, PlanAnswer, mark_read_only
from .subagents import SubagentEvent, SubagentOutcome

__all__ = [
    "AgentResult", "AgentStateError", "CallPreview", "CodingAgent", "EditedContent", "ModelError", "Plan",
    "PlanAnswer", "SubagentEvent", "SubagentOutcome", "TokenUsage", "mark_read_only",
]
