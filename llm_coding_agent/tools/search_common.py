"""Helpers shared by both search engines and the front in :mod:`.search`.

The walk rule that defines the file set (one directory at a time, applying the ``.gitignore``
rules of :mod:`.ignore`), the path order both engines sort by, the parsing of the user's
``pattern=``/``glob=`` arguments, and the error for an invalid regex. Kept apart so that
:mod:`.search` can import the engines and the engines can share these without importing it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import ToolError
from .ignore import _GlobError, _is_ignored, _parse_rule, _ScopedRule


_SKIP_DIR_NAMES = (b"node_modules", b"__pycache__")


# --------------------------------------------------------------------------------------------
# The file set


def _scan_dir(directory: bytes, rel_dir: bytes, root_rel_dir: bytes,
              rules: list[_ScopedRule]) -> tuple[list, list]:
    """One directory's kept entries: ([(rel, root_rel, entry)] for dirs, [(rel, entry)] for files).

    ``rel`` is relative to the walk's base, ``root_rel`` to the root; ``rules`` must already hold
    this directory's own .gitignore.
    """
    dirs: list[tuple[bytes, bytes, os.DirEntry]] = []
    files: list[tuple[bytes, os.DirEntry]] = []
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except OSError:
        return dirs, files
    for entry in entries:
        name = entry.name
        rel = rel_dir + b"/" + name if rel_dir else name
        root_rel = root_rel_dir + b"/" + name if root_rel_dir else name
        try:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if name.startswith(b".") or name in _SKIP_DIR_NAMES:
                    continue
                if not _is_ignored(rules, root_rel, True):
                    dirs.append((rel, root_rel, entry))
            elif entry.is_file(follow_symlinks=False):
                if not _is_ignored(rules, root_rel, False):
                    files.append((rel, entry))
        except OSError:
            continue
    return dirs, files


# --------------------------------------------------------------------------------------------
# Ordering


def _path_key(rel: bytes) -> bytes:
    # Mapping '/' below every other byte sorts component by component: 'a/z' before 'a-b/c'.
    return rel.replace(b"/", b"\0")


def _mtime_order(item: tuple[int, bytes]) -> tuple[int, bytes]:
    return -item[0], _path_key(item[1])


# --------------------------------------------------------------------------------------------
# User globs


@dataclass(frozen=True)
class _UserGlob:
    text: str
    regex: re.Pattern[bytes] | None  # None: matches every file
    rg_type: str | None  # an equivalent file-name glob ripgrep can apply itself (--type-add)


_MATCH_ALL_GLOBS = {"**", "**/*"}
# File-name globs that ripgrep's --type-add matches exactly like our gitignore-style matcher.
# Types still respect .gitignore, unlike --glob, whose whitelist overrides every ignore rule.
_TYPE_SAFE = re.compile(r"[A-Za-z0-9._\-*]*(?:\{[A-Za-z0-9._\-*,]*\}[A-Za-z0-9._\-*]*)?\Z")


def _user_glob(pattern: str | None, what: str) -> _UserGlob | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ToolError(f"{what} must be a string, got {pattern!r}")
    text = pattern.strip()
    while text.startswith("./"):
        text = text[2:]
    if not text or text == ".":
        return None
    if text.startswith("!"):
        raise ToolError(f"{what} {pattern!r} starts with '!'; negated globs are not supported, "
                        "use a positive glob such as '**/*.py'")
    if text.endswith("/"):
        raise ToolError(f"{what} {pattern!r} ends with '/', which matches only directories; "
                        f"use '{text}**' to match the files inside")
    if text.startswith("#"):
        text = "\\" + text
    try:
        rule = _parse_rule(text)
    except _GlobError as exc:
        raise ToolError(f"invalid {what} {pattern!r}: {exc}") from None
    if rule is None or rule.glob in _MATCH_ALL_GLOBS:
        return _UserGlob(pattern, None, None)
    rg_type = None
    if rule.glob.startswith("**/"):  # matched at any depth, so only the file name matters
        rest = rule.glob
        while rest.startswith("**/"):
            rest = rest[3:]
        if "/" not in rest and rest != "**" and _TYPE_SAFE.match(rest):
            rg_type = rest
    return _UserGlob(pattern, rule.regex, rg_type)


def _excluded_by(glob: _UserGlob | None, rel: bytes) -> bool:
    return glob is not None and glob.regex is not None and not glob.regex.match(rel)


# --------------------------------------------------------------------------------------------
# Regex errors


def _invalid_regex(pattern: str, detail: str) -> ToolError:
    return ToolError(f"invalid regular expression {pattern!r}: {detail.strip()}. Fix the "
                     "pattern, or escape special characters such as ( ) [ ] { } . * + ? | \\ "
                     "with a backslash to search for them literally")
