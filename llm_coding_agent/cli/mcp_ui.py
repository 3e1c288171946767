"""MCP servers in ``llm code``: asking to trust a project's ``.mcp.json``, ``!mcp`` in a session,
and ``llm code mcp`` (configured servers, their status and tools)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..integrations.mcp import McpServers
from ..integrations.mcp_config import (
    McpConfigError, McpServerSet, McpServerSpec, load_server_set, project_mcp_path, user_mcp_path,
)
from ..safety.settings import is_trusted

__all__ = ["McpSession", "mcp_command", "server_report"]


class McpSession:
    """The MCP part of :class:`~.session.Session` (a mixin)."""

    def _trust_project_mcp(self) -> None:
        """Interactive sessions: ask once about a project ``.mcp.json`` that is not trusted yet
        (trust is recorded for its exact content), before the agent starts any server."""
        path = project_mcp_path(self.root)
        if self.headless or not self.config.mcp_servers or not path.is_file() or is_trusted(path):
            return
        load_server_set(self.root, trust=self._ask_mcp_trust)

    def _ask_mcp_trust(self, path: Path, servers: list[McpServerSpec]) -> bool:
        listed = "; ".join(f"{s.name} ({s.describe()})" for s in servers)
        return self.ui.confirm(
            f"{path} (from the project) wants to start MCP servers: {listed}. "
            "They run with your permissions, outside the sandbox. Trust this file?"
        )

    def _cmd_mcp(self, arg: str) -> None:
        """MCP servers: their status and tools"""
        agent = self.agent
        states = agent.mcp.statuses() if agent.mcp is not None else []
        self.ui.notice(server_report(states, agent.mcp_server_set), style="")

    def close(self) -> None:
        """End the session's agent (its MCP servers stop)."""
        agent = getattr(self, "agent", None)
        if agent is not None:
            agent.close()


def server_report(states, server_set: McpServerSet) -> str:
    """The servers, one line each (where from, how reached, status), their tools under them."""
    lines: list[str] = []
    for state in states:
        spec = state.spec
        lines.append(f"{spec.name}  ({_where(spec)} · {spec.describe()})  {state.summary().split(': ', 1)[1]}")
        for tool in state.tools if state.status == "running" else []:
            about = (tool.description or "").strip().splitlines()
            lines.append(f"  {tool.name}  {about[0][:80] if about else ''}".rstrip())
    for name in server_set.untrusted_servers:
        lines.append(
            f"{name}  ({server_set.untrusted_project_file})  not started: the file is not trusted "
            "(run `llm code` here interactively to review and trust it)"
        )
    lines += [f"warning: {w}" for w in server_set.warnings]
    if not states and not server_set.untrusted_servers:
        lines.insert(0, (
            f"No MCP servers configured. Add them to .mcp.json in the project or to {user_mcp_path()} "
            '(yours), as {"mcpServers": {"NAME": {"command": ..., "args": [...]}}}, or pass --mcp-config FILE.'
        ))
    return "\n".join(lines)


def _where(spec: McpServerSpec) -> str:
    return {"project": "project .mcp.json", "user": "your mcp.json"}.get(spec.scope, spec.source)


@click.command(name="mcp")
@click.option("-d", "--directory", "root", default=".", metavar="DIR", help="The project (default: the current directory)")
@click.option("--mcp-config", "extra", multiple=True, metavar="FILE", help="Also list the servers of this file")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the servers with their status and tools")
def mcp_command(root: str, extra: tuple[str, ...], as_json: bool) -> None:
    """The MCP servers `llm code` would start here: where each is configured, whether it starts,
    and its tools (each server is started, listed and stopped again).

    \b
    Servers come from .mcp.json in the project (once you trust it), your own mcp.json
    (in llm's user directory, under llm-code/) and --mcp-config files.
    """
    from ..safety.settings import load_settings, SettingsError

    project = Path(root).expanduser()
    if not project.is_dir():
        raise click.ClickException(f"directory does not exist: {root}")
    project = project.resolve()
    try:
        settings = load_settings(project).config_layer()
        server_set = load_server_set(project, extra=list(extra))
    except (McpConfigError, SettingsError) as ex:
        click.echo(f"Error: {ex}", err=True)
        sys.exit(1)
    with McpServers(
        server_set.servers,
        startup_timeout=settings.get("mcp_startup_timeout", 10),
        tool_timeout=settings.get("mcp_tool_timeout", 60),
    ) as servers:
        states = servers.statuses()
        if as_json:
            click.echo(json.dumps({
                "servers": [
                    {"name": s.spec.name, "scope": s.spec.scope, "source": s.spec.source,
                     "transport": s.spec.transport, "status": s.status, "problem": s.problem or None,
                     "tools": [{"name": t.name, "description": t.description} for t in s.tools]}
                    for s in states
                ],
                "untrusted": {"file": str(server_set.untrusted_project_file), "servers": server_set.untrusted_servers}
                if server_set.untrusted_project_file else None,
                "warnings": server_set.warnings,
            }, indent=2))
        else:
            click.echo(server_report(states, server_set))
