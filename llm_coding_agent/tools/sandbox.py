"""Bubblewrap confinement for model-written shell commands (Linux only).

The policy is deliberately simple so it can be explained to the user in one sentence: the command
sees the whole filesystem read-only, may write only inside the project root and a private ``/tmp``,
has no network unless asked for, and cannot outlive the tool call. (The host's ``/tmp`` is hidden,
except the running interpreter's and the active virtual environment's directories, read-only.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import ToolError
from .paths import is_within

__all__ = [
    "SandboxConfig",
    "SandboxUnavailable",
    "bwrap_problem",
    "find_bwrap",
    "interpreter_paths",
    "probe_in_background",
    "wrap_argv",
]


class SandboxUnavailable(ToolError):
    """A sandbox was requested but bubblewrap cannot run here; nothing was executed.

    ``reason`` is a one-line explanation suitable for showing to the user, who decides whether to
    run unsandboxed. Running unsandboxed silently would defeat the point of asking for a sandbox.
    """

    def __init__(self, reason: str):
        super().__init__(f"sandbox unavailable: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class SandboxConfig:
    """Where a sandboxed command may write (``root``), whether it may use the network, and
    whether the root is read-only too (``read_only``: plan mode, where nothing may change)."""

    root: Path
    network: bool = False
    read_only: bool = False

    def __post_init__(self) -> None:
        # Canonicalise once: a symlinked root would otherwise be bound at the link path while the
        # command's cwd (and every path the tools compute) uses the real one.
        object.__setattr__(self, "root", Path(os.path.realpath(os.fspath(self.root))))


def find_bwrap() -> str | None:
    """Absolute path of the ``bwrap`` executable on ``PATH``, or ``None``."""
    return shutil.which("bwrap")


#: bwrap path (or None) -> problem (or None). Keyed by path so a changed lookup is re-probed.
_PROBLEMS: dict[str | None, str | None] = {}

_PROBE_TIMEOUT = 15.0


def bwrap_problem() -> str | None:
    """``None`` when bubblewrap is installed and can start a sandbox here, else a one-line reason.

    The probe runs ``true`` under exactly the policy :func:`wrap_argv` produces, because the usual
    failures (no unprivileged user namespaces, a container without ``CAP_SYS_ADMIN``, a seccomp
    filter) only show up when the namespaces are actually created. The result is cached per process.
    """
    bwrap = find_bwrap()
    if bwrap in _PROBLEMS:
        return _PROBLEMS[bwrap]
    with _PROBING:  # a probe already running (probe_in_background) is waited for, not repeated
        if bwrap in _PROBLEMS:
            return _PROBLEMS[bwrap]
        if bwrap is None:
            problem: str | None = "bwrap not found; install the bubblewrap package"
        else:
            problem = _probe(bwrap)
        _PROBLEMS[bwrap] = problem
        return problem


_PROBING = threading.Lock()


def probe_in_background() -> None:
    """Start :func:`bwrap_problem` in a thread, so that its answer is ready (or nearly) when it is
    first needed: ``llm code`` starts it before its imports, which the probe's process start and
    wait then overlap instead of adding to the time until the header and prompt show."""

    def probe() -> None:
        try:
            bwrap_problem()
        except Exception:  # noqa: BLE001 - nothing cached: the next call probes again and reports it
            pass

    threading.Thread(target=probe, name="llm-code-bwrap-probe", daemon=True).start()


def _probe(bwrap: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="llm-code-bwrap-probe-") as probe_root:
        argv = wrap_argv(["true"], SandboxConfig(Path(probe_root)), bwrap=bwrap)
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=_PROBE_TIMEOUT,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return f"bwrap cannot start here: a trivial sandbox did not finish in {_PROBE_TIMEOUT:g} s"
        except OSError as exc:
            return f"bwrap cannot start here: {exc}"
    if result.returncode != 0:
        detail = " ".join(result.stderr.decode("utf-8", "replace").split()) or (
            f"exit code {result.returncode}"
        )
        return f"bwrap cannot start here: {detail}"
    return None


#: Caches pointed into the private /tmp: $HOME is read-only in the sandbox, and without these
#: `pip install`, `npm install`, `go build` or `uv` fail on their cache before doing any work.
SANDBOX_CACHE_ENV = {
    "XDG_CACHE_HOME": "/tmp/.cache",
    "PIP_CACHE_DIR": "/tmp/.cache/pip",
    "npm_config_cache": "/tmp/.cache/npm",
    "YARN_CACHE_FOLDER": "/tmp/.cache/yarn",
    "GOCACHE": "/tmp/.cache/go-build",
    "UV_CACHE_DIR": "/tmp/.cache/uv",
}


#: Directories the sandbox replaces with empty ones (``--tmpfs``): host files there are hidden.
HIDDEN_DIRS = ("/tmp",)


def interpreter_paths(root: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Directories of the running Python and the active virtual environment that the sandbox's
    private ``/tmp`` would hide, to be shown read-only.

    A venv made under ``/tmp`` (``/tmp/venv``, or a checkout's venv beside the project) would
    otherwise vanish, and every ``python`` or ``pytest`` the model runs would fail with
    ``/tmp/venv/bin/python: No such file or directory``. Candidates are ``sys.prefix``,
    ``sys.base_prefix``, the directory of ``sys.executable`` and ``$VIRTUAL_ENV``, each both as
    written (what ``PATH`` and shebangs name) and resolved (where symlinks lead). Paths inside
    the root are left out (the root is bound writable anyway), and so are paths inside another
    candidate.
    """
    environ = os.environ if environ is None else environ
    seeds = [sys.prefix, sys.base_prefix, os.path.dirname(sys.executable or "")]
    if environ.get("VIRTUAL_ENV"):
        seeds.append(environ["VIRTUAL_ENV"])
    found: list[str] = []
    for seed in seeds:
        if not seed or not os.path.isabs(seed):
            continue
        for path in (os.path.normpath(seed), os.path.realpath(seed)):
            hidden = any(is_within(path, d) and path != d for d in HIDDEN_DIRS)
            if hidden and not is_within(path, str(root)) and os.path.isdir(path) and path not in found:
                found.append(path)
    return [p for p in found if not any(p != q and is_within(p, q) for q in found)]


def wrap_argv(
    argv: list[str],
    config: SandboxConfig,
    *,
    chdir: Path | None = None,
    bwrap: str | None = None,
) -> list[str]:
    """``argv`` prefixed with a bubblewrap invocation enforcing the sandbox policy.

    * ``/`` is bound read-only, with a fresh ``/dev`` and ``/proc`` and a private tmpfs ``/tmp``;
      package-manager caches are pointed into it (:data:`SANDBOX_CACHE_ENV`).
    * The interpreter's and the active venv's directories under ``/tmp`` are bound back read-only
      (:func:`interpreter_paths`); the rest of the host's ``/tmp`` stays hidden.
    * ``config.root`` is bound read-write at its own path (read-only with ``config.read_only``). It is bound after the ``/tmp`` tmpfs,
      otherwise a project living under ``/tmp`` would be hidden by the empty tmpfs, and after
      the read-only binds, so a root inside a venv directory stays writable.
    * Every namespace is unshared (so the network is gone, including ``127.0.0.1`` of the host)
      unless ``config.network`` re-shares the network namespace.
    * All capabilities are dropped: when the agent runs as root (containers, CI) a process keeping
      ``CAP_SYS_ADMIN`` could simply ``mount -o remount,rw /`` and undo the read-only view.
    * ``--die-with-parent`` and the PID namespace mean daemons started by the command die with it;
      ``--new-session`` stops the command from pushing keystrokes into the user's terminal.

    ``chdir`` (default: the root) must lie inside the root, since other places may be hidden.
    """
    root = config.root
    if not root.is_absolute() or str(root) == os.sep:
        raise ToolError(f"sandbox root must be an absolute directory other than /: {root}")
    workdir = Path(os.path.realpath(chdir)) if chdir is not None else root
    if not (workdir == root or str(workdir).startswith(str(root) + os.sep)):
        raise ToolError(f"sandboxed commands must run inside the project root {root}; got {workdir}")
    prefix = [
        bwrap or find_bwrap() or "bwrap",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
    ]
    for path in interpreter_paths(root):
        # -try: a venv deleted since it was found must not stop every command.
        prefix += ["--ro-bind-try", path, path]
    prefix += [
        "--ro-bind" if config.read_only else "--bind", str(root), str(root),
        "--unshare-all",
    ]
    if config.network:
        prefix.append("--share-net")
    for name, value in SANDBOX_CACHE_ENV.items():
        prefix += ["--setenv", name, value]
    prefix += [
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",
        "--chdir", str(workdir),
        "--",
    ]
    return prefix + list(argv)
