"""Which commands destroy work: deleting, overwriting, or discarding changes and history.

:func:`is_destructive` judges the words of one simple command (see its docstring for what is
covered); :mod:`.rules` uses the reason behind it to ask before such a command runs, even when
an allow rule matches it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..tools.paths import is_within
from .cmdwords import _git_subcommand_index, _program

__all__ = ["is_destructive"]


def _short_flags(words: list[str]) -> set[str]:
    letters: set[str] = set()
    for w in words:
        if w == "--":
            break
        if w.startswith("-") and not w.startswith("--"):
            letters.update(w[1:])
    return letters


def _long_flags(words: list[str]) -> set[str]:
    out: set[str] = set()
    for w in words:
        if w == "--":
            break
        if w.startswith("--"):
            out.add(w.split("=", 1)[0])
    return out


def _operands(words: list[str]) -> list[str]:
    out: list[str] = []
    after_dashdash = False
    for w in words:
        if after_dashdash:
            out.append(w)
        elif w == "--":
            after_dashdash = True
        elif not w.startswith("-") or w == "-":
            out.append(w)
    return out


def _in_scratch(path: str, root: Path | None) -> bool:
    """True when ``path`` is plainly inside ``<root>/tmp`` (the agent's scratch directory)."""
    if root is None or not path or path.startswith(("/", "~")) or "$" in path or "`" in path:
        return False
    parts = path.split("/")
    if ".." in parts or any(ch in parts[0] for ch in "*?[{"):
        return False
    real = os.path.realpath(os.path.join(root, path))
    return is_within(real, os.path.join(os.path.realpath(root), "tmp"))


def _destructive_reason(words: list[str], root: Path | None, *, open_args: bool = False) -> str | None:
    if not words:
        return None
    prog = _program(words[0])
    args = words[1:]
    if prog == "git":
        sub_i = _git_subcommand_index(words)
        if sub_i is None:
            return None
        sub, rest = words[sub_i], words[sub_i + 1:]
        short, long = _short_flags(rest), _long_flags(rest)
        ops = _operands(rest)
        if sub == "reset" and "--hard" in long:
            return "discards uncommitted changes"
        if sub == "clean" and ("f" in short or "--force" in long):
            return "deletes untracked files"
        if sub == "push" and (
            "f" in short or "d" in short
            or long & {"--force", "--force-with-lease", "--force-if-includes", "--delete",
                       "--mirror", "--prune"}
            or any(o.startswith("+") or (o.startswith(":") and len(o) > 1) for o in ops)
        ):
            return "rewrites or deletes history on the remote"
        if sub == "checkout" and ("f" in short or "--force" in long or "--" in rest
                                  or any(o in (".", "*", ":/") for o in ops)):
            return "discards uncommitted changes"
        if sub == "restore" and not (("S" in short or "--staged" in long)
                                     and not ("W" in short or "--worktree" in long)):
            return "discards uncommitted changes"
        if sub == "switch" and ("f" in short or long & {"--force", "--discard-changes"}):
            return "discards uncommitted changes"
        if sub == "branch" and ("D" in short or (("d" in short or "--delete" in long)
                                                 and ("f" in short or "--force" in long))):
            return "deletes a branch that may not be merged"
        if sub == "stash" and rest[:1] and rest[0] in ("drop", "clear"):
            return "deletes stashed changes"
        return None
    if prog == "rm":
        short, long = _short_flags(args), _long_flags(args)
        if "r" in short or "R" in short or "--recursive" in long or "--no-preserve-root" in long:
            targets = _operands(args)
            if open_args or not targets or not all(_in_scratch(t, root) for t in targets):
                return "deletes directories recursively"
        return None
    if prog == "find" and "-delete" in args:
        return "deletes the files it finds"
    if prog == "dd" and any(a.startswith("of=") for a in args):
        return "overwrites a file or device"
    if prog.startswith("mkfs"):
        return "formats a file system"
    if prog == "shred":
        return "destroys file contents"
    if prog == "truncate":
        return "truncates files"
    return None


def is_destructive(words: list[str], root: Path) -> bool:
    """True when the command ``words`` (leading assignments already removed) destroys work.

    Covered: ``git reset --hard``, ``git clean -f`` (any flag set with ``f``, ``--force``), ``git push``
    with ``--force``/``-f``/``--force-with-lease``/``--delete``/``--mirror``/``--prune`` or a ``+ref``/
    ``:ref`` refspec, ``git checkout -f``/``.``/``-- paths``, ``git restore`` of the work tree,
    ``git switch --discard-changes``, ``git branch -D``, ``git stash drop|clear``, recursive ``rm``
    (``-r``, ``-R``, ``--recursive``) of anything not plainly inside ``<root>/tmp`` (absolute paths,
    ``..``, ``~``, expansions, or a glob in the first path component never count as inside),
    ``find -delete``, ``dd of=``, ``mkfs*``, ``shred`` and ``truncate``. Programs are recognised by
    their base name (``/bin/rm``).
    """
    return _destructive_reason(list(words), root) is not None
