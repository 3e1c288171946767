"""Per-turn undo that also covers changes made by shell commands.

Before each agent turn the agent calls :meth:`UndoHistory.snapshot`; :meth:`UndoHistory.undo`
puts the working tree back to exactly the state of the most recent snapshot and pops it, so
repeated undo walks further back.

How it works
------------
Snapshots live in a *side* git repository outside the project (by default
``llm.user_dir()/llm-code/undo/<sha256(root)[:16]>/git``). Every git command runs as
``git --git-dir=<side> --work-tree=<root>`` with its own index file and a scrubbed environment
(no inherited ``GIT_*`` variables, no system or global config, ``HOME`` pointed at the cache), so
the project's own ``.git`` -- its index, refs, stash, hooks and config -- is never read or
written, and user settings such as ``core.autocrlf``, clean/smudge filters or hooks cannot alter
what is stored. ``<side>/info/attributes`` switches every content conversion off, overriding
any ``.gitattributes`` in the project, so bytes round-trip exactly.

Each snapshot is a commit of the side index after ``git add -A``, kept on the stack as
``refs/llm-code/undo/<n>``; a new :class:`UndoHistory` for the same root and cache therefore
continues where an earlier process stopped. The side index is kept between snapshots, so git's
stat cache makes a snapshot of an unchanged tree cheap. Only the newest ``max_snapshots`` (100)
are kept; the objects of dropped ones are garbage-collected every 20 snapshots after that. An
``index.lock`` left by a process that died is removed once it is two minutes old.

What is covered
---------------
Every file and symlink under the root except paths excluded by ``.gitignore`` rules (root and
nested ``.gitignore`` files, as they are at the time of the snapshot), the project's ``.git``,
and nested repositories. Content, the executable bit and symlink targets are restored; other
permission bits, timestamps and empty directories are not.

Nested repositories (any directory below the root that contains a ``.git`` file or directory:
an embedded clone, a submodule checkout, a worktree) are *opaque*: nothing inside them is
snapshotted, and undo neither writes nor deletes anything inside them. They have their own
history, and recording them as git would (a gitlink naming one commit) could not restore their
files anyway.

Size cap
--------
``max_bytes`` bounds what one snapshot adds to the store: the total size of the non-ignored
files that are new or changed since the previous snapshot (for the first snapshot, the whole
non-ignored tree). Over the cap, :class:`SnapshotTooLarge` is raised, naming the biggest
top-level paths so they can be added to ``.gitignore``, and nothing is pushed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import llm

from ..errors import CodingAgentError

__all__ = [
    "UndoError",
    "SnapshotTooLarge",
    "UndoResult",
    "UndoHistory",
    "default_cache_dir",
]

REF_PREFIX = "refs/llm-code/undo/"

# Highest-precedence attributes: no eol conversion, no filters, no ident expansion, no
# re-encoding, whatever the project's .gitattributes says.
_ATTRIBUTES = "* -text -eol -filter -ident -diff -merge -working-tree-encoding\n"

# Passed with -c on every call, so neither the side repo's config file nor anything else can
# switch conversions, hooks or fsmonitor back on.
_CONFIG = (
    "core.bare=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.eol=lf",
    "core.fileMode=true",
    "core.symlinks=true",
    "core.ignoreCase=false",
    "core.precomposeUnicode=false",
    "core.quotePath=false",
    "core.fsmonitor=false",
    "core.untrackedCache=true",
    "core.splitIndex=false",
    "core.sparseCheckout=false",
    "core.logAllRefUpdates=false",
    f"core.hooksPath={os.devnull}",
    f"core.excludesFile={os.devnull}",
    "index.sparse=false",
    "init.defaultBranch=undo",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.addEmbeddedRepo=false",
    "advice.addIgnoredFile=false",
)

_SUMMARY_LIMIT = 10
#: An index lock older than this was left behind by a process that died.
STALE_LOCK_SECONDS = 120
#: Once snapshots are being dropped, unreachable objects are collected every this many snapshots.
_GC_EVERY = 20


class UndoError(CodingAgentError):
    """Undo cannot be carried out (nothing to undo, git missing or failing)."""


class SnapshotTooLarge(UndoError):
    """A snapshot would store more than ``max_bytes``; no snapshot was taken."""

    def __init__(self, message: str, size: int, limit: int, largest: list[tuple[str, int]]):
        super().__init__(message)
        self.size = size
        self.limit = limit
        self.largest = largest


@dataclass
class UndoResult:
    """What an :meth:`UndoHistory.undo` call changed, relative to the tree before it ran."""

    label: str
    restored: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the user, e.g. ``Reverted turn 'fix': restored a.py; removed new.py``."""
        head = f"Reverted turn {self.label!r}" if self.label else "Reverted the last turn"
        parts = []
        for verb, paths in (
            ("restored", self.restored),
            ("recreated", self.recreated),
            ("removed", self.removed),
        ):
            if paths:
                shown = ", ".join(paths[:_SUMMARY_LIMIT])
                if len(paths) > _SUMMARY_LIMIT:
                    shown += f" and {len(paths) - _SUMMARY_LIMIT} more"
                parts.append(f"{verb} {shown}")
        return f"{head}: " + ("; ".join(parts) if parts else "nothing had changed")


@dataclass
class _Snapshot:
    number: int
    ref: str
    commit: str


def default_cache_dir(root: Path) -> Path:
    """Where snapshots of ``root`` are kept unless a ``cache_dir`` is given."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(root))).hexdigest()[:16]
    return Path(llm.user_dir()) / "llm-code" / "undo" / digest


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _split_z(data: bytes) -> list[str]:
    # surrogateescape keeps undecodable file names round-trippable through os.fsencode.
    return [os.fsdecode(item) for item in data.split(b"\0") if item]


def _literal_exclude(path: str) -> str:
    return f":(top,literal,exclude){path}"


def _gitignore_escape(path: str) -> str:
    escaped = "".join("\\" + ch if ch in "\\*?[" else ch for ch in path)
    if escaped[:1] in ("#", "!"):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _under(path: str, dirs: set[str]) -> bool:
    if not dirs:
        return False
    parts = path.rstrip("/").split("/")
    return any("/".join(parts[:i]) in dirs for i in range(1, len(parts) + 1))


class UndoHistory:
    """A stack of working-tree snapshots of ``root``, stored in a side git repository.

    ``cache_dir`` holds the side repository (``git/``) and its index; by default it lives under
    ``llm.user_dir()`` keyed by the root's path, so reopening the same project continues the
    same stack. ``max_bytes`` caps how much new or changed content one snapshot may store.
    """

    def __init__(
        self,
        root: Path,
        cache_dir: Path | None = None,
        max_bytes: int = 100 * 1024 * 1024,
        max_snapshots: int = 100,
    ):
        real = Path(os.path.realpath(os.path.expanduser(os.fspath(root))))
        if not real.is_dir():
            raise UndoError(f"root directory does not exist: {root}")
        self.root = real
        self.cache_dir = Path(
            os.path.abspath(cache_dir) if cache_dir is not None else default_cache_dir(real)
        )
        self.max_bytes = max_bytes
        #: Undo points kept; older ones are dropped (and their objects collected now and then).
        self.max_snapshots = max_snapshots
        self._git_dir = self.cache_dir / "git"
        self._index = self.cache_dir / "index"
        self._env = self._scrubbed_env()
        self._ready = False

    # ------------------------------------------------------------------ public API

    @property
    def depth(self) -> int:
        """How many snapshots can be undone."""
        if not (self._git_dir / "HEAD").exists():
            return 0
        return len(self._stack())

    def snapshot(self, label: str = "") -> str:
        """Record the current working tree as a new undo point and return its commit id.

        Raises :class:`SnapshotTooLarge` (and records nothing) when the new or changed
        non-ignored files would exceed ``max_bytes``.
        """
        self._ensure_repo()
        tracked = set(_split_z(self._git("ls-files", "-z", "--cached")))
        candidates = _split_z(
            self._git("ls-files", "-z", "--others", "--modified", "--exclude-standard")
        )
        stale_ignored = _split_z(
            self._git("ls-files", "-z", "--cached", "--ignored", "--exclude-standard")
        )
        nested = self._nested_repos(tracked | set(candidates))
        stale_ignored_set = set(stale_ignored)

        to_store = [
            p
            for p in candidates
            if not p.endswith("/") and not _under(p, nested) and p not in stale_ignored_set
        ]
        self._check_size(to_store)

        # Tracked entries that are now ignored, or now inside a nested repository, must leave
        # the side index; `add -A` keeps tracked paths whatever the ignore rules say.
        drop = stale_ignored_set | {p for p in tracked if _under(p, nested)}
        if drop:
            payload = b"".join(os.fsencode(p) + b"\0" for p in sorted(drop))
            self._git("update-index", "-z", "--force-remove", "--stdin", input=payload)
        self._git("add", "-A", "--", ".", *(_literal_exclude(d) for d in sorted(nested)))
        tree = self._git("write-tree").decode().strip()

        stack = self._stack()
        # git refuses commit messages containing NUL; a label is only for display anyway.
        message = label.replace("\0", "").encode("utf-8", "surrogateescape")
        # No parent: the stack lives in the refs, and a parent chain would keep every dropped
        # snapshot reachable (so never collected).
        commit = self._git("commit-tree", tree, input=message).decode().strip()
        number = stack[-1].number + 1 if stack else 1
        # The empty old-value makes the update fail rather than clobber a concurrent push.
        self._git("update-ref", f"{REF_PREFIX}{number:08d}", commit, "")
        self._prune(stack, number)
        return commit

    def _prune(self, stack: list[_Snapshot], newest: int) -> None:
        """Drop the undo points beyond ``max_snapshots``; collect their objects every
        ``_GC_EVERY`` snapshots (git's own auto-gc is off so a turn never pays for it unasked)."""
        excess = len(stack) + 1 - self.max_snapshots
        for old in stack[: max(0, excess)]:
            self._git("update-ref", "-d", old.ref, old.commit)
        if excess > 0 and newest % _GC_EVERY == 0:
            self._git("gc", "--quiet", "--prune=now")

    def undo(self) -> UndoResult:
        """Restore the tree to the latest snapshot, pop it, and report what changed.

        Files changed or deleted since the snapshot are written back with their exact bytes
        and executable bit; non-ignored files created since are deleted. Ignored files and
        nested repositories are left alone. Raises :class:`UndoError` when there is nothing
        to undo.
        """
        if not (self._git_dir / "HEAD").exists():
            raise UndoError("nothing to undo")
        self._ensure_repo()
        stack = self._stack()
        if not stack:
            raise UndoError("nothing to undo")
        top = stack[-1]
        label = self._label(top.commit)

        changes, nested = self._diff_against(top.commit)
        pre_extras = self._untracked(nested)

        to_checkout = sorted(changes)
        if to_checkout:
            payload = b"".join(os.fsencode(p) + b"\0" for p in to_checkout)
            self._git("checkout-index", "-f", "-u", "-z", "--stdin", input=payload)

        # Listed again after checkout so the snapshot's own .gitignore files decide what is
        # "extra": a file the turn made ignorable by editing .gitignore still goes.
        post_extras = self._untracked(nested)
        for path in sorted(post_extras, key=lambda p: p.count("/"), reverse=True):
            self._remove_file(path)
        removed = set(post_extras)
        for path in pre_extras:
            full = self.root / path
            if not os.path.lexists(full) or (full.is_dir() and not full.is_symlink()):
                removed.add(path)

        self._git("update-ref", "-d", top.ref, top.commit)
        return UndoResult(
            label=label,
            restored=sorted(p for p, status in changes.items() if status != "D"),
            recreated=sorted(p for p, status in changes.items() if status == "D"),
            removed=sorted(removed),
        )

    def changed_files(self) -> list[str]:
        """Paths (relative, ``/``-separated) that differ from the latest snapshot.

        Includes modified, deleted and newly created non-ignored files; empty when there is
        no snapshot.
        """
        if not (self._git_dir / "HEAD").exists():
            return []
        self._ensure_repo()
        stack = self._stack()
        if not stack:
            return []
        changes, nested = self._diff_against(stack[-1].commit)
        return sorted(set(changes) | self._untracked(nested))

    # ------------------------------------------------------------------ internals

    def _scrubbed_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        identity = "llm-code undo"
        email = "undo@llm-code.invalid"
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_ATTR_NOSYSTEM="1",
            # Older gits ignore GIT_CONFIG_GLOBAL; a HOME without .gitconfig covers them.
            HOME=str(self.cache_dir),
            XDG_CONFIG_HOME=str(self.cache_dir / "xdg"),
            GIT_INDEX_FILE=str(self._index),
            GIT_TERMINAL_PROMPT="0",
            GIT_AUTHOR_NAME=identity,
            GIT_AUTHOR_EMAIL=email,
            GIT_COMMITTER_NAME=identity,
            GIT_COMMITTER_EMAIL=email,
            LC_ALL="C",
        )
        return env

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        cmd = ["git", f"--git-dir={self._git_dir}", f"--work-tree={self.root}"]
        for item in _CONFIG:
            cmd += ["-c", item]
        cmd += args
        try:
            proc = subprocess.run(
                cmd,
                cwd=self.root,
                env=self._env,
                input=input if input is not None else b"",
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise UndoError("undo needs git, which is not installed or not on PATH") from exc
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise UndoError(f"git {args[0]} failed (exit {proc.returncode}): {err}")
        return proc.stdout

    def _clear_stale_lock(self) -> None:
        """Remove an index lock left by a crashed or killed process: git would refuse every later
        snapshot ("index.lock: File exists"). A live git command holds it for seconds at most."""
        lock = self.cache_dir / "index.lock"
        try:
            age = time.time() - lock.stat().st_mtime
        except OSError:
            return
        if age > STALE_LOCK_SECONDS:
            try:
                lock.unlink()
            except OSError:
                pass

    def _ensure_repo(self) -> None:
        self._clear_stale_lock()
        if self._ready:
            return
        if not (self._git_dir / "HEAD").exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                subprocess.run(
                    ["git", "-c", "init.defaultBranch=undo", "init", "--bare", "--quiet",
                     "--template=", str(self._git_dir)],
                    env=self._env,
                    cwd=self.cache_dir,
                    check=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            except FileNotFoundError as exc:
                raise UndoError("undo needs git, which is not installed or not on PATH") from exc
            except subprocess.CalledProcessError as exc:
                err = exc.stderr.decode("utf-8", "replace").strip()
                raise UndoError(f"could not create the undo store in {self._git_dir}: {err}")
        info = self._git_dir / "info"
        info.mkdir(exist_ok=True)
        # Rewritten every time: a stale or edited copy would silently change what is stored.
        (info / "attributes").write_text(_ATTRIBUTES)
        excludes = ""
        try:
            inside = self.cache_dir.relative_to(self.root)
        except ValueError:
            inside = None
        if inside is not None and inside.parts:
            excludes = "/" + _gitignore_escape(inside.as_posix()) + "/\n"
        (info / "exclude").write_text(excludes)
        self._ready = True

    def _stack(self) -> list[_Snapshot]:
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
        stack = []
        for line in out.decode().splitlines():
            ref, _, commit = line.partition(" ")
            name = ref[len(REF_PREFIX):]
            if name.isdigit():
                stack.append(_Snapshot(int(name), ref, commit))
        stack.sort(key=lambda s: s.number)
        return stack

    def _label(self, commit: str) -> str:
        raw = self._git("cat-file", "commit", commit)
        _, _, message = raw.partition(b"\n\n")
        return message.decode("utf-8", "replace")

    def _nested_repos(self, paths: Iterable[str]) -> set[str]:
        """Outermost directories among the ancestors of ``paths`` that contain a ``.git``.

        ``paths`` may include git's own ``dir/`` entries for repositories it recognised.
        """
        candidates: set[str] = set()
        for path in paths:
            parts = path.rstrip("/").split("/")
            # A "dir/" entry is itself the repository; for files only the parents count.
            upto = len(parts) if path.endswith("/") else len(parts) - 1
            for i in range(1, upto + 1):
                candidates.add("/".join(parts[:i]))
        nested = {
            d
            for d in candidates
            if os.path.lexists(os.path.join(self.root, d, ".git"))
        }
        return {d for d in nested if not _under(d.rpartition("/")[0], nested)} if nested else nested

    def _check_size(self, paths: list[str]) -> None:
        total = 0
        by_top: dict[str, int] = {}
        for path in paths:
            try:
                size = os.lstat(os.path.join(self.root, path)).st_size
            except OSError:
                continue
            total += size
            head, sep, _ = path.partition("/")
            key = head + "/" if sep else head
            by_top[key] = by_top.get(key, 0) + size
        if total <= self.max_bytes:
            return
        largest = sorted(by_top.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        listing = ", ".join(f"{name} ({_human(size)})" for name, size in largest)
        suggestion = largest[0][0] if largest else "big-directory/"
        raise SnapshotTooLarge(
            f"undo snapshot not taken: {_human(total)} of new or changed files would be "
            f"stored, over the {_human(self.max_bytes)} limit. Largest: {listing}. "
            f"Add generated or bulky paths to .gitignore (for example a line "
            f"'/{suggestion}') so undo skips them, or raise the limit.",
            size=total,
            limit=self.max_bytes,
            largest=largest,
        )

    def _diff_against(self, commit: str) -> tuple[dict[str, str], set[str]]:
        """Load ``commit`` into the side index and diff the working tree against it.

        Returns ``{path: status}`` (``M`` content, ``T`` type, ``D`` deleted) plus the nested
        repositories that were left out.
        """
        # `--reset` is a one-tree merge: entries whose blob is unchanged keep their cached stat
        # data, so the refresh only rehashes files that really moved. Plain `-m` would refuse
        # when the index (left at an older undo point) and the working tree both differ.
        self._git("read-tree", "--reset", commit)
        self._git("update-index", "-q", "--refresh")
        tracked = _split_z(self._git("ls-files", "-z", "--cached"))
        nested = self._nested_repos(tracked)
        fields = _split_z(self._git("diff-files", "-z", "--name-status"))
        changes: dict[str, str] = {}
        for status, path in zip(fields[::2], fields[1::2]):
            if not _under(path, nested):
                changes[path] = status[0]
        return changes, nested

    def _untracked(self, nested: set[str]) -> set[str]:
        out = self._git(
            "ls-files", "-z", "--others", "--exclude-standard", "--", ".",
            *(_literal_exclude(d) for d in sorted(nested)),
        )
        paths = _split_z(out)
        # Entries ending in "/" are repositories git found on its own; a `.git` git does not
        # accept as a repository still makes its directory opaque, as it does for snapshots.
        nested = nested | self._nested_repos(paths)
        return {p for p in paths if not p.endswith("/") and not _under(p, nested)}

    def _remove_file(self, path: str) -> None:
        full = os.path.join(self.root, path)
        try:
            os.unlink(full)
        except FileNotFoundError:
            return
        except IsADirectoryError:
            return
        # Drop directories the deletion left empty so a created tree disappears entirely.
        parent = os.path.dirname(full)
        root = os.fspath(self.root)
        while parent != root and parent.startswith(root + os.sep):
            try:
                os.rmdir(parent)
            except OSError:
                break
            parent = os.path.dirname(parent)
