"""The tools the agent writes, as part of :class:`~llm_coding_agent.CodingAgent` (the files and
the process they run in: integrations/usertools.py).

``create_tool`` is a mutating tool like a file write: its call is checked before anyone is
asked (:meth:`WrittenTools.create_tool_problem`, through ``pre_tool_checks``), the approval
shows the file it creates (:meth:`WrittenTools.call_preview`), and once approved the file is
saved, trusted (the user saw exactly that content) and added to ``tools`` (the list every
request sends), so the model can call it in the same run. The project's trusted tool files load
when the agent starts; untrusted ones are reported and left out.
"""

from __future__ import annotations

from typing import Any

import llm

from ..config import AgentConfig
from ..integrations import usertools
from ..integrations.usertools import CREATE_TOOL_DESCRIPTION, TOOLS_DIR, UserTool, UserToolError
from ..safety.settings import trust_file
from ..tools import short_tool_name
from ..tools.sandbox import SandboxUnavailable
from .context import tools_overhead

__all__ = ["WrittenTools", "CREATE_TOOL"]

#: The name of the tool that creates tools.
CREATE_TOOL = "create_tool"

_CREATE_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "The new tool's name, a Python identifier (also the function's name)"},
        "description": {"type": "string", "description": "What the tool does and returns, for whoever calls it"},
        "code": {"type": "string", "description": "Python source defining def NAME(...) with annotated parameters"},
    },
    "required": ["name", "description", "code"],
}


class WrittenTools:
    """``create_tool`` and the project's tool files, for :class:`~llm_coding_agent.CodingAgent`."""

    #: The project's tools by name (those loaded at start and those created since).
    user_tools: dict[str, UserTool]

    def _written_tools(self, config: AgentConfig, taken: set[str]) -> list[llm.Tool]:
        """``create_tool`` (unless turned off) and the project's trusted tool files, as tools.
        ``taken``: the names already in use."""
        self.user_tools = {}
        tools: list[llm.Tool] = []
        if config.create_tool and self.profile.offers_create_tool:  # type: ignore[attr-defined]
            tools.append(llm.Tool(
                name=CREATE_TOOL, description=CREATE_TOOL_DESCRIPTION, input_schema=_CREATE_TOOL_SCHEMA,
                implementation=self._create_tool,
            ))
        loaded = usertools.load_tools(self.root, set(taken) | {short_tool_name(n) for n in taken} | {CREATE_TOOL})
        for problem in loaded.problems:
            self._notice(f"tool not loaded: {problem}")
        if loaded.untrusted:
            names = ", ".join(f"{TOOLS_DIR}/{p.name}" for p in loaded.untrusted)
            self._notice(f"not loaded (not trusted; `llm code` asks about them interactively): {names}")
        for tool in loaded.tools:
            tools.append(self._register_user_tool(tool))
        return tools

    def create_tool_problem(self, tool: llm.Tool, call: llm.ToolCall) -> str | None:
        """Why a ``create_tool`` call cannot work (an ``Error:`` telling the model the fix),
        checked before the user is asked; None for other calls and for one that can."""
        if tool.name != CREATE_TOOL or not isinstance(call.arguments, dict):
            return None
        arguments = call.arguments
        try:
            self._checked_new_tool(arguments.get("name"), arguments.get("description"), arguments.get("code"))
        except UserToolError as ex:
            return f"Error: {ex}"
        return None

    def call_preview(self, tool_name: str, arguments: dict) -> str | None:
        """What the approval prompt shows for a call of a tool outside CodingTools, when there is
        more to show than its arguments: ``create_tool``'s file, as the diff creating it."""
        if tool_name != CREATE_TOOL:
            return None
        try:
            name, description, code = self._checked_new_tool(
                arguments.get("name"), arguments.get("description"), arguments.get("code")
            )
        except UserToolError:
            return None
        return usertools.preview(self.root, name, description, code)

    # -- creating and running -----------------------------------------------------------------------

    def _checked_new_tool(self, name: Any, description: Any, code: Any) -> tuple[str, str, str]:
        # The model may replace a tool it wrote (same name), not any other.
        taken = {t.name for t in self.tools if t.name not in self.user_tools}
        usertools.check_name(name, taken | {short_tool_name(n) for n in taken})
        if not isinstance(description, str) or not description.strip():
            raise UserToolError("description must say in a sentence what the tool does and returns")
        usertools.analyse_code(name, code)
        if usertools.READ_ONLY_MARK.replace(" ", "") in code.replace(" ", ""):
            raise UserToolError(
                f"remove the line {usertools.READ_ONLY_MARK!r}: only the user marks a tool read-only"
            )
        return name, description, code

    def _create_tool(self, name: str, description: str, code: str) -> str:
        """The implementation of ``create_tool``, run once the user approved the call."""
        try:
            name, description, code = self._checked_new_tool(name, description, code)
            tool = usertools.save_tool(self.root, name, description, code)
        except UserToolError as ex:
            return f"Error: {ex}"
        except OSError as ex:
            return f"Error: could not save {TOOLS_DIR}/{name}.py: {ex.strerror or ex}"
        trust_file(tool.path)  # the user approved exactly this content
        replaced = name in self.user_tools
        new = self._register_user_tool(tool)
        self.tools[:] = [t for t in self.tools if t.name != name] + [new]
        self.context.overhead = tools_overhead(self.tools)
        arguments = ", ".join(f'"{p}": <{s.get("type", "any")}>' for p, s in tool.input_schema["properties"].items())
        return (
            f"{'Replaced' if replaced else 'Created'} the tool {name} ({TOOLS_DIR}/{name}.py). Call it as "
            f"{name} with {{{arguments}}}. It runs in a separate process (sandboxed like commands); the "
            "user is asked before each call unless they mark it read-only."
        )

    def _register_user_tool(self, tool: UserTool) -> llm.Tool:
        self.user_tools[tool.name] = tool
        if tool.read_only:
            self.policy.read_only_tools.add(tool.name)
        else:
            self.policy.read_only_tools.discard(tool.name)

        def call(**arguments: Any) -> str:
            return self._run_user_tool(tool.name, arguments)

        return llm.Tool(name=tool.name, description=tool.description, input_schema=tool.input_schema,
                        implementation=call)

    def _run_user_tool(self, name: str, arguments: dict) -> str:
        tool = self.user_tools[name]
        if not self._sandbox_ready():
            return (
                f"Error: the tool {name} runs in a sandbox, which is unavailable here, and the user did "
                "not allow running without one. Do without it, or ask the user."
            )
        try:
            sandbox = self.coding_tools._sandbox()
        except SandboxUnavailable as ex:
            return f"Error: {ex}"
        return usertools.run_tool(tool, arguments, root=self.root, sandbox=sandbox)
