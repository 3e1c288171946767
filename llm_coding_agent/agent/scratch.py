"""Scratch copies of a project: somewhere an agent can change files without touching the user's tree.

A scratch copy starts from what the user sees now, not just from the last commit: in a git
repository it is a ``git worktree`` of ``HEAD`` with the uncommitted changes (staged, unstaged and
untracked files that are not ignored) copied over and committed there as the *base*; in any
other directory it is a plain copy, with a private git directory outside the copy recording the
base (so the agent's commands see the project exactly as it is, without a ``.git`` it never had).
Whatever the agent does in the copy is then read back as :class:`FileChange` objects (or a diff)
against that base, so the user's own uncommitted work is never counted as the agent's.

Used by ``llm code batch`` (cli/batch.py: one kept worktree and branch per task) and by
``--attempts`` (agent/attempts.py: throw-away copies, the best one's changes applied).
Files the test runs leave behind (``__pycache__``, ``*.pyc``, ``.pytest_cache``) are never changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CodingAgentError

__all__ = ["Scratch", "ScratchError", "FileChange", "create_scratch", "git_toplevel", "diff_stat"]

#: Left out of every scratch diff: what running Python tests writes.
_NOISE = ("__pycache__", ".pytest_cache")
_PATHSPEC = (".", ":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc", ":(exclude,glob)**/.pytest_cache/**")
#: Options on every git call: no hooks, no signing, no pager, no rename guessing.
_CONFIG = ("-c", f"core.hooksPath={os.devnull}", "-c", "commit.gpgsign=false", "-c", "core.quotePath=false")
_FALLBACK_IDENTITY = ("llm-code", "llm-code@localhost")


class ScratchError(CodingAgentError):
    """A scratch copy could not be made, read or removed (git failing, disk full...)."""


@dataclass
class FileChange:
    """One file a scratch copy changed, relative to the project root: ``before`` is None for a
    new file, ``after`` None for a deleted one."""

    path: str
    before: bytes | None
    after: bytes | None

    @property
    def binary(self) -> bool:
        """Either side is not UTF-8 text (such a change cannot go through ``write_file``)."""
        for data in (self.before, self.after):
            if data is None:
                continue
            if b"\0" in data:
                return True
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return True
        return False

    def changed_lines(self) -> int:
        """Lines added plus lines removed (a binary file counts as one)."""
        if self.binary:
            return 1
        import difflib

        before = (self.before or b"").decode().splitlines()
        after = (self.after or b"").decode().splitlines()
        return sum(
            1 for line in difflib.unified_diff(before, after, lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        )


def diff_stat(changes: list[FileChange]) -> str:
    """``"2 files, +5 -1"`` style summary (lines counted as in a unified diff)."""
    if not changes:
        return "no changes"
    lines = sum(c.changed_lines() for c in changes)
    return f"{len(changes)} file{'s' if len(changes) != 1 else ''}, {lines} line{'s' if lines != 1 else ''} changed"


def _clean_env() -> dict[str, str]:
    # A GIT_DIR or GIT_INDEX_FILE inherited from a hook would point every call at the wrong repo.
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _run_git(args: list[str], cwd: Path, input: bytes | None = None, env: dict | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *_CONFIG, *args], cwd=cwd, input=input, capture_output=True, env=env or _clean_env(),
        )
    except FileNotFoundError:
        raise ScratchError("git is not installed; scratch copies need it") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ScratchError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def git_toplevel(path: Path) -> Path | None:
    """The top of the git work tree holding ``path``, when it is one with at least one commit."""
    try:
        top = _run_git(["rev-parse", "--show-toplevel"], path).decode().strip()
        _run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], path)
    except ScratchError:
        return None
    return Path(top).resolve()


def _split_z(data: bytes) -> list[str]:
    return [p.decode() for p in data.split(b"\0") if p]


@dataclass
class Scratch:
    """A scratch copy of the project at ``source``: the project's root inside it is ``path``."""

    source: Path
    path: Path
    kind: str
    """``worktree`` (git) or ``copy``."""
    top: Path
    """The worktree's (or copy's) top directory: removed with it."""
    branch: str | None = None
    base: str = ""
    """The commit holding the starting state (HEAD plus the user's uncommitted changes)."""
    carried_uncommitted: bool = False
    """The user's uncommitted changes were copied in (and are the base commit)."""
    _git_dir: Path | None = field(default=None, repr=False)
    _repo: Path | None = field(default=None, repr=False)
    _own_parent: Path | None = field(default=None, repr=False)

    def git(self, *args: str, input: bytes | None = None, env: dict | None = None) -> bytes:
        """Run git on the scratch copy, from its project root."""
        if self._git_dir is not None:
            prefix = [f"--git-dir={self._git_dir}", f"--work-tree={self.top}", "-c", "core.bare=false"]
            return _run_git([*prefix, *args], self.path, input, env)
        return _run_git(list(args), self.path, input, env)

    def _stage(self) -> None:
        self.git("add", "-A", "--", *_PATHSPEC)

    def _commit(self, message: str, identity: tuple[str, str] = _FALLBACK_IDENTITY) -> str:
        env = _clean_env()
        env.update(GIT_AUTHOR_NAME=identity[0], GIT_AUTHOR_EMAIL=identity[1],
                   GIT_COMMITTER_NAME=identity[0], GIT_COMMITTER_EMAIL=identity[1])
        self.git("commit", "--quiet", "--no-verify", "--allow-empty", "-m", message, env=env)
        return self.git("rev-parse", "HEAD").decode().strip()

    def changes(self) -> list[FileChange]:
        """What was changed in the copy since the base, under the project root."""
        self._stage()
        names = _split_z(self.git("diff", "--cached", "--name-only", "-z", "--no-renames", "--relative",
                                  self.base, "--", *_PATHSPEC))
        found = []
        for name in names:
            before = self._base_content(name)
            file = self.path / name
            after = file.read_bytes() if file.is_file() else None  # a dangling link counts as deleted
            if before != after:
                found.append(FileChange(name, before, after))
        return found

    def _base_content(self, name: str) -> bytes | None:
        try:
            return self.git("show", f"{self.base}:./{name}")
        except ScratchError:
            return None

    def diff(self) -> str:
        """The copy's changes since the base as a git diff (``git apply`` / ``patch -p1`` take it)."""
        self._stage()
        return self.git("diff", "--cached", "--binary", "--no-renames", "--relative", self.base, "--",
                        *_PATHSPEC).decode(errors="replace")

    def commit_changes(self, message: str) -> str | None:
        """Commit the changes since the base on the worktree's branch; None when there are none.
        Uses the repository's own identity when it has one."""
        self._stage()
        if not self.git("diff", "--cached", "--name-only", self.base, "--", *_PATHSPEC).strip():
            return None
        return self._commit(message, self._identity())

    def _identity(self) -> tuple[str, str]:
        values = []
        for key, fallback in zip(("user.name", "user.email"), _FALLBACK_IDENTITY):
            try:
                values.append(self.git("config", key).decode().strip() or fallback)
            except ScratchError:
                values.append(fallback)
        return values[0], values[1]

    def remove(self, delete_branch: bool = True) -> None:
        """Delete the copy (and, for a worktree, its registration and branch). Safe to call twice."""
        if self._repo is not None and self.top.exists():
            try:
                _run_git(["worktree", "remove", "--force", str(self.top)], self._repo)
            except ScratchError:
                pass  # removed below, and pruned from the repository's list
        if self.top.exists():
            shutil.rmtree(self.top, ignore_errors=True)
        if self._git_dir is not None and self._git_dir.exists():
            shutil.rmtree(self._git_dir, ignore_errors=True)
        if self._repo is not None:
            try:
                _run_git(["worktree", "prune"], self._repo)
                if delete_branch and self.branch:
                    _run_git(["branch", "-D", "--quiet", self.branch], self._repo)
            except ScratchError:
                pass
        if self._own_parent is not None:
            shutil.rmtree(self._own_parent, ignore_errors=True)


def _copy_untracked(repo: Path, worktree: Path) -> bool:
    names = _split_z(_run_git(["ls-files", "--others", "--exclude-standard", "-z"], repo))
    copied = False
    for name in names:
        source = repo / name
        if set(Path(name).parts) & set(_NOISE) or name.endswith(".pyc"):
            continue
        target = worktree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)
        else:
            continue  # an untracked nested repository or socket: not the project's files
        copied = True
    return copied


def create_scratch(root: Path | str, parent: Path | str | None = None, name: str = "scratch",
                   branch: str | None = None) -> Scratch:
    """A scratch copy of the project at ``root``, in ``parent`` (a new temporary directory when
    None) under ``name``: a git worktree (on ``branch``, else detached) when ``root`` is in a git
    repository with a commit, else a copy. Raises :class:`ScratchError` when it cannot be made."""
    root = Path(root).resolve()
    own_parent = None
    if parent is None:
        parent = own_parent = Path(tempfile.mkdtemp(prefix="llm-code-scratch-"))
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    top = parent / name
    if top.exists():
        raise ScratchError(f"{top} already exists")
    repo = git_toplevel(root)
    if repo is None:
        return _create_copy(root, top, own_parent)
    where = ["-b", branch] if branch else ["--detach"]
    try:
        _run_git(["worktree", "add", "--quiet", *where, str(top), "HEAD"], repo)
    except ScratchError:
        if own_parent is not None:
            shutil.rmtree(own_parent, ignore_errors=True)
        raise
    scratch = Scratch(source=root, path=top / root.relative_to(repo), kind="worktree", top=top,
                      branch=branch, _repo=repo, _own_parent=own_parent)
    try:
        # The user's uncommitted state: tracked changes as a binary diff, untracked files copied.
        patch = _run_git(["diff", "HEAD", "--binary", "--no-renames"], repo)
        if patch.strip():
            _run_git(["apply", "--binary", "--whitespace=nowarn", "-"], top, input=patch)
        carried = _copy_untracked(repo, top) or bool(patch.strip())
        scratch.path.mkdir(parents=True, exist_ok=True)
        if carried:
            scratch.git("add", "-A", "--", ":/", ":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc")
            scratch.base = scratch._commit(f"llm-code: uncommitted changes of {repo} when the copy was made")
        else:
            scratch.base = scratch.git("rev-parse", "HEAD").decode().strip()
        scratch.carried_uncommitted = carried
    except BaseException:
        scratch.remove()
        raise
    return scratch


def _create_copy(root: Path, top: Path, own_parent: Path | None) -> Scratch:
    git_dir = top.with_name(top.name + ".git")
    scratch = Scratch(source=root, path=top, kind="copy", top=top, _git_dir=git_dir, _own_parent=own_parent)
    try:
        shutil.copytree(root, top, symlinks=True, ignore=shutil.ignore_patterns(*_NOISE, "*.pyc"))
        _run_git(["init", "--quiet", f"--separate-git-dir={git_dir}", str(top)], top.parent)
        (top / ".git").unlink()  # the copy stays without a .git, as the project was
        scratch._stage()
        scratch.base = scratch._commit(f"llm-code: {root} when the copy was made")
    except BaseException:
        scratch.remove()
        raise
    return scratch
