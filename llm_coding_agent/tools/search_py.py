"""The pure-Python fallback engine behind :func:`.search.list_files` and
:func:`.search.search_files`, used when no runnable ``rg`` is found.

It reimplements ripgrep's rules (walk, ``.gitignore`` reading via :mod:`.ignore`, binary-file
rule, ordering) so that its results are identical to those of :mod:`.search_rg`; regexes are
Python's ``re``, matched against each line decoded as UTF-8 with U+FFFD replacements.
"""

from __future__ import annotations

import heapq
import os
import re
from typing import Iterator

from ..errors import ToolError
from .files import open_regular
from .ignore import _ancestor_rules, _read_gitignore
from .search_common import _excluded_by, _invalid_regex, _mtime_order, _path_key, _scan_dir


def _walk(root_b: bytes, base_b: bytes, base_rel: bytes) -> Iterator[tuple[bytes, os.DirEntry]]:
    """Pure-Python walk: (path relative to base, entry) for every file in the file set."""
    stack = [(base_b, b"", base_rel, _ancestor_rules(root_b, base_rel))]
    while stack:
        directory, rel_dir, root_rel_dir, parent_rules = stack.pop()
        rules = parent_rules + _read_gitignore(directory, root_rel_dir)
        dirs, files = _scan_dir(directory, rel_dir, root_rel_dir, rules)
        yield from files
        stack.extend((entry.path, rel, root_rel, rules) for rel, root_rel, entry in dirs)


# --------------------------------------------------------------------------------------------
# list_files


def _list_python(root_b, base_b, base_rel, glob, limit):
    items = []
    for rel, entry in _walk(root_b, base_b, base_rel):
        if _excluded_by(glob, rel):
            continue
        try:
            items.append((entry.stat(follow_symlinks=False).st_mtime_ns, rel))
        except OSError:
            continue
    return heapq.nsmallest(limit, items, key=_mtime_order), len(items)


# --------------------------------------------------------------------------------------------
# search_files


def _python_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise _invalid_regex(pattern, str(exc)) from None


def _search_python(root_b, base_b, base_rel, regex, user_glob, max_results):
    files = []
    for rel, entry in _walk(root_b, base_b, base_rel):
        if _excluded_by(user_glob, rel):
            continue
        root_rel = base_rel + b"/" + rel if base_rel else rel
        files.append((_path_key(root_rel), root_rel, entry.path))
    files.sort()
    shown: list[tuple[bytes, int, bytes]] = []
    total = 0
    for _, root_rel, path in files:
        count, lines = _scan_file(path, regex, max_results - len(shown))
        total += count
        shown.extend((root_rel, lineno, raw) for lineno, raw in lines)
    return shown, total


def _scan_file(path: bytes, regex: re.Pattern[str], keep: int) -> tuple[int, list]:
    """(matching line count, first ``keep`` matching lines) — (0, []) for binary files.

    Streams the file line by line; a NUL byte anywhere makes it binary, as in ``rg --count``.
    """
    count = 0
    kept: list[tuple[int, bytes]] = []
    try:
        # A FIFO swapped in after the walk would otherwise block the search for good.
        with open_regular(path, "file") as fh:
            for lineno, raw in enumerate(fh, 1):
                if b"\0" in raw:
                    return 0, []
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                if regex.search(raw.decode("utf-8", "replace")):
                    count += 1
                    if len(kept) < keep:
                        kept.append((lineno, raw))
    except (OSError, ToolError):
        return 0, []
    return count, kept
