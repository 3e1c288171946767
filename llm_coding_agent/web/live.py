"""Sessions the web page runs: one :class:`LiveSession` per conversation, each with its own worker
thread while the agent works, and an append-only list of events the page replays and streams.

Everything goes through the public :class:`~llm_coding_agent.CodingAgent` API. The agent runs with
``approve=None``: a batch holding a call that needs the user's answer *pauses* the run (the
calls are in ``pending_tool_calls``, the conversation is in llm's logs), and the page's answers
``resume()`` it. Nothing waits in a thread for the user, so closing the tab loses nothing, and
after a server restart :meth:`SessionRegistry.get` rebuilds the same paused session with
``CodingAgent.load()``: the pending calls come back from the logs.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable

import llm

from ..agent import AgentStateError, CodingAgent, ModelError
from ..agent.loop import logged_root
from ..cli.messages import request_text
from ..cli.messages import stop_message
from ..config import AgentConfig
from ..errors import CodingAgentError
from ..safety.settings import SettingsError, load_settings
from ..tools import short_tool_name
from .diffhtml import diff_html, extract_diff

__all__ = ["LiveSession", "SessionRegistry", "WebError", "open_logs"]

#: Characters of a tool's output the page shows (the model got all of it).
MAX_OUTPUT_CHARS = 4000
_ANSWERS = ("approve", "always", "decline")


class WebError(CodingAgentError):
    """A request the page cannot carry out; the message says why (shown to the user)."""


def open_logs(path: str | Path):
    """llm's logs database, usable from the worker threads (each agent gets its own connection)."""
    import sqlite_utils
    from llm.migrations import migrate

    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False, timeout=30))
    migrate(db)
    return db


def call_line(name: str, arguments: Any) -> str:
    """``edit_file app.py``, ``execute_command $ pytest -q``: a call in a few words."""
    short = short_tool_name(str(name))
    arguments = arguments if isinstance(arguments, dict) else {}
    if "command" in arguments:
        return f"{short} $ {arguments['command']}"
    subject = arguments.get("path") or arguments.get("pattern") or arguments.get("query") or ""
    return f"{short} {subject}".strip()


def _output_event(call_id: str | None, name: str, arguments: Any, output: str) -> dict:
    diff = extract_diff(output) if short_tool_name(name) in ("write_file", "edit_file") else None
    failed = output.startswith(("Error:", "Cancelled:"))
    return {
        "kind": "tool", "id": call_id, "line": call_line(name, arguments), "ok": not failed,
        "summary": output.split("\n", 1)[0][:300], "output": output[:MAX_OUTPUT_CHARS],
        "diff_html": diff_html(diff) if diff and not failed else None,
    }


class LiveSession:
    """One conversation as the page sees it: the agent, its events, and whether it is running,
    waiting for answers, or idle."""

    def __init__(self, notices: list[str] | None = None):
        self.agent: CodingAgent | None = None  # set by the registry once the callbacks exist
        self.events: list[dict] = []
        self.state = "idle"
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        #: The user's answers to pending calls so far: id -> (approved, reason).
        self.answers: dict[str, tuple[bool, str]] = {}
        self.thread: threading.Thread | None = None
        for notice in notices or []:
            self.emit("notice", text=notice)

    # -- the agent's callbacks --------------------------------------------------------------------

    def callbacks(self) -> dict[str, Callable]:
        return dict(
            on_text=lambda chunk: self.emit("text", text=chunk),
            on_tool_start=lambda call: self.emit("tool_start", id=call.tool_call_id, line=call_line(call.name, call.arguments)),
            on_tool=lambda call, result: self.emit_event(
                _output_event(call.tool_call_id, call.name, call.arguments, result.output or "")
            ),
            on_notice=lambda message: self.emit("notice", text=message),
            on_todos=lambda todos: self.emit("todos", items=todos.as_dicts()),
        )

    def emit(self, kind: str, **data: Any) -> None:
        self.emit_event({"kind": kind, **data})

    def emit_event(self, event: dict) -> None:
        with self.changed:
            event["n"] = len(self.events) + 1
            self.events.append(event)
            self.changed.notify_all()

    def events_after(self, n: int) -> list[dict]:
        with self.lock:
            return self.events[max(n, 0):]

    # -- what the page shows ----------------------------------------------------------------------

    @property
    def conversation_id(self) -> str:
        return self.agent.conversation_id

    def summary(self) -> dict:
        agent = self.agent
        first = next((e["text"] for e in self.events if e["kind"] == "request"), "")
        return {
            "id": agent.conversation_id, "root": str(agent.root), "model": agent.model.model_id,
            "state": self.state, "first_request": first, "planning": agent.planning,
            "pending": len(agent.pending_tool_calls),
        }

    def replay_history(self) -> None:
        """Events for a conversation loaded from the logs: its requests, answers and tool calls."""
        from llm.parts import TextPart, ToolCallPart, ToolResultPart

        calls: dict[str, tuple[str, Any]] = {}
        for message in self.agent.history():
            role = getattr(message, "role", "")
            for part in getattr(message, "parts", []) or []:
                if isinstance(part, TextPart) and role == "user":
                    words = request_text(part.text or "").strip()
                    if words:
                        self.emit("request", text=words)
                elif isinstance(part, TextPart) and role == "assistant" and part.text:
                    self.emit("text", text=part.text)
                elif isinstance(part, ToolCallPart):
                    calls[part.tool_call_id or ""] = (part.name or "", part.arguments)
                elif isinstance(part, ToolResultPart):
                    name, arguments = calls.get(part.tool_call_id or "", (part.name or "", {}))
                    self.emit_event(_output_event(part.tool_call_id, name, arguments, part.output or ""))
        if self.agent.todos.as_dicts():
            self.emit("todos", items=self.agent.todos.as_dicts())
        if self.agent.paused:
            self._set_waiting()
        self.emit("state", state=self.state)

    def pending_event(self) -> dict:
        """The calls waiting for the user, each with its diff or command and the rules' verdict."""
        agent = self.agent
        calls = []
        for call in agent.pending_tool_calls:
            preview = agent.preview_call(call)
            if not preview.needs_answer:
                continue
            diff = extract_diff(preview.preview) if preview.is_file_change else None
            answered = self.answers.get(call.tool_call_id or "")
            calls.append({
                "id": call.tool_call_id, "title": preview.title, "tool": preview.tool_name,
                "reason": preview.decision.reason, "destructive": preview.decision.destructive,
                "always": preview.always, "preview": preview.preview,
                "diff_html": diff_html(diff) if diff else None,
                "answered": None if answered is None else ("approve" if answered[0] else "decline"),
            })
        plan = agent.pending_plan
        return {"kind": "pending", "calls": calls,
                "plan": None if plan is None else {"steps": plan.steps, "questions": plan.questions}}

    def _set_waiting(self) -> None:
        self.state = "waiting"
        self.emit_event(self.pending_event())

    # -- running the agent ------------------------------------------------------------------------

    def _start(self, work: Callable[[], Any], *, allowed: tuple[str, ...] = ("idle",)) -> None:
        """Run ``work`` (a call of the agent's API) in this session's worker thread."""
        with self.lock:
            if self.state not in allowed:
                raise WebError(f"the session is {self.state}; wait for it to finish")
            self.state = "running"
            self.emit("state", state="running")
            self.thread = threading.Thread(target=self._work, args=(work,), daemon=True,
                                           name=f"llm-code-web {self.conversation_id}")
            self.thread.start()

    def _work(self, work: Callable[[], Any]) -> None:
        result = None
        try:
            result = work()
        except (ModelError, AgentStateError, CodingAgentError) as ex:
            self.emit("error", text=str(ex))
        except Exception as ex:  # the page must hear of it; the thread must not die silently
            self.emit("error", text=f"internal error: {type(ex).__name__}: {ex}")
        with self.lock:
            stop = getattr(result, "stop_reason", None)
            if stop not in (None, "done", "paused"):
                config = self.agent.config
                self.emit("notice", text=stop_message(
                    stop, chain_limit=config.chain_limit, max_turns=config.max_turns,
                    max_tokens=config.max_tokens, headless=False,
                ))
            if self.agent.paused:
                self._set_waiting()
            else:
                self.state = "idle"
            usage = self.agent.usage
            self.emit("state", state=self.state, stop_reason=stop, tokens=[usage.input, usage.output])

    def send(self, text: str) -> None:
        """A request: a new task, or the next message of the conversation."""
        if not text.strip():
            raise WebError("the request is empty")
        self.emit("request", text=text.strip())
        self._start(lambda: self.agent.run(text))

    def answer(self, call_id: str, answer: str, reason: str = "") -> None:
        """The user's answer to one pending call; once every call that needs one has its answer,
        the run resumes with them (approved ids, and the reasons of the declined ones)."""
        if answer not in _ANSWERS:
            raise WebError(f"unknown answer {answer!r}: approve, always or decline")
        with self.lock:
            if self.state != "waiting":
                raise WebError("no tool call is waiting for an answer")
            pending = {c.tool_call_id: c for c in self.agent.pending_tool_calls}
            call = pending.get(call_id)
            if call is None:
                raise WebError("that tool call is not waiting for an answer")
            if answer == "always":
                allowed = self.agent.allow_always(call)
                if allowed:
                    self.emit("notice", text=f"allowed {allowed}")
            self.answers[call_id] = (answer != "decline", reason.strip())
            self.emit("answered", id=call_id, answer=answer, reason=reason.strip())
            waiting = [
                c for c in pending.values()
                if c.tool_call_id not in self.answers and self.agent.preview_call(c).needs_answer
            ]
            if waiting:
                return
            approved = {i for i in pending if self.answers.get(i, (True, ""))[0]}
            reasons = {i: r for i, (ok, r) in self.answers.items() if not ok and r}
            self.answers = {}
            self._start(lambda: self.agent.resume(approve=approved, reasons=reasons), allowed=("waiting",))

    def answer_plan(self, answer: str, text: str = "") -> None:
        """Approve the pending plan, send it back with feedback (``revise``), or reject it."""
        agent = self.agent
        with self.lock:
            if self.state != "waiting" or agent.pending_plan is None:
                raise WebError("no plan is waiting for an answer")
            if answer == "approve":
                work = agent.approve_plan
            elif answer == "revise":
                if not text.strip():
                    raise WebError("say what to change in the plan")
                work = lambda: agent.revise_plan(text)  # noqa: E731
            elif answer == "reject":
                work = agent.reject_plan
            else:
                raise WebError(f"unknown answer {answer!r}: approve, revise or reject")
            self.emit("answered", id="plan", answer=answer, reason=text.strip())
            self._start(work, allowed=("waiting",))

    def undo(self) -> str:
        """``!undo``: the project back as it was before the last turn."""
        with self.lock:
            if self.state != "idle":
                raise WebError(f"the session is {self.state}; undo works between turns")
            try:
                outcome = self.agent.undo()
            except (AgentStateError, CodingAgentError) as ex:
                raise WebError(f"cannot undo: {ex}") from None
            summary = outcome.summary()
            self.emit("notice", text=summary)
            return summary


class SessionRegistry:
    """The sessions of this server: started here, or loaded from llm's logs when first opened.

    ``defaults``: the options ``llm code web`` was given (model, sandbox), over the settings files.
    Trust is as in headless runs: a project settings file counts only once trusted in ``llm code``
    (which asks); an untrusted one adds only its restrictions, and the page says what is inactive.
    """

    def __init__(self, logs_path: str | Path, defaults: dict | None = None):
        self.logs_path = Path(logs_path)
        self.defaults = dict(defaults or {})
        self.sessions: dict[str, LiveSession] = {}
        self.lock = threading.Lock()
        self.loading = threading.Lock()

    def _arguments(self, root: str, model: str | None) -> tuple[dict, list[str]]:
        try:
            settings = load_settings(Path(root), trust=None)
        except SettingsError as ex:
            raise WebError(str(ex)) from None
        layer = dict(self.defaults)
        if model:
            layer["model"] = model
        config = AgentConfig().layered(settings.config_layer(), layer)
        notices = []
        if settings.untrusted_project_file is not None and settings.project_pending:
            notices.append(
                f"{settings.untrusted_project_file} has settings ({', '.join(settings.project_pending)}) that are "
                "inactive: the page does not trust project files; trust it once in `llm code` in that directory"
            )
        return {**config.agent_arguments(), "root": root}, notices

    def _build(self, make: Callable[[dict], CodingAgent], root: str, model: str | None) -> LiveSession:
        kwargs, notices = self._arguments(root, model)
        session = LiveSession(notices)
        try:
            session.agent = make(dict(
                kwargs, approve=None, db=open_logs(self.logs_path), allow_unsandboxed=False, **session.callbacks()
            ))
        except (AgentStateError, ModelError, ValueError, TypeError) as ex:
            raise WebError(str(ex)) from None
        if not getattr(session.agent.model, "supports_tools", False):
            raise WebError(f"model {session.agent.model.model_id} does not support tools")
        session.agent.notice_stops = False  # the stop message is emitted once, with how to go on
        with self.lock:
            self.sessions[session.conversation_id] = session
        return session

    def start(self, root: str, prompt: str, model: str | None = None, plan: bool = False) -> LiveSession:
        """A new session in ``root``, working on ``prompt`` in its thread."""
        path = Path(root).expanduser()
        if not path.is_dir():
            raise WebError(f"directory does not exist: {root}")
        if not prompt.strip():
            raise WebError("the task is empty")

        def make(kwargs: dict) -> CodingAgent:
            return CodingAgent(**{**kwargs, "plan": plan})

        session = self._build(make, str(path.resolve()), model)
        session.send(prompt)
        return session

    def get(self, conversation_id: str) -> LiveSession:
        """The session, loaded from the logs (paused calls included) if this server has not seen it."""
        with self.lock:
            found = self.sessions.get(conversation_id)
        if found is not None:
            return found
        with self.loading:  # the page and its event stream may ask at once: load it once
            with self.lock:
                found = self.sessions.get(conversation_id)
            if found is not None:
                return found
            db = open_logs(self.logs_path)
            try:
                root = logged_root(conversation_id, db)
            finally:
                db.conn.close()
            if root is None:
                raise WebError("no llm code session with that id whose project directory still exists")

            def make(kwargs: dict) -> CodingAgent:
                kwargs.pop("model", None)  # the model the conversation was logged with
                return CodingAgent.load(conversation_id, **kwargs)

            session = self._build(make, root, None)
            session.replay_history()
            return session

    def live(self) -> list[LiveSession]:
        with self.lock:
            return list(self.sessions.values())


def model_choices() -> list[str]:
    """Ids of the models that can use tools, for the start form."""
    try:
        return [m.model_id for m in llm.get_models() if getattr(m, "supports_tools", False)]
    except Exception:  # a broken plugin must not break the page
        return []
