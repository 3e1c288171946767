"""A tiny metering proxy in front of the OpenAI-compatible model server.

Every harness talks to the model through this proxy, so model calls and
input/output tokens are counted the same way for all of them (and are still
known when a harness is killed at its time limit). It forwards any request to
the upstream unchanged and streams the response back; for chat completions it
reads ``usage`` from the JSON body, or from the server-sent events of a
streamed response (falling back to llama.cpp's ``timings`` when a stream has
no usage chunk). It also counts the real tool calls in the responses (``tool_calls``
in a message or in streamed deltas), so a harness's tool calls can be split into
real ones and ones it recovered from text.

Loopback only: it listens on 127.0.0.1 and forwards to the upstream URL given.
"""
from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                "te", "trailer", "upgrade", "content-length", "host"}


class Meter:
    def __init__(self, upstream: str):
        """``upstream`` is the api_base, e.g. http://127.0.0.1:8765/v1."""
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_prefix = parts.path.rstrip("/")  # e.g. /v1
        self._lock = threading.Lock()
        self.inflight = 0
        self.reset()
        self._server = None
        self._thread = None

    # -- counters -------------------------------------------------------
    def reset(self):
        with self._lock:
            self.calls = 0
            self.input_tokens = 0
            self.output_tokens = 0
            self.failed_calls = 0
            self.model_seconds = 0.0
            self.native_tool_calls = 0
            #: What the model generated in each chat call since the last reset (streamed calls).
            self.outputs: list[str] = []

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for in-flight calls to finish (e.g. after their agent was killed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.inflight == 0:
                    return True
            time.sleep(0.1)
        return False

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "model_calls": self.calls,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "failed_calls": self.failed_calls,
                "model_seconds": round(self.model_seconds, 2),
                "native_tool_calls": self.native_tool_calls,
            }

    def _begin(self):
        # counted when the request starts, so a call cut off by a time limit still shows
        with self._lock:
            self.calls += 1
            self.inflight += 1

    def _record(self, usage, seconds, ok, tool_calls=0):
        with self._lock:
            self.inflight -= 1
            self.native_tool_calls += tool_calls
            self.model_seconds += seconds
            if not ok:
                self.failed_calls += 1
            if usage:
                self.input_tokens += int(usage.get("prompt_tokens") or 0)
                self.output_tokens += int(usage.get("completion_tokens") or 0)

    # -- server ---------------------------------------------------------
    @property
    def api_base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.upstream_prefix}"

    def start(self) -> "Meter":
        meter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # close-delimited responses: simple streaming

            def log_message(self, *args):
                pass

            def _proxy(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path
                if meter.upstream_prefix and not path.startswith(meter.upstream_prefix):
                    path = meter.upstream_prefix + path
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                is_chat = self.command == "POST" and path.rstrip("/").endswith("/completions")
                start = time.monotonic()
                if is_chat:
                    meter._begin()
                conn = http.client.HTTPConnection(meter.upstream_host, meter.upstream_port,
                                                  timeout=1800)
                try:
                    conn.request(self.command, path, body=body, headers=headers)
                    if not self._wait_for_upstream(conn):
                        # the agent was killed (time limit) while the model was still working:
                        # drop the upstream connection so the server stops generating for it
                        conn.close()
                        if is_chat:
                            meter._record(None, time.monotonic() - start, ok=False)
                        return
                    resp = conn.getresponse()
                except OSError as exc:
                    if is_chat:
                        meter._record(None, time.monotonic() - start, ok=False)
                    self.send_error(502, f"upstream unavailable: {exc}")
                    return
                self.send_response(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in _HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                streamed = "text/event-stream" in (resp.getheader("Content-Type") or "")
                usage, timings, buffer = None, None, b""
                deltas = [0]  # streamed content chunks: ~1 token each on llama.cpp
                text: list[str] = []
                call_keys: set = set()  # (choice, tool call index) of streamed tool calls
                try:
                    while True:
                        chunk = resp.read1(65536) if streamed else resp.read(65536)
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        if streamed:
                            self.wfile.flush()
                        if is_chat:
                            buffer += chunk
                            if streamed:
                                *lines, buffer = buffer.split(b"\n")
                                for line in lines:
                                    usage, timings = _scan_sse(line, usage, timings, deltas,
                                                               call_keys, text)
                    if is_chat and not streamed:
                        try:
                            body = json.loads(buffer)
                            usage = body.get("usage")
                            for n, choice in enumerate(body.get("choices") or []):
                                message = choice.get("message") or {}
                                calls = message.get("tool_calls") or []
                                call_keys.update((n, i) for i in range(len(calls)))
                                # What the model said, as for a streamed call (model-output.txt).
                                text.append(message.get("content") or "")
                                text.extend(f"\n[tool call {(c.get('function') or {}).get('name')}] "
                                            f"{(c.get('function') or {}).get('arguments')}" for c in calls)
                        except (ValueError, AttributeError):
                            usage = None
                    elif is_chat and buffer:
                        usage, timings = _scan_sse(buffer, usage, timings, deltas, call_keys, text)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    conn.close()
                    if is_chat:
                        with meter._lock:
                            meter.outputs.append("".join(text))
                        if not usage and timings:
                            usage = {"prompt_tokens": timings.get("prompt_n", 0) + timings.get("cache_n", 0),
                                     "completion_tokens": timings.get("predicted_n", 0)}
                        elif not usage and deltas[0]:
                            # cut off mid-stream (agent killed): output so far, input unknown
                            usage = {"prompt_tokens": 0, "completion_tokens": deltas[0]}
                        meter._record(usage, time.monotonic() - start, ok=resp.status < 400,
                                      tool_calls=len(call_keys))

            def _wait_for_upstream(self, conn) -> bool:
                """Wait until the upstream answers; False if the client hung up first."""
                while True:
                    ready, _, _ = select.select([conn.sock, self.connection], [], [], 1.0)
                    if conn.sock in ready:
                        return True
                    if self.connection in ready:
                        try:
                            peek = self.connection.recv(1, socket.MSG_PEEK)
                        except OSError:
                            peek = b""
                        if not peek:
                            return False
                        time.sleep(0.2)  # unexpected early bytes from the client: keep waiting

            do_GET = do_POST = do_PUT = do_DELETE = _proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _scan_sse(line: bytes, usage, timings, deltas, call_keys=None, text=None):
    line = line.strip()
    if not line.startswith(b"data:"):
        return usage, timings
    data = line[5:].strip()
    if not data or data == b"[DONE]":
        return usage, timings
    try:
        event = json.loads(data)
    except ValueError:
        return usage, timings
    if isinstance(event, dict):
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("tool_calls"):
                deltas[0] += 1
            if text is not None:
                # What the model wrote, kept for reading a run afterwards (runaway answers).
                text.append(delta.get("content") or "")
                for call in delta.get("tool_calls") or []:
                    function = (call.get("function") or {}) if isinstance(call, dict) else {}
                    if function.get("name"):
                        text.append(f"\n[tool call {function['name']}] ")
                    text.append(function.get("arguments") or "")
            if call_keys is not None:
                # A call's fragments share its index; the first one carries its id and name.
                for call in delta.get("tool_calls") or []:
                    if isinstance(call, dict):
                        key = call.get("index", call.get("id"))
                        call_keys.add((choice.get("index", 0), key))
        if event.get("usage"):
            usage = event["usage"]
        if event.get("timings"):
            timings = event["timings"]
    return usage, timings
