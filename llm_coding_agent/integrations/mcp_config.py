"""Which MCP servers a session has: Claude Code's ``.mcp.json`` format, read where users keep it.

Three sources, all in the same format::

    {"mcpServers": {
      "dt":  {"command": "python", "args": ["dt_server.py"], "env": {"TZ": "UTC"}, "cwd": "tools"},
      "api": {"type": "http", "url": "${API_BASE:-http://127.0.0.1:8000}/mcp",
              "headers": {"Authorization": "Bearer ${API_TOKEN}"}}}}

- ``<root>/.mcp.json``, the project's file: repository content, so it starts nothing until the user
  trusts it (the content-hash trust of project settings, :func:`~..safety.settings.is_trusted`);
- ``<llm user dir>/llm-code/mcp.json``, the user's file: its entries win over the project's of the
  same name;
- files given for one run (``--mcp-config FILE``, ``CodingAgent(mcp_config=[...])``), which win
  over both. The API also takes the parsed object (a dict) instead of a path.

An entry is stdio (``command``, ``args``, ``env``, ``cwd``; ``type`` ``"stdio"`` or absent) or
streamable HTTP (``type`` ``"http"`` or ``"streamable-http"``, ``url``, ``headers``). Codex's
``startup_timeout_sec`` and ``tool_timeout_sec`` set that server's timeouts. ``${VAR}`` and
``${VAR:-default}`` expand in ``command``, ``args``, ``env``, ``cwd``, ``url`` and ``headers``; an
unset variable without a default stays as written, with a warning. Unknown keys are ignored (other
agents add their own); a wrong type is a :class:`McpConfigError` naming the file and the server.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import llm

from ..errors import CodingAgentError
from ..safety.settings import is_trusted, trust_file

__all__ = [
    "McpConfigError",
    "McpServerSpec",
    "McpServerSet",
    "expand_variables",
    "load_server_set",
    "parse_servers",
    "project_mcp_path",
    "read_server_file",
    "user_mcp_path",
]

#: The ``type`` values of a streamable HTTP server (Claude Code writes ``http``).
HTTP_TYPES = ("http", "streamable-http", "streamable_http", "streamableHttp")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class McpConfigError(CodingAgentError, ValueError):
    """An MCP server file that cannot be used (bad JSON, wrong shape, unsupported transport)."""


@dataclass
class McpServerSpec:
    """One configured server, its variables expanded."""

    name: str
    #: ``stdio`` or ``http`` (streamable HTTP).
    transport: str
    #: Where it was configured (a path, or ``"(given)"`` for a dict passed to the API).
    source: str
    #: ``project``, ``user`` or ``run`` (``--mcp-config``/the API).
    scope: str
    command: str = ""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to wait for the server to start (None: the session's ``mcp_startup_timeout``).
    startup_timeout: float | None = None
    #: Seconds one tool call may take (None: the session's ``mcp_tool_timeout``).
    tool_timeout: float | None = None

    def describe(self) -> str:
        """``stdio: python dt_server.py`` or ``http: http://...`` (header values never shown)."""
        if self.transport == "http":
            return f"http: {self.url}"
        return "stdio: " + " ".join([self.command, *self.args])


@dataclass
class McpServerSet:
    """The servers a session starts, and what it left out and why."""

    servers: list[McpServerSpec] = field(default_factory=list)
    #: The project's ``.mcp.json`` when it exists and is not trusted (its servers are left out).
    untrusted_project_file: Path | None = None
    #: The names of the servers that untrusted file would start.
    untrusted_servers: list[str] = field(default_factory=list)
    #: One line each: unset variables, files that could not be read (and were skipped).
    warnings: list[str] = field(default_factory=list)


def user_mcp_path() -> Path:
    """The user's servers: ``<llm user dir>/llm-code/mcp.json``."""
    return llm.user_dir() / "llm-code" / "mcp.json"


def project_mcp_path(root: Path | str) -> Path:
    """The project's servers: ``<root>/.mcp.json`` (where Claude Code keeps them)."""
    return Path(root) / ".mcp.json"


def expand_variables(text: str, warnings: list[str], where: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in ``text`` replaced from the environment. An unset
    variable without a default stays as written, and ``warnings`` gets a line about it."""

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is not None and (value or default is None):
            return value
        if default is not None:
            return default
        line = f"{where}: ${{{name}}} is not set, so it stays as written"
        if line not in warnings:
            warnings.append(line)
        return match.group(0)

    return _VARIABLE.sub(replace, text)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise McpConfigError(f"{what} must be a list of strings")
    return [str(v) for v in value]


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
        raise McpConfigError(f"{what} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise McpConfigError(f"{what} must be a positive number of seconds")
    return float(value)


def _server(name: str, entry: Any, source: str, scope: str, warnings: list[str]) -> McpServerSpec:
    where = f"{source}: server {name!r}"
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where} must be an object")
    kind = entry.get("type") or ("stdio" if "command" in entry else "http" if "url" in entry else None)

    def expand(text: str) -> str:
        return expand_variables(text, warnings, where)

    spec = McpServerSpec(
        name=name, transport="", source=source, scope=scope,
        startup_timeout=_seconds(entry.get("startup_timeout_sec"), f"{where}: 'startup_timeout_sec'"),
        tool_timeout=_seconds(entry.get("tool_timeout_sec"), f"{where}: 'tool_timeout_sec'"),
    )
    if kind == "stdio":
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise McpConfigError(f"{where} needs a 'command' (the program that runs the server)")
        spec.transport = "stdio"
        spec.command = expand(command)
        spec.args = [expand(a) for a in _strings(entry.get("args", []), f"{where}: 'args'")]
        spec.env = {k: expand(v) for k, v in _string_map(entry.get("env", {}), f"{where}: 'env'").items()}
        cwd = entry.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise McpConfigError(f"{where}: 'cwd' must be a string")
        spec.cwd = expand(cwd) if cwd else None
    elif kind in HTTP_TYPES:
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise McpConfigError(f"{where} needs a 'url'")
        spec.transport = "http"
        spec.url = expand(url)
        spec.headers = {
            k: expand(v) for k, v in _string_map(entry.get("headers", {}), f"{where}: 'headers'").items()
        }
    elif kind == "sse":
        raise McpConfigError(f"{where}: the SSE transport is deprecated and not supported; use \"type\": \"http\"")
    else:
        raise McpConfigError(f"{where} needs a 'command' (stdio) or \"type\": \"http\" and a 'url'")
    return spec


def parse_servers(data: Any, source: str, scope: str, warnings: list[str]) -> list[McpServerSpec]:
    """The servers of one parsed file (``{"mcpServers": {...}}``)."""
    if not isinstance(data, dict):
        raise McpConfigError(f"{source}: must hold a JSON object")
    servers = data.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise McpConfigError(f"{source}: 'mcpServers' must be an object of servers by name")
    return [_server(str(name), entry, source, scope, warnings) for name, entry in servers.items()]


def read_server_file(path: Path | str, scope: str, warnings: list[str]) -> list[McpServerSpec] | None:
    """The servers of the file at ``path`` (None when there is no such file)."""
    path = Path(path).expanduser()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as ex:
        raise McpConfigError(f"{path}: cannot be read ({getattr(ex, 'strerror', None) or ex})") from None
    try:
        data = json.loads(raw)
    except ValueError as ex:
        raise McpConfigError(f"{path}: not valid JSON ({ex})") from None
    return parse_servers(data, str(path), scope, warnings)


def _merge(into: dict[str, McpServerSpec], servers: Iterable[McpServerSpec]) -> None:
    for server in servers:
        into[server.name] = server


def load_server_set(
    root: Path | str,
    *,
    default_files: bool = True,
    extra: Iterable[Any] = (),
    trust: Callable[[Path, list[McpServerSpec]], bool] | None = None,
) -> McpServerSet:
    """The servers to start for ``root``: the project's file (only when trusted), the user's file
    over it, then each of ``extra`` (paths or parsed dicts) over both.

    ``default_files=False`` leaves out the project's and the user's files. When the project's file
    is not trusted, ``trust(path, servers)`` is asked (if given); True records trust for exactly
    the content read. A default-location file that cannot be used is skipped with a warning; an
    ``extra`` one raises :class:`McpConfigError` (it was asked for by name).
    """
    result = McpServerSet()
    chosen: dict[str, McpServerSpec] = {}
    if default_files:
        project = project_mcp_path(root)
        shown = _read_bytes(project)
        try:
            found = read_server_file(project, "project", result.warnings)
        except McpConfigError as ex:
            result.warnings.append(f"{ex}; its servers are skipped")
            found = None
        if found:
            if is_trusted(project) or (
                trust is not None and trust(project, found) is True and _trust(project, shown)
            ):
                _merge(chosen, found)
            else:
                result.untrusted_project_file = project
                result.untrusted_servers = [s.name for s in found]
        try:
            _merge(chosen, read_server_file(user_mcp_path(), "user", result.warnings) or [])
        except McpConfigError as ex:
            result.warnings.append(f"{ex}; its servers are skipped")
    for item in extra:
        if isinstance(item, dict):
            _merge(chosen, parse_servers(item, "(given)", "run", result.warnings))
            continue
        found = read_server_file(item, "run", result.warnings)
        if found is None:
            raise McpConfigError(f"{item}: no such MCP server file")
        _merge(chosen, found)
    for server in chosen.values():
        if server.transport == "stdio" and server.cwd and not os.path.isabs(server.cwd):
            server.cwd = str(Path(root) / server.cwd)
    result.servers = list(chosen.values())
    return result


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _trust(path: Path, shown: bytes | None) -> bool:
    """Record trust in ``path`` if it still holds what the user was shown (``shown``)."""
    if shown is None or _read_bytes(path) != shown:
        return False
    trust_file(path)
    return True
