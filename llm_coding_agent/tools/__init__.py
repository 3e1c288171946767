"""The tools layer: :class:`CodingTools` (an ``llm.Toolbox``) and the engines behind it.

What lives here:

- ``toolbox.py``: ``CodingTools``, the six tools the model calls; each one turns a
  :class:`~llm_coding_agent.errors.ToolError` into an ``Error: ...`` string the model can act on.
- ``todo.py``: the todo list and its ``update_todos`` tool (not a method of ``CodingTools``: it
  changes nothing on disk, and only the agent offers it).
- ``paths.py``: confinement of every path to the project root.
- ``files.py``: reading, atomic writing, edit matching and diffs.
- ``search*.py``: ``search_files`` and ``list_files`` (ripgrep, with a pure-Python fallback that
  gives the same output).
- ``shell.py``: running a command with a timeout, bounded output and process-tree kill.
- ``sandbox.py``: the bubblewrap wrapper that ``shell.py`` runs commands under. It lives here,
  not in :mod:`~llm_coding_agent.safety`, because it is *how* a command runs; the policy of
  *whether* it runs is the safety layer's.

May import: the standard library, ``llm``, and
:mod:`llm_coding_agent.errors`. Nothing here imports ``safety``, ``agent`` or ``cli``, and nothing
here prints: the tools have no user interface.
"""

from __future__ import annotations

from .toolbox import (
    FILE_CHANGING_TOOLS,
    MUTATING_TOOLS,
    READ_ONLY_TOOLS,
    CodingTools,
)

#: How llm names this toolbox's tools: ``CodingTools_read_file`` and so on.
CODING_TOOL_PREFIX = CodingTools.__name__ + "_"


def short_tool_name(name: str) -> str:
    """``CodingTools_read_file`` -> ``read_file``; other names unchanged."""
    return name[len(CODING_TOOL_PREFIX):] if name.startswith(CODING_TOOL_PREFIX) else name


__all__ = [
    "CODING_TOOL_PREFIX",
    "FILE_CHANGING_TOOLS",
    "MUTATING_TOOLS",
    "READ_ONLY_TOOLS",
    "CodingTools",
    "short_tool_name",
]
