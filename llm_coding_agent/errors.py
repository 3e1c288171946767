"""Typed exceptions. Tools turn :class:`ToolError` into an ``Error: ...`` string for the model."""

from __future__ import annotations

__all__ = ["CodingAgentError", "ToolError", "PathOutsideRoot"]


class CodingAgentError(Exception):
    """Base class for every error this package raises on purpose."""


class ToolError(CodingAgentError):
    """A tool call that cannot be carried out; the message tells the model how to recover."""


class PathOutsideRoot(ToolError):
    """A path that resolves (through ``..``, absolute parts or symlinks) outside the root."""
