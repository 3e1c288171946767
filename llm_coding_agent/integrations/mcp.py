"""MCP servers as tools: start them, offer their tools to the model, stop them.

The agent's loop is synchronous and the ``mcp`` SDK (2.x) is asyncio, so :class:`McpServers`
runs one event loop on a background thread per session. Each server has a task there that
holds its ``mcp.Client`` open until the session closes (the SDK's transports must be entered and
left by the same task); tool calls are submitted to that loop with ``run_coroutine_threadsafe``
and waited for with a timeout.

Tools are offered as ``mcp__<server>__<tool>`` (:func:`mcp_tool_name`), with the server's
description and JSON schema. What can go wrong is reported in one line each and never ends the
session: a server that cannot start (missing program, bad URL, a crash) or does not finish
starting within its start-up timeout is left out; a server that dies mid-session has its tools
withdrawn (``on_withdraw``), and a call to it gets an ``Error: ...`` result. Closing stops every
server (the SDK ends a stdio server's whole process tree), so no process outlives the session.

Which servers there are, and which of them may start, is :mod:`.mcp_config`'s business.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import re
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import llm

from ..errors import ToolError
from .mcp_config import McpServerSpec

__all__ = ["McpServers", "McpToolError", "mcp_tool_name", "cap_output", "MCP_TOOL_PREFIX", "MAX_RESULT_CHARS"]

#: Every MCP tool's name starts with this (Claude Code's naming, which rules also use).
MCP_TOOL_PREFIX = "mcp__"
#: Characters of one tool result kept for the model (half from the start, half from the end),
#: as ``execute_command`` keeps 30,000 bytes of a command's output.
MAX_RESULT_CHARS = 30_000
#: Seconds ``close()`` waits for the servers to stop (the SDK's own waits are bounded too).
STOP_WAIT = 10.0
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]")
#: Tool names that model APIs accept are at most this long.
_MAX_NAME = 64


class McpToolError(ToolError):
    """A call to an MCP tool that did not produce a result (server gone, timeout, its own error)."""


def mcp_tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, with characters model APIs refuse in names replaced by ``_``."""
    name = f"{MCP_TOOL_PREFIX}{_UNSAFE_NAME.sub('_', server)}__{_UNSAFE_NAME.sub('_', tool)}"
    return name[:_MAX_NAME]


def cap_output(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, keeping its start and end and saying how much
    was left out."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 2], text[len(text) - (limit - limit // 2):]
    omitted = len(text) - len(head) - len(tail)
    return f"{head}\n[... output truncated: {omitted} characters omitted ...]\n{tail}"


@dataclass
class ServerState:
    """One server: its configuration, whether it runs, and its tools."""

    spec: McpServerSpec
    #: ``starting``, ``running``, ``failed`` (never started), ``exited`` (died mid-session),
    #: ``stopped`` (closed with the session).
    status: str = "starting"
    #: Why it failed or exited, in a few words.
    problem: str = ""
    #: The tools offered to the model.
    tools: list[llm.Tool] = field(default_factory=list)
    #: The server's own tool name for each offered name.
    names: dict[str, str] = field(default_factory=dict)
    client: Any = None
    stop: asyncio.Event | None = None
    holder: concurrent.futures.Future | None = None
    ready: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    #: Set once the server's task has ended, its process stopped (cancelling a task returns at
    #: once; this is what says the cleanup is done).
    finished: threading.Event = field(default_factory=threading.Event)
    stderr: Any = None

    def summary(self) -> str:
        """``dt: running, 2 tools`` / ``dt: failed: ...``, for status lines."""
        if self.status == "running":
            return f"{self.spec.name}: running, {len(self.tools)} tool{'s' if len(self.tools) != 1 else ''}"
        return f"{self.spec.name}: {self.status}" + (f" ({self.problem})" if self.problem else "")


class McpServers:
    """The MCP servers of one session (see the module docstring). Use as a context manager, or
    call :meth:`close`.

    ``on_notice(line)`` hears what went wrong (and which servers started); ``on_withdraw(names)``
    is told the tool names of a server that died, so they leave later requests.
    """

    def __init__(
        self,
        specs: Iterable[McpServerSpec],
        *,
        startup_timeout: float = 10.0,
        tool_timeout: float = 60.0,
        on_notice: Callable[[str], None] | None = None,
        on_withdraw: Callable[[list[str]], None] | None = None,
    ):
        self.servers = [ServerState(spec) for spec in specs]
        self.startup_timeout = startup_timeout
        self.tool_timeout = tool_timeout
        self.on_notice = on_notice
        self.on_withdraw = on_withdraw
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- starting -------------------------------------------------------------------------------

    def start(self) -> "McpServers":
        """Start every server at once and wait until each is ready or out of time."""
        if not self.servers or self._loop is not None:
            return self
        # The SDK logs what it cannot parse with tracebacks; the user gets our one-line reports
        # instead (an application that configured logging still receives them).
        sdk_log = logging.getLogger("mcp")
        if not any(isinstance(h, logging.NullHandler) for h in sdk_log.handlers):
            sdk_log.addHandler(logging.NullHandler())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mcp-servers", daemon=True)
        self._thread.start()
        # A safety net for a process that ends without close(): no server may outlive it.
        atexit.register(_close_if_alive, weakref.ref(self))
        for server in self.servers:
            server.holder = asyncio.run_coroutine_threadsafe(self._hold(server), self._loop)
        taken: set[str] = set()
        began = time.monotonic()
        for server in self.servers:
            timeout = server.spec.startup_timeout or self.startup_timeout
            try:
                listed = server.ready.result(timeout=max(0.0, began + timeout - time.monotonic()))
            except concurrent.futures.TimeoutError:
                self._fail(server, f"did not finish starting within {timeout:g} s")
                self._stop_server(server, wait=0)  # its process is stopped in the background; close() waits
            except BaseException as ex:
                if not isinstance(ex, (Exception, asyncio.CancelledError)):
                    raise
                self._fail(server, _describe_start_error(ex, server))
                self._stop_server(server)
            else:
                self._adopt(server, listed, taken)
        running = [s for s in self.servers if s.status == "running"]
        if running:
            self._notice("MCP: " + ", ".join(s.summary().replace(": running", "") for s in running))
        return self

    async def _hold(self, server: ServerState) -> None:
        """Connect, list the tools, then keep the connection open until told to stop."""
        from mcp import Client

        server.stop = asyncio.Event()
        try:
            async with _transport(server) as transport:
                async with Client(transport, client_info=_client_info()) as client:
                    server.client = client
                    listed = await _list_tools(client)
                    if not server.ready.done():
                        server.ready.set_result(listed)
                    await server.stop.wait()
        except BaseException as ex:
            if not server.ready.done():
                server.ready.set_exception(ex)
            if not isinstance(ex, (Exception, asyncio.CancelledError)):
                raise
        finally:
            server.client = None
            server.finished.set()

    def _fail(self, server: ServerState, problem: str) -> None:
        server.status, server.problem = "failed", problem
        self._notice(f"MCP server {server.spec.name} failed to start: {problem}; its tools are not available")

    # -- tools ----------------------------------------------------------------------------------

    def tools(self) -> list[llm.Tool]:
        """The tools of the running servers, as ``llm.Tool`` objects."""
        return [tool for server in self.servers if server.status == "running" for tool in server.tools]

    def _adopt(self, server: ServerState, listed: list[Any], taken: set[str]) -> None:
        server.status = "running"
        for tool in listed:
            name = mcp_tool_name(server.spec.name, tool.name)
            if name in taken:
                self._notice(f"MCP server {server.spec.name}: tool {tool.name} is left out (its name clashes)")
                continue
            taken.add(name)
            server.names[name] = tool.name
            schema = dict(tool.input_schema or {"type": "object", "properties": {}})
            server.tools.append(llm.Tool(
                name=name,
                description=tool.description or f"{tool.name} (from the MCP server {server.spec.name})",
                input_schema=schema,
                implementation=self._implementation(server, name),
            ))

    def _implementation(self, server: ServerState, name: str) -> Callable[..., str]:
        def call(**arguments: Any) -> str:
            return self.call(server, name, arguments)

        call.__name__ = name
        return call

    def call(self, server: ServerState, name: str, arguments: dict) -> str:
        """Run one tool call on ``server``: its result as text, or :class:`McpToolError`."""
        if server.status != "running" or server.client is None or self._loop is None:
            raise McpToolError(
                f"the MCP server {server.spec.name} is not running ({server.problem or server.status}); "
                "its tools are no longer available. Do not call them again; carry on without them."
            )
        timeout = server.spec.tool_timeout or self.tool_timeout
        pending = asyncio.run_coroutine_threadsafe(server.client.call_tool(server.names[name], arguments), self._loop)
        try:
            result = pending.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            pending.cancel()
            raise McpToolError(
                f"{name} did not answer within {timeout:g} s (the call was cancelled). Try something smaller, "
                "or carry on without it."
            ) from None
        except BaseException as ex:
            pending.cancel()
            if isinstance(ex, Exception) and not _server_gone(ex):
                raise McpToolError(f"{name} failed: {ex}") from None
            if isinstance(ex, Exception):
                self._exited(server, str(ex) or type(ex).__name__)
                raise McpToolError(
                    f"the MCP server {server.spec.name} stopped during this call ({server.problem}); its tools "
                    "are withdrawn. Do not call them again; carry on without them."
                ) from None
            raise
        text = result_text(result)
        if result.is_error:
            raise McpToolError(cap_output(text or "the tool reported an error without a message"))
        return cap_output(text)

    def _exited(self, server: ServerState, problem: str) -> None:
        if server.status != "running":
            return
        server.status, server.problem = "exited", problem
        names = [t.name for t in server.tools]
        self._notice(f"MCP server {server.spec.name} stopped ({problem}); its tools are withdrawn")
        if self.on_withdraw:
            self.on_withdraw(names)
        self._stop_server(server)

    # -- status and closing -----------------------------------------------------------------------

    def statuses(self) -> list[ServerState]:
        return list(self.servers)

    def _stop_server(self, server: ServerState, wait: float = STOP_WAIT) -> None:
        """Stop one server's task (which stops its process) and wait for it, within ``wait`` s."""
        loop, holder = self._loop, server.holder
        if loop is None or holder is None or server.finished.is_set():
            return
        if server.stop is not None and server.ready.done():
            loop.call_soon_threadsafe(server.stop.set)
        else:
            # Still starting: cancelling is the only way out of the connection. A task that never
            # began (no stop event yet) has no process to wait for.
            began = server.stop is not None
            holder.cancel()
            if not began:
                return
        if wait:
            server.finished.wait(wait)

    def close(self) -> None:
        """Stop every server and the event loop thread. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        for server in self.servers:
            self._stop_server(server)
            if server.status in ("running", "starting"):
                server.status = "stopped"
            if server.stderr is not None:
                server.stderr.close()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_WAIT)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> "McpServers":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _notice(self, line: str) -> None:
        if self.on_notice:
            self.on_notice(line)


# -- helpers ------------------------------------------------------------------------------------


def _close_if_alive(ref: "weakref.ref[McpServers]") -> None:
    servers = ref()
    if servers is not None:
        servers.close()


def _client_info():
    from mcp import Implementation

    return Implementation(name="llm-coding-agent", version="0")


class _transport:
    """The SDK transport for a server (an async context manager that yields it): stdio with the
    server's stderr kept in a temporary file (for error messages, off the user's screen), or
    streamable HTTP with the configured headers."""

    def __init__(self, server: ServerState):
        self.server = server
        self.http = None

    async def __aenter__(self):
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        spec = self.server.spec
        if spec.transport == "stdio":
            self.server.stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
            parameters = StdioServerParameters(command=spec.command, args=spec.args, env=spec.env or None, cwd=spec.cwd)
            return stdio_client(parameters, errlog=self.server.stderr)
        self.http = create_mcp_http_client(headers=spec.headers or None)
        await self.http.__aenter__()
        return streamable_http_client(spec.url, http_client=self.http)

    async def __aexit__(self, *exc_info: Any) -> None:
        if self.http is not None:
            await self.http.__aexit__(*exc_info)


async def _list_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    for _ in range(100):  # a server that pages forever cannot hang the start
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def result_text(result: Any) -> str:
    """A ``CallToolResult`` as text for the model: text blocks as they are, other blocks as a
    short note, structured content as JSON when there is nothing else."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        elif kind == "resource":
            parts.append(f"[binary resource {block.resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{kind or 'unknown'} content, {getattr(block, 'mime_type', '?')}, not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, indent=1, default=str))
    return "\n".join(parts)


def _server_gone(ex: BaseException) -> bool:
    """Whether an exception from a call means the server's connection is gone (not merely that
    the tool or the request failed)."""
    from mcp import MCPError
    from mcp_types import CONNECTION_CLOSED

    if isinstance(ex, MCPError):
        return ex.code == CONNECTION_CLOSED
    return not isinstance(ex, (ValueError, TypeError))  # transport errors: closed streams, sockets


def _last_stderr_line(server: ServerState) -> str:
    """The last line the server wrote to stderr (a traceback's last line says what went wrong)."""
    if server.stderr is None or server.stderr.closed:
        return ""
    try:
        server.stderr.seek(0)
        lines = [line.strip() for line in server.stderr.read().splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1][:200] if lines else ""


def _describe_start_error(ex: BaseException, server: ServerState) -> str:
    spec = server.spec
    if isinstance(ex, FileNotFoundError) and spec.transport == "stdio":
        return f"command not found: {spec.command}"
    if isinstance(ex, PermissionError) and spec.transport == "stdio":
        return f"cannot run {spec.command}: permission denied"
    # Task groups wrap the real error: the first one inside says what happened.
    while isinstance(ex, BaseExceptionGroup) and ex.exceptions:
        ex = ex.exceptions[0]
    said = _last_stderr_line(server)
    text = str(ex) or type(ex).__name__
    if _server_gone(ex) and text == "Connection closed":
        if said:
            return f"it exited before answering (stderr: {said})"
        text = "it exited or closed the connection before answering (is it an MCP server?)"
    if spec.transport == "http":
        return f"{spec.url}: {text}"
    return f"{text}" + (f" (stderr: {said})" if said and said not in text else "")
