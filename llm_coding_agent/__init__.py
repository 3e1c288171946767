"""llm-coding-agent: a coding agent for the ``llm`` CLI and library.

- :class:`CodingTools`: six confined tools as an ``llm.Toolbox`` (``llm chat -T CodingTools``).
- :class:`CodingAgent`: the agent loop as a Python API.
- ``llm code``: the interactive and headless command.

Names are imported on first use: llm loads this package's plugin for every ``llm`` command, and
none of them should pay for the agent, bashlex or rich at start-up.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

__all__ = [
    "AgentResult",
    "AgentStateError",
    "ApprovalPolicy",
    "CodingAgent",
    "CodingAgentError",
    "CodingTools",
    "CommandRules",
    "ModelError",
    "PathOutsideRoot",
    "Plan",
    "PlanAnswer",
    "TokenUsage",
    "ToolError",
    "Verdict",
]

__version__ = "0.1.0"

_WHERE = {
    "AgentResult": "agent",
    "AgentStateError": "agent",
    "CodingAgent": "agent",
    "ModelError": "agent",
    "TokenUsage": "agent",
    "Plan": "agent",
    "PlanAnswer": "agent",
    "ApprovalPolicy": "safety",
    "CodingAgentError": "errors",
    "PathOutsideRoot": "errors",
    "ToolError": "errors",
    "CommandRules": "safety",
    "Verdict": "safety",
    "CodingTools": "tools",
}

if _typing.TYPE_CHECKING:  # pragma: no cover
    from .agent import AgentResult, AgentStateError, CodingAgent, ModelError, Plan, PlanAnswer, TokenUsage
    from .errors import CodingAgentError, PathOutsideRoot, ToolError
    from .safety import ApprovalPolicy, CommandRules, Verdict
    from .tools import CodingTools


def __getattr__(name: str) -> _typing.Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_coding_agent' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
