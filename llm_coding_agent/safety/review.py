"""What a reviewer model may approve on its own: small file changes away from sensitive paths.

The reviewer (:mod:`llm_coding_agent.agent.reviewer`) is a second model that reads each file change
that would ask the user. Whatever it answers, the rules here bound what it can let through without
the user: at most ``max_lines`` changed lines (added + removed), the whole diff seen (not cut for
length), and no path matching a ``sensitive`` glob. Commands and other tools are never its to
approve. These rules only narrow: a change they refuse goes to the user as it would without a
reviewer.

Globs are matched case-insensitively against the project-relative path and each of its
directories (``deploy`` matches ``deploy/k8s/app.yaml``): ``**`` spans directories, ``*`` and
``?`` stay inside one name, and a pattern without ``/`` matches a name in any directory (as in
``.gitignore``).
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable

__all__ = ["ReviewLimits", "changed_lines", "sensitive_match"]


def changed_lines(before: str, after: str) -> int:
    """Lines added plus lines removed going from ``before`` to ``after``."""
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    return sum(
        (i2 - i1) + (j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern:
    pattern = pattern.strip().replace("\\", "/")
    if pattern.endswith("/"):
        pattern += "**"  # "deploy/": everything in it
    if "/" not in pattern:
        pattern = "**/" + pattern  # a bare name matches in any directory
    pattern = pattern.lstrip("/")
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL)


def sensitive_match(path: str, patterns: Iterable[str]) -> str | None:
    """The first of ``patterns`` matching ``path`` (project-relative) or one of its directories."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    candidates = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    for pattern in patterns:
        if not pattern.strip():
            continue
        regex = _glob_regex(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            return pattern
    return None


@dataclass(frozen=True)
class ReviewLimits:
    """The bounds on the reviewer approving on its own (``review_max_lines``, ``review_sensitive``)."""

    max_lines: int = 50
    sensitive: tuple[str, ...] = ()

    def why_ask_anyway(self, paths: Iterable[str], lines: int, whole_diff_seen: bool = True) -> str | None:
        """Why a change of ``lines`` changed lines to ``paths`` must go to the user even when the
        reviewer approves it (None: the reviewer's approval may stand on its own)."""
        for path in paths:
            pattern = sensitive_match(path, self.sensitive)
            if pattern:
                return f"{path} is a sensitive path ({pattern})"
        if lines > self.max_lines:
            return f"{lines} changed lines, more than the {self.max_lines} a reviewer may approve alone"
        if not whole_diff_seen:
            return "the diff was too long for the reviewer to see all of it"
        return None
