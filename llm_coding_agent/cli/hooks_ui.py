"""``llm code``'s side of hooks and the tools the agent writes: asking the user to trust the
project's tool files (showing their code) before the agent loads them, the approval prompt of
``create_tool`` (the file it creates, as a diff), and ``!hooks``."""

from __future__ import annotations

import json
from typing import Any

import llm

from ..integrations.usertools import TOOLS_DIR, tool_files
from ..safety.settings import is_trusted, trust_file

__all__ = ["HooksSession", "call_title"]


def call_title(tool_name: str, arguments: dict) -> str | None:
    """The approval prompt's title for a call of a tool outside CodingTools, when it has a
    better one than "Call NAME?"."""
    if tool_name == "create_tool" and isinstance(arguments.get("name"), str):
        return f"Create the tool {arguments['name']} ({TOOLS_DIR}/{arguments['name']}.py)?"
    return None


class HooksSession:
    """Mixin of :class:`~.session.Session`."""

    def _trust_tool_files(self) -> None:
        """Interactive sessions: ask about each tool file of the project that is not trusted
        (new from the repository, or changed since), showing its code; "yes" trusts exactly that
        content. Headless runs ask nothing: the agent reports the files it leaves out."""
        if self.headless:
            return
        for path in tool_files(self.root):
            if is_trusted(path):
                continue
            try:
                code = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # the agent reports it as unreadable
            self.ui.notice(f"{TOOLS_DIR}/{path.name} (a tool from the project, not trusted yet):", style="bold")
            self.ui.show_diff("\n".join(f"+{line}" for line in code.splitlines()))
            if self.ui.confirm(f"Load {path.stem} as a tool (it runs sandboxed, asking before each call)?"):
                trust_file(path)

    def _approval_preview(self, tool: llm.Tool, arguments: dict) -> str:
        """The approval preview of a tool outside CodingTools: what it would create, or the call."""
        return self.agent.call_preview(tool.name, arguments) or "$ " + tool.name + " " + json.dumps(arguments)

    def _cmd_hooks(self, arg: str) -> None:
        """list the hooks and the tools of .llm-code/tools"""
        lines: list[str] = []
        for hook in self.agent.hooks.commands:
            matcher = f" [{hook.matcher}]" if hook.matcher and hook.event in ("PreToolUse", "PostToolUse") else ""
            lines.append(f"  {hook.event}{matcher}: {hook.command}  (timeout {hook.timeout:g} s)")
        lines = (["Hooks:"] + lines) if lines else ["No hooks (the \"hooks\" setting; see the README)."]
        tools: list[Any] = list(self.agent.user_tools.values())
        if tools:
            lines.append(f"Tools in {TOOLS_DIR}:")
            lines += [f"  {t.name}{'  (read-only)' if t.read_only else ''}: {t.description}" for t in tools]
        self.ui.notice("\n".join(lines), style="")
