"""MCP servers for :class:`~llm_coding_agent.CodingAgent`: started with the agent, their tools
offered with the others, withdrawn when a server dies, stopped by :meth:`McpTools.close` (or
leaving ``with CodingAgent(...) as agent:``).

Which servers: ``config.mcp_servers`` (the project's ``.mcp.json`` once trusted, the user's
``mcp.json``) and ``config.mcp_config`` (files or parsed dicts given for this session); see
:mod:`llm_coding_agent.integrations.mcp_config`. The agent never asks about trust: an untrusted
project file is skipped with one notice (``llm code`` asks before it builds the agent).
"""

from __future__ import annotations

from typing import Any

import llm

from ..config import AgentConfig
from ..integrations.mcp import McpServers
from ..integrations.mcp_config import McpServerSet, load_server_set

__all__ = ["McpTools"]


class McpTools:
    """The MCP part of :class:`~llm_coding_agent.CodingAgent` (a mixin)."""

    tools: list[llm.Tool]

    def _start_mcp(self, config: AgentConfig) -> list[llm.Tool]:
        """Start the configured servers; their tools (none when there are no servers)."""
        #: The running servers (None when none are configured).
        self.mcp: McpServers | None = None
        #: What was configured, and what was left out (an untrusted project file).
        self.mcp_server_set: McpServerSet = load_server_set(
            self.root, default_files=config.mcp_servers, extra=config.mcp_config
        )
        found = self.mcp_server_set
        for warning in found.warnings:
            self._notice(warning)
        if found.untrusted_project_file is not None:
            self._notice(
                f"{found.untrusted_project_file} is not trusted, so its MCP servers "
                f"({', '.join(found.untrusted_servers)}) were not started; run `llm code` here "
                "interactively to review and trust it"
            )
        if not found.servers:
            return []
        self.mcp = McpServers(
            found.servers, startup_timeout=config.mcp_startup_timeout, tool_timeout=config.mcp_tool_timeout,
            on_notice=self._notice, on_withdraw=self._withdraw_tools,
        )
        try:
            return self.mcp.start().tools()
        except BaseException:
            self.mcp.close()
            raise

    def _withdraw_tools(self, names: list[str]) -> None:
        """A server died: its tools leave later requests (the list is the conversation's too)."""
        gone = set(names)
        self.tools[:] = [tool for tool in self.tools if tool.name not in gone]

    def close(self) -> None:
        """Stop the agent's MCP servers (and their processes). Safe to call more than once."""
        if getattr(self, "mcp", None) is not None:
            self.mcp.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
