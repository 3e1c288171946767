"""The tools layer: :class:`CodingTools` (an ``llm.Toolbox``) and the engines behind it.

What lives here:

- ``toolbox.py``: ``CodingTools``, the six tools the model calls; each one turns a
  :class:`~llm_coding_agent.errors.ToolError` into an ``Error: ...`` string the model can act on.
- ``todo.py``: the todo list and its ``update_todos`` tool (not a method of ``CodingTools``: it
  changes nothing on disk, and only the agent offers it).
- ``paths.py``: confinement of every path to the project root.
- ``files.py``: reading, atomic writing, edit matching and diffs; ``editmatch.py``: the lenient
  matching small models need (copied line numbers, whitespace, indentation).
- ``checks.py``: the syntax and pyflakes check of a ``.py`` change, and names it removed that
  other files still use; ``wholefile.py``: ``write_file`` content that would lose code (elision
  markers, dropped functions and classes).
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

import typing as _typing

#: How llm names this toolbox's tools: ``CodingTools_read_file`` and so on (``CodingTools.__name__``
#: and "_", written out so that naming a tool does not import the toolbox).
CODING_TOOL_PREFIX = "CodingTools_"


def short_tool_name(name: str) -> str:
    """``CodingTools_read_file`` -> ``read_file``; other names unchanged."""
    return name[len(CODING_TOOL_PREFIX):] if name.startswith(CODING_TOOL_PREFIX) else name


# The toolbox (and the search and shell engines under it) is imported on first use, so that
# `llm code --help` or reading the settings does not pay for it.
_FROM_TOOLBOX = frozenset({"FILE_CHANGING_TOOLS", "MUTATING_TOOLS", "READ_ONLY_TOOLS", "CodingTools"})

if _typing.TYPE_CHECKING:  # pragma: no cover
    from .toolbox import FILE_CHANGING_TOOLS, MUTATING_TOOLS, READ_ONLY_TOOLS, CodingTools


def __getattr__(name: str) -> _typing.Any:
    if name not in _FROM_TOOLBOX:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import toolbox  # an import statement, so `python -X importtime` shows where it happens

    value = getattr(toolbox, name)
    globals()[name] = value
    return value


__all__ = [
    "CODING_TOOL_PREFIX",
    "FILE_CHANGING_TOOLS",
    "MUTATING_TOOLS",
    "READ_ONLY_TOOLS",
    "CodingTools",
    "short_tool_name",
]
