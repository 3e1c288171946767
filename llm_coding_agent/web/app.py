"""The Starlette app of ``llm code web`` and the server that runs it on 127.0.0.1.

Routes (every one behind :class:`~.security.Guard`):

- ``GET /``: start a task; ``POST /start`` starts it (JSON: directory, task, model, plan).
- ``GET /session/{id}``: a session (a running one, or any logged one, loaded from llm's logs);
  ``GET /session/{id}/events``: its events as Server-Sent Events, replayed from ``Last-Event-ID``.
- ``POST /session/{id}/answer`` (a pending call: approve / always / decline with a reason),
  ``/plan`` (approve / revise / reject), ``/message`` (the next request), ``/undo``.
- ``GET /sessions``: the session browser; ``GET /stats``: the metrics as charts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from pathlib import Path
from typing import Any

import llm
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..safety.settings import SettingsError, read_user_settings
from . import pages
from .browse import logged_sessions, sessions_table, stats_html
from .live import SessionRegistry, WebError, model_choices, open_logs
from .security import Guard, new_token

__all__ = ["create_app", "WebServer"]

STATIC = Path(__file__).parent / "static"
#: Seconds between checks for new events while a stream is open.
POLL_SECONDS = 0.1
#: Seconds of quiet after which a stream sends a comment, so proxies and browsers keep it open.
KEEP_ALIVE_SECONDS = 15


def create_app(registry: SessionRegistry, *, port: int, token: str, csrf: str, directory: str) -> Guard:
    """The app for a server on 127.0.0.1:``port`` (wrapped in its :class:`Guard`)."""
    stopping = threading.Event()

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status)

    async def index(request: Request) -> Response:
        models = await run_in_threadpool(model_choices)
        default = registry.defaults.get("model") or _default_model()
        live = [s.summary() for s in registry.live()]
        return html(pages.index_page(csrf, directory, models, default, live))

    async def body_of(request: Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            raise WebError("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise WebError("the request body must be a JSON object")
        return data

    async def start(request: Request) -> Response:
        data = await body_of(request)
        session = await run_in_threadpool(
            registry.start, str(data.get("directory") or directory), str(data.get("task") or ""),
            str(data.get("model") or "") or None, bool(data.get("plan")),
        )
        return JSONResponse({"id": session.conversation_id, "url": f"/session/{session.conversation_id}"})

    async def session_page(request: Request) -> Response:
        session = await run_in_threadpool(registry.get, request.path_params["cid"])
        return html(pages.session_page(csrf, session.summary()))

    async def events(request: Request) -> Response:
        session = await run_in_threadpool(registry.get, request.path_params["cid"])
        try:
            after = int(request.headers.get("last-event-id") or request.query_params.get("after") or 0)
        except ValueError:
            after = 0

        async def stream():
            seen, quiet = after, 0.0
            yield "retry: 2000\n\n"
            while not stopping.is_set():
                batch = session.events_after(seen)
                for event in batch:
                    seen = event["n"]
                    yield f"id: {seen}\ndata: {json.dumps(event, default=str)}\n\n"
                if batch:
                    quiet = 0.0
                else:
                    quiet += POLL_SECONDS
                    if quiet >= KEEP_ALIVE_SECONDS:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                await asyncio.sleep(POLL_SECONDS)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    async def answer(request: Request) -> Response:
        data = await body_of(request)
        session = await run_in_threadpool(registry.get, request.path_params["cid"])
        await run_in_threadpool(session.answer, str(data.get("id") or ""), str(data.get("answer") or ""),
                                str(data.get("reason") or ""))
        return JSONResponse({"ok": True})

    async def plan(request: Request) -> Response:
        data = await body_of(request)
        session = await run_in_threadpool(registry.get, request.path_params["cid"])
        await run_in_threadpool(session.answer_plan, str(data.get("answer") or ""), str(data.get("feedback") or ""))
        return JSONResponse({"ok": True})

    async def message(request: Request) -> Response:
        data = await body_of(request)
        session = await run_in_threadpool(registry.get, request.path_params["cid"])
        await run_in_threadpool(session.send, str(data.get("text") or ""))
        return JSONResponse({"ok": True})

    async def undo(request: Request) -> Response:
        await body_of(request)
        session = await run_in_threadpool(registry.get, request.path_params["cid"])
        summary = await run_in_threadpool(session.undo)
        return JSONResponse({"ok": True, "summary": summary})

    def _read_logs(render) -> str:
        db = open_logs(registry.logs_path)
        try:
            return render(db)
        finally:
            db.conn.close()

    async def sessions(request: Request) -> Response:
        live = {s.conversation_id: s.state for s in registry.live()}
        table = await run_in_threadpool(_read_logs, lambda db: sessions_table(logged_sessions(db), live))
        return html(pages.sessions_page(csrf, table))

    async def stats(request: Request) -> Response:
        try:
            prices = read_user_settings().get("prices", {})
        except SettingsError as ex:
            return html(pages.error_page(csrf, str(ex)), 500)
        charts = await run_in_threadpool(_read_logs, lambda db: stats_html(db, prices))
        return html(pages.stats_page(csrf, charts))

    async def refused(request: Request, exc: WebError) -> Response:
        if request.method == "GET" and not request.url.path.endswith("/events"):
            return html(pages.error_page(csrf, str(exc)), 400)
        return JSONResponse({"error": str(exc)}, status_code=400)

    routes = [
        Route("/", index),
        Route("/start", start, methods=["POST"]),
        Route("/sessions", sessions),
        Route("/stats", stats),
        Route("/session/{cid:str}", session_page),
        Route("/session/{cid:str}/events", events),
        Route("/session/{cid:str}/answer", answer, methods=["POST"]),
        Route("/session/{cid:str}/plan", plan, methods=["POST"]),
        Route("/session/{cid:str}/message", message, methods=["POST"]),
        Route("/session/{cid:str}/undo", undo, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        stopping.set()  # open event streams end, so the server stops at once

    app = Starlette(routes=routes, exception_handlers={WebError: refused}, lifespan=lifespan)
    guard = Guard(app, port=port, token=token, csrf=csrf)
    guard.stopping = stopping  # set by WebServer.stop, so open event streams end first
    return guard


def _default_model() -> str | None:
    try:
        return llm.get_default_model()
    except Exception:
        return None


class WebServer:
    """``llm code web``'s server: uvicorn on 127.0.0.1 with a fresh token and CSRF token.

    ``port=0`` takes a free port. :meth:`serve` runs in the calling thread (the command);
    :meth:`start_in_thread` / :meth:`stop` run it beside other work (the tests).
    """

    def __init__(self, logs_path: str | Path, *, directory: str, port: int = 0, defaults: dict | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.token = new_token()
        self.csrf = new_token()
        self.registry = SessionRegistry(logs_path, defaults)
        self.app = create_app(self.registry, port=self.port, token=self.token, csrf=self.csrf, directory=directory)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address to open (it carries the token)."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def _uvicorn(self):
        import uvicorn

        config = uvicorn.Config(self.app, log_level="warning", timeout_graceful_shutdown=2, lifespan="on")
        self._server = uvicorn.Server(config)
        return self._server

    def serve(self) -> None:
        self._uvicorn().run(sockets=[self.sock])

    def start_in_thread(self) -> None:
        server = self._uvicorn()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            threading.Event().wait(0.02)

    def stop(self) -> None:
        """Stop serving (running agent threads are daemons; paused sessions are in the logs)."""
        self.app.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sock.close()
