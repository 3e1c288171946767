"""Sub-agents: the ``delegate`` tool, as part of :class:`~llm_coding_agent.CodingAgent` (a mixin).

``delegate(task, tools="read-only"|"all")`` runs a sub-agent, a :class:`CodingAgent` with a fresh
context, on the same project, and gives the main agent back only its final answer and the files
it changed. The main agent's context stays free of everything the sub-agent read on the way.

What the sub-agent shares with the main agent, and what it does not:

- **The same rules.** The same root, model, options, sandbox and settings; the very same
  :class:`~llm_coding_agent.safety.approval.ApprovalPolicy` object (allow/deny rules, ``--yolo``,
  and "always" answers count for both), the same approver (the user answers its calls in the
  same way, headless runs decline them the same way), the same extra tools (``tools=``: ``-T``,
  ``--functions``). Not the todo list, plan mode or undo snapshots (the main agent's snapshot of
  the turn covers what the sub-agent changes, so ``!undo`` undoes both).
- **Read-only by default**, enforced where every call passes, exactly like plan mode:
  :meth:`Delegation.planning_refusal` refuses what
  :meth:`~llm_coding_agent.safety.approval.ApprovalPolicy.planning_refusal` does not allow (edits,
  writes, commands no allow rule covers or that write through a redirection, extra tools not
  marked read-only), whatever the approver would say; behind it the toolbox refuses the same calls
  (``CodingTools._read_only_check``), and the sandbox mounts the project read-only.
  ``tools="all"`` lets it change files, each change asking for approval as the main agent's do.
- **Its own budget**: ``delegate_max_turns`` model calls and ``delegate_max_tokens`` tokens (never
  more than what is left of the session's ``max_tokens``, which its tokens count towards).
- **No recursion**: the main agent is depth 0, a sub-agent depth 1, and only agents below
  :data:`MAX_DEPTH` are offered ``delegate``.
- **Pausing**: with ``approve=None`` (the run pauses for approval) a sub-agent cannot pause in
  the middle of a tool call, so its calls that need approval are declined, with a message telling
  it to describe the change instead. A read-only sub-agent never asks, so it is unaffected.

**Events**: ``on_subagent(event)`` (a :class:`SubagentEvent`) receives the sub-agent's progress,
tagged with ``parent`` (the delegate call's id), ``conversation_id`` (the sub-agent's) and
``depth``: ``start``, ``text``, ``tool_start``, ``tool``, ``notice``, ``end`` (with the
:class:`SubagentOutcome`). The main agent's own callbacks see the ``delegate`` call itself.

**The log**: the sub-agent logs to llm's database in a conversation of its own (named after the
task). The link is the row of :data:`SUBAGENTS_TABLE` (sub-conversation, parent conversation,
delegate call id, task, outcome) and the sub-conversation's id in the delegate call's result,
which is logged in the main conversation. ``llm code stats`` and the session lists leave these
conversations out (:func:`subagent_conversations`).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import llm

from ..errors import ToolError
from ..tools import CODING_TOOL_PREFIX, FILE_CHANGING_TOOLS, short_tool_name
from ..tools.search import list_files
from .results import AgentResult, AgentStateError, ModelError, TokenUsage
from .reviewer import Unanswered

__all__ = [
    "Delegation", "SubagentEvent", "SubagentOutcome", "DELEGATE_TOOL", "TOOL_CHOICES", "MAX_DEPTH",
    "SUBAGENTS_TABLE", "subagent_conversations", "latest_main_conversation",
]

#: The tool's name, as the model sees it (and as ``--no-tool delegate`` names it).
DELEGATE_TOOL = "delegate"
#: The values of its ``tools`` argument.
TOOL_CHOICES = ("read-only", "all")
#: Agents at this depth or deeper get no ``delegate`` tool (the main agent is depth 0).
MAX_DEPTH = 1
#: The table of llm's logs database linking each sub-agent's conversation to its parent's.
SUBAGENTS_TABLE = "llm_code_subagents"
#: Files compared before and after a sub-agent's commands (to list what the commands changed).
_FINGERPRINT_LIMIT = 20_000

_DESCRIPTION = (
    "Hand a self-contained task to a sub-agent: a fresh agent with its own context, working in the "
    "same project under the same rules. You get back only its final answer and the files it changed, "
    "so use it for work whose details you do not need to see (find where something is handled, "
    "summarise a module, check how a function is used everywhere). Describe the task completely: "
    "it sees nothing of this conversation. tools=\"read-only\" (the default): it can read, list and "
    "search, and change nothing. tools=\"all\": it can also edit files and run commands, each asking "
    "for approval as yours do."
)
_SCHEMA = {
    "type": "object",
    "properties": {
        "task": {"type": "string", "description": "What the sub-agent should do or find out, completely."},
        "tools": {"type": "string", "enum": list(TOOL_CHOICES), "description": "read-only (default) or all"},
    },
    "required": ["task"],
}

#: Added to a sub-agent's system prompt.
SUBAGENT_NOTE = (
    "You are a sub-agent: another agent handed you the task in the user message, and sees nothing "
    "of your work but your final answer. Work on the task alone (nobody can answer questions), then "
    "answer with what was asked, self-contained and concise: what you found or did, with file paths "
    "and line numbers."
)
READ_ONLY_NOTE = (
    "You are read-only: read, list and search files; anything that would change a file is refused. "
    "Where something should change, say what and where in your answer."
)

#: How a sub-agent's run ended, for the main agent's model (see AgentResult.stop_reason).
_ENDINGS = {
    "done": "finished",
    "max_turns": "stopped before finishing: its budget of {turns} model calls was used up",
    "max_tokens": "stopped before finishing: its token budget was used up",
    "limit": "stopped before finishing: it reached the limit of tool rounds",
    "repeated_failures": "stopped before finishing: it kept repeating the same failing call",
    "repeated_calls": "stopped before finishing: it kept repeating the same call",
    "error": "failed: its model returned an error",
    "interrupted": "was interrupted",
    "paused": "stopped before finishing: a call of its own waited for an approval a sub-agent cannot wait for",
}


@dataclass
class SubagentOutcome:
    """What a sub-agent's run came to (the main agent's model gets :meth:`report`)."""

    text: str
    changed_files: list[str]
    stop_reason: str
    conversation_id: str
    tools: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    model_calls: int = 0
    tool_calls: int = 0
    max_turns: int | None = None

    @property
    def completed(self) -> bool:
        return self.stop_reason == "done"

    def report(self) -> str:
        """The delegate call's result: how it ended, the files it changed, its final answer."""
        ending = _ENDINGS.get(self.stop_reason, f"stopped ({self.stop_reason})").format(turns=self.max_turns)
        files = ", ".join(self.changed_files) if self.changed_files else "none"
        lines = [
            f"Sub-agent ({self.tools}) {ending} after {self.model_calls} model calls and {self.tool_calls} "
            f"tool calls (its conversation: {self.conversation_id}).",
            f"Files it changed: {files}" + (" (read them again before editing them)" if self.changed_files else ""),
            "Its answer:" if self.completed else "Its last answer (it may be incomplete):",
            self.text.strip() or "(no answer)",
        ]
        return "\n".join(lines)


@dataclass
class SubagentEvent:
    """One piece of a sub-agent's progress, for ``on_subagent``.

    ``kind``: ``start`` (``task``, ``tools``), ``text`` (a streamed chunk of its answer in
    ``text``), ``tool_start`` (``call``), ``tool`` (``call``, ``result``), ``notice`` (``text``),
    ``end`` (``outcome``). ``parent`` is the id of the delegate call that started it."""

    kind: str
    parent: str | None
    conversation_id: str
    depth: int
    task: str = ""
    tools: str = "read-only"
    text: str = ""
    call: llm.ToolCall | None = None
    result: llm.ToolResult | None = None
    outcome: SubagentOutcome | None = None


class Delegation:
    """The ``delegate`` tool of :class:`~llm_coding_agent.CodingAgent`, and what makes an agent a
    sub-agent (its depth, read-only mode). Relies on the agent's ``config``, ``policy``,
    ``profile``, ``tools``, ``coding_tools``, ``approve``, ``model``, ``root``, ``db``, ``usage``
    and ``planning``."""

    #: 0 for the main agent, 1 for a sub-agent it started.
    subagent_depth: int = 0
    #: A read-only sub-agent: every call that could change something is refused (as in plan mode).
    subagent_read_only: bool = False

    #: The sub-agent running now (while a delegate call runs), else None: a user interface asked
    #: to approve a call while it is set is asked about the sub-agent's call.
    active_subagent = None

    def _init_delegation(self, on_subagent: Callable[[SubagentEvent], None] | None, extra_tools: list) -> None:
        """Once the tools are assembled: the delegate tool, offered as the profile and
        ``disabled_tools`` say."""
        #: Receives the progress of the sub-agents this agent starts (:class:`SubagentEvent`).
        self.on_subagent = on_subagent
        self._extra_tools = list(extra_tools)
        self._delegating_for = None  # the AgentResult of the batch running now (its usage grows)
        # The call itself changes nothing and never asks: a sub-agent's own calls ask.
        self.policy.read_only_tools.add(DELEGATE_TOOL)
        self._delegate_tool = llm.Tool(
            name=DELEGATE_TOOL, description=_DESCRIPTION, input_schema=_SCHEMA, implementation=self._delegate_call,
        )
        self.offer_delegate()

    def offer_delegate(self) -> None:
        """Offer the delegate tool or withdraw it, as the profile, the depth and
        ``disabled_tools`` say (again after a model switch changed the profile)."""
        disabled = {short_tool_name(name) for name in self.config.disabled_tools}
        wanted = self.profile.offers_delegate and self.subagent_depth < MAX_DEPTH and DELEGATE_TOOL not in disabled
        offered = self._delegate_tool in self.tools
        if wanted and not offered:
            self.tools.append(self._delegate_tool)
        elif offered and not wanted:
            self.tools.remove(self._delegate_tool)

    @property
    def current_review(self):
        """The reviewer's verdict on the change being asked about (agent/reviewer.py): the running
        sub-agent's while it asks, so the approval prompt shows the comment that belongs to it."""
        sub = self.active_subagent
        return sub.current_review if sub is not None else self.__dict__.get("_own_review")

    @current_review.setter
    def current_review(self, review) -> None:
        self.__dict__["_own_review"] = review

    # -- read-only sub-agents ---------------------------------------------------------------------

    def _changes_refused(self) -> bool:
        return super()._changes_refused() or self.subagent_read_only  # type: ignore[misc]

    def planning_refusal(self, tool: llm.Tool, call: llm.ToolCall) -> str | None:
        """Plan mode's refusal, and a read-only sub-agent's (the same rule)."""
        refusal = super().planning_refusal(tool, call)  # type: ignore[misc]
        if refusal is not None or not self.subagent_read_only:
            return refusal
        reason = self.read_only_reason(tool, call, "in a read-only sub-agent")  # type: ignore[attr-defined]
        if reason is None:
            return None
        return (
            f"Error: this sub-agent is read-only: {reason}. Do not try to change files; say in your final "
            "answer what should change and where, and the agent that started you will do it."
        )

    def execute_all(self, calls, result, preapproved=None, repeats=None):
        self._delegating_for = result
        try:
            return super().execute_all(calls, result, preapproved, repeats)  # type: ignore[misc]
        finally:
            self._delegating_for = None

    # -- delegating -------------------------------------------------------------------------------

    def _delegate_call(self, task: str, tools: str = "read-only", llm_tool_call=None) -> str:
        """The tool's implementation (llm's executor passes the call, whose id tags the events)."""
        parent = getattr(llm_tool_call, "tool_call_id", None)
        try:
            return self.delegate(task, tools, parent_call_id=parent).report()
        except ToolError as ex:
            return f"Error: {ex}"

    def delegate(self, task: str, tools: str = "read-only", parent_call_id: str | None = None) -> SubagentOutcome:
        """Run ``task`` in a sub-agent and return how it went (what the delegate tool does; Python
        callers may call it directly). Raises ToolError for a task that cannot be delegated and
        KeyboardInterrupt when Ctrl-C stopped the sub-agent; a model error ends it with
        ``stop_reason`` "error" (the files it changed before that are still listed)."""
        if not isinstance(task, str) or not task.strip():
            raise ToolError("task must describe, in words, what the sub-agent should do")
        if tools not in TOOL_CHOICES:
            raise ToolError(f'tools must be "read-only" or "all", not {tools!r}')
        if self.subagent_depth >= MAX_DEPTH:
            raise ToolError("a sub-agent cannot delegate further: do the task yourself")
        if tools == "all" and self.planning:  # type: ignore[attr-defined]
            raise ToolError('plan mode is on: only a read-only sub-agent (tools="read-only") may run until the user approves a plan')
        sub = self._make_subagent(tools)
        changes = _ChangeTracker(sub, track_commands=tools == "all")
        emit = self._emitter(sub, parent_call_id, task, tools, changes)
        link = {
            "conversation_id": sub.conversation_id, "parent_conversation_id": self.conversation_id,  # type: ignore[attr-defined]
            "parent_tool_call_id": parent_call_id, "depth": sub.subagent_depth, "task": task, "tools": tools,
            "datetime_utc": datetime.now(timezone.utc).isoformat(),
        }
        self._record_link(link)
        emit("start")
        self.active_subagent = sub
        try:
            result = sub.run(task)
        except (ModelError, AgentStateError) as ex:
            result = AgentResult(text=f"Error: {ex}", stop_reason="error", model_calls=len(sub.conversation.responses))
        except KeyboardInterrupt:  # outside a response or a tool (those end the run themselves)
            result = AgentResult(interrupted=True, stop_reason="interrupted", model_calls=len(sub.conversation.responses))
        finally:
            self.active_subagent = None
            self.reviews += sub.reviews  # type: ignore[attr-defined]
            self.usage += sub.usage  # type: ignore[attr-defined]
            if self._delegating_for is not None:
                self._delegating_for.usage += sub.usage
        outcome = SubagentOutcome(
            text=result.text, changed_files=changes.changed(), stop_reason=result.stop_reason,
            conversation_id=sub.conversation_id, tools=tools, usage=sub.usage,
            model_calls=result.model_calls, tool_calls=changes.calls, max_turns=sub.config.max_turns,
        )
        self._record_link({
            **link, "stop_reason": outcome.stop_reason, "changed_files": "\n".join(outcome.changed_files),
            "input_tokens": outcome.usage.input, "output_tokens": outcome.usage.output,
        })
        emit("end", outcome=outcome)
        if result.interrupted:
            raise KeyboardInterrupt
        return outcome

    def _make_subagent(self, tools: str):
        """A fresh CodingAgent for one delegated task, sharing this agent's policy and approver."""
        from .loop import CodingAgent  # loop.py builds CodingAgent from this mixin

        c = self.config
        note = SUBAGENT_NOTE + ("\n" + READ_ONLY_NOTE if tools == "read-only" else "")
        budgets = [b for b in (c.delegate_max_tokens, self._tokens_left()) if b is not None]
        config = dataclasses.replace(
            c, root=str(self.root), plan=False, undo=False, nudge_unapplied=False,  # type: ignore[attr-defined]
            max_turns=c.delegate_max_turns, max_tokens=min(budgets) if budgets else None,
            system=(c.system + "\n\n" if c.system else "") + note,
            disabled_tools=[*c.disabled_tools, DELEGATE_TOOL],
            # The parent's MCP tools come with its extra tools, served by its running servers:
            # a sub-agent starts none of its own.
            mcp_servers=False, mcp_config=[],
        )
        sub = CodingAgent(
            self.model, approve=self._subagent_approver(), config=config, tools=self._extra_tools,  # type: ignore[attr-defined]
            options=self.options, db=self.db, allow_unsandboxed=self._subagent_unsandboxed(),  # type: ignore[attr-defined]
        )
        sub.policy = self.policy  # type: ignore[attr-defined]
        sub.subagent_depth = self.subagent_depth + 1
        sub.subagent_read_only = tools == "read-only"
        sub.planning = False  # applies the read-only mode to the toolbox (and its sandbox)
        sub.offer_delegate()
        return sub

    def _tokens_left(self) -> int | None:
        budget = self.config.max_tokens  # type: ignore[attr-defined]
        if not budget:
            return None
        used = (self.usage.input or 0) + (self.usage.output or 0)  # type: ignore[attr-defined]
        return max(1, budget - used)

    def _subagent_approver(self):
        """The approver of the sub-agent's calls: this agent's, except that pausing
        (``approve=None``) cannot reach into a tool call, so those calls are declined."""
        if self.approve is not None:  # type: ignore[attr-defined]
            return self.approve  # type: ignore[attr-defined]

        def cannot_pause(tool, call):
            raise Unanswered(
                "nobody can approve a sub-agent's call here (this session approves by pausing, and a "
                "sub-agent cannot pause); describe the change in your answer instead"
            )

        return cannot_pause

    def _subagent_unsandboxed(self):
        """Whether the sub-agent may run commands unsandboxed: what the user answered this agent,
        once asked; until then, whatever this agent was given."""
        if self._sandbox_asked:  # type: ignore[attr-defined]
            return self.coding_tools._unsandboxed_ok  # type: ignore[attr-defined]
        return self.allow_unsandboxed  # type: ignore[attr-defined]

    def _emitter(self, sub, parent_call_id, task, tools, changes):
        """Wire the sub-agent's callbacks to ``on_subagent``; returns the function that emits."""

        def emit(kind: str, **fields: Any) -> None:
            if self.on_subagent is not None:
                self.on_subagent(SubagentEvent(
                    kind, parent_call_id, sub.conversation_id, sub.subagent_depth, task, tools, **fields
                ))

        def tool_start(call):
            changes.before_call(call)
            emit("tool_start", call=call)

        def tool_done(call, result):
            changes.after_call(call, result)
            emit("tool", call=call, result=result)

        sub.on_text = lambda chunk: emit("text", text=chunk)
        sub.on_tool_start = tool_start
        sub.on_tool = tool_done
        sub.on_notice = lambda message: emit("notice", text=message)
        return emit

    def _record_link(self, row: dict) -> None:
        if self.db is None:  # type: ignore[attr-defined]
            return
        try:
            self.db[SUBAGENTS_TABLE].upsert(row, pk="conversation_id", alter=True)  # type: ignore[attr-defined]
        except sqlite3.Error as ex:
            self._notice(f"the sub-agent's link to this conversation could not be logged: {ex}")  # type: ignore[attr-defined]


class _ChangeTracker:
    """The files a sub-agent changed: those its file tools wrote, and (``track_commands``) those
    that differ after its commands from before the first one (size and modification time of the
    project's files, as ``list_files`` sees them: ``.gitignore`` and hidden directories apart)."""

    def __init__(self, agent, track_commands: bool):
        self._agent = agent
        self._track_commands = track_commands
        self._written: set[str] = set()
        #: The calls that have a result (run, refused or declined), as ``AgentResult.tool_calls`` counts them.
        self.calls = 0
        self._before: dict[str, tuple[int, int]] | None = None

    def before_call(self, call: llm.ToolCall) -> None:
        if self._track_commands and self._before is None and short_tool_name(str(call.name)) == "execute_command":
            self._before = self._fingerprint()

    def after_call(self, call: llm.ToolCall, result: llm.ToolResult) -> None:
        self.calls += 1
        name = self._agent._resolve_tool_name(call.name) or ""
        if not name.startswith(CODING_TOOL_PREFIX) or short_tool_name(name) not in FILE_CHANGING_TOOLS:
            return
        if (result.output or "").startswith(("Error:", "Cancelled:")):
            return
        path = call.arguments.get("path") if isinstance(call.arguments, dict) else None
        try:
            self._written.add(self._agent.coding_tools._resolve(path)[1])
        except (ToolError, TypeError, ValueError):
            pass

    def changed(self) -> list[str]:
        found = set(self._written)
        if self._before is not None:
            after = self._fingerprint()
            found |= {p for p in self._before.keys() | after.keys() if self._before.get(p) != after.get(p)}
        return sorted(found)

    def _fingerprint(self) -> dict[str, tuple[int, int]]:
        root = Path(self._agent.root)
        try:
            listing = list_files(root, root, "**/*", limit=_FINGERPRINT_LIMIT)
        except ToolError:
            return {}
        prints = {}
        for line in listing.splitlines():
            if not line or line.startswith(("[", "No files")):
                continue
            try:
                st = (root / line).stat()
            except OSError:
                continue
            prints[line] = (st.st_mtime_ns, st.st_size)
        return prints


def subagent_conversations(db: Any) -> set[str]:
    """The ids of the sub-agents' conversations in ``db`` (none when no sub-agent ever ran)."""
    if db is None:
        return set()
    try:
        if SUBAGENTS_TABLE not in db.table_names():
            return set()
        return {row[0] for row in db.execute(f"select conversation_id from {SUBAGENTS_TABLE}").fetchall()}
    except sqlite3.Error:
        return set()


def latest_main_conversation(db: Any = None) -> str | None:
    """The most recent logged conversation that is not a sub-agent's, for continuing "the latest"
    (``llm code -c``): llm's own choice, the newest id, would be a sub-agent's conversation after
    any delegating turn, its id being newer than its parent's. None: llm's choice stands (no
    sub-agent ever ran, or no logs)."""
    import sqlite_utils
    from llm.cli import logs_db_path

    from .logstore import db_path

    if db is None or isinstance(db, (str, os.PathLike)):
        path = Path(db_path(db) or logs_db_path())
        if not path.exists():
            return None
        db = sqlite_utils.Database(path)
    try:
        if SUBAGENTS_TABLE not in db.table_names():
            return None
        sources = " union ".join(f"select id from {t}" for t in ("threads", "conversations") if t in db.table_names())
        row = db.execute(
            f"select id from ({sources}) where id not in (select conversation_id from {SUBAGENTS_TABLE}) "
            "order by id desc limit 1"
        ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None
