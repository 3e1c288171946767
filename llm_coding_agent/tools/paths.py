"""Path confinement: every path a tool touches resolves inside the root, or is refused."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import PathOutsideRoot, ToolError

__all__ = ["resolve_root", "resolve_in_root", "is_within", "relative_display"]

#: Directory (relative to the root) holding project settings; tools never write inside it.
PROTECTED_DIRS = (".llm-code",)
#: Git files that make git run programs (hooks, pagers, diff drivers): a write there would turn
#: an approved `git status` into arbitrary code, so the file tools refuse them.
PROTECTED_GIT = ((".git", "config"), (".git", "hooks"))


def resolve_root(root: str | os.PathLike) -> Path:
    """The canonical, symlink-free form of ``root``; it must be an existing directory."""
    real = Path(os.path.realpath(os.path.expanduser(os.fspath(root))))
    if not real.is_dir():
        raise ToolError(f"root directory does not exist: {root}")
    return real


def is_within(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when ``path`` is ``root`` or below it (both must already be canonical)."""
    path, root = os.fspath(path), os.fspath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_in_root(root: Path, path: str, *, for_write: bool = False) -> Path:
    """Resolve ``path`` (relative to ``root``, or absolute) to its real location inside ``root``.

    Symlinks are followed the way the OS would follow them (including dangling links and chains),
    so the returned path is where a read or write would really land. Anything landing outside
    ``root`` raises :class:`PathOutsideRoot`. Writes into protected settings directories are refused.
    """
    if not isinstance(path, str) or not path.strip():
        raise ToolError("path must be a non-empty string, relative to the project root")
    if "\x00" in path:
        raise ToolError("path contains a NUL byte")
    if path.startswith("~"):
        raise PathOutsideRoot(
            f"path {path!r} is outside the project root {root}; use a path relative to the root"
        )
    candidate = Path(path) if os.path.isabs(path) else root / path
    real = Path(_real(candidate))
    if not is_within(real, root):
        raise PathOutsideRoot(
            f"path {path!r} is outside the project root {root}; use a path relative to the root"
        )
    if for_write:
        rel = real.relative_to(root).parts
        if rel and rel[0] in PROTECTED_DIRS:
            raise ToolError(
                f"{path!r} is inside {rel[0]}/, which holds the user's agent settings; "
                "the agent may not change them. Ask the user to edit that file."
            )
        if any(rel[: len(p)] == p for p in PROTECTED_GIT):
            raise ToolError(
                f"{path!r} is git configuration that can run programs; the agent may not write it. "
                "Use git commands instead, or ask the user."
            )
    return real


def _real(path: Path) -> str:
    """``realpath`` repeated until it stops changing.

    On a symlink loop ``os.path.realpath`` gives up and returns the rest of the path with ``..``
    folded as text (``loop/../link_out/x`` → ``<root>/link_out/x``), which the OS would then
    follow through ``link_out``. Resolving again until nothing changes closes that hole.
    """
    current = os.path.realpath(path)
    for _ in range(40):
        again = os.path.realpath(current)
        if again == current:
            return current
        current = again
    raise ToolError(f"{path} has too many levels of symbolic links")


def relative_display(root: Path, real: Path) -> str:
    """``real`` shown relative to ``root`` (``.`` for the root itself)."""
    rel = os.path.relpath(real, root)
    return "." if rel == "." else rel
