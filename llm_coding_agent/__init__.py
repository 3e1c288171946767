"""llm-coding-agent: a coding agent for the ``llm`` CLI and library.

- :class:`CodingTools`: six confined tools as an ``llm.Toolbox`` (``llm chat -T CodingTools``).
- :class:`CodingAgent`: the agent loop as a Python API.
- ``llm code``: the interactive and headless command.
"""

from __future__ import annotations

from .agent import AgentResult, AgentStateError, CodingAgent, ModelError, TokenUsage
from .approval import ApprovalPolicy
from .errors import CodingAgentError, PathOutsideRoot, ToolError
from .rules import CommandRules, Verdict
from .tools import CodingTools

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
    "TokenUsage",
    "ToolError",
    "Verdict",
]

__version__ = "0.1.0"
