"""The benchmark task suite: loading tasks, preparing fresh copies, running checks.

A task lives in ``bench/tasks/<name>/``:

- ``repo/``            the files the agent sees (copied to a fresh, git-initialised dir)
- ``task.md``          the request, as a user would type it
- ``check/``           hidden tests, copied in only after the agent has finished:
                       either ``check.py`` (exit 0 = solved) or pytest files
- ``meta.json``        optional: ``time_limit`` (s), ``tags``, ``smoke: true``
- ``reference.patch``  a reference fix (``git apply``), used only to validate the task

This module needs only the standard library (plus pytest to run pytest-style checks).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
TASKS_DIR = BENCH_DIR / "tasks"
CHECK_DIRNAME = "_bench_check"
DEFAULT_TIME_LIMIT = 300

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class Task:
    name: str
    path: Path
    prompt: str
    time_limit: int = DEFAULT_TIME_LIMIT
    smoke: bool = False
    tags: list = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.path / "repo"

    @property
    def check_dir(self) -> Path:
        return self.path / "check"

    @property
    def reference_patch(self) -> Path:
        return self.path / "reference.patch"


def load_task(path: Path) -> Task:
    path = Path(path)
    meta = {}
    if (path / "meta.json").exists():
        meta = json.loads((path / "meta.json").read_text())
    return Task(
        name=path.name,
        path=path,
        prompt=(path / "task.md").read_text().strip(),
        time_limit=int(meta.get("time_limit", DEFAULT_TIME_LIMIT)),
        smoke=bool(meta.get("smoke", False)),
        tags=list(meta.get("tags", [])),
    )


def load_tasks(names=None, smoke=False, tasks_dir: Path = TASKS_DIR) -> list[Task]:
    """All tasks (sorted by name), or the named ones, or only the smoke ones."""
    found = {
        p.name: p for p in sorted(Path(tasks_dir).iterdir())
        if p.is_dir() and (p / "task.md").exists() and (p / "repo").is_dir()
    }
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            raise KeyError(f"unknown task(s): {', '.join(missing)}; known: {', '.join(found)}")
        tasks = [load_task(found[n]) for n in names]
    else:
        tasks = [load_task(p) for p in found.values()]
    if smoke:
        tasks = [t for t in tasks if t.smoke]
    return tasks


def git(cwd, *args, check=True):
    env = {**os.environ, **_GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=check,
                          capture_output=True, text=True)


def prepare_workdir(task: Task, dest: Path) -> Path:
    """Copy the task's repo to ``dest`` (created) and make it a git repo with one commit."""
    dest = Path(dest)
    shutil.copytree(task.repo, dest, dirs_exist_ok=True)
    git(dest, "init", "-q", "-b", "main")
    (dest / ".git" / "info").mkdir(parents=True, exist_ok=True)
    (dest / ".git" / "info" / "exclude").write_text("__pycache__/\n*.pyc\n.pytest_cache/\n")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "Initial commit", "--no-gpg-sign")
    return dest


def workdir_diff(workdir: Path, max_chars: int = 20000) -> tuple[str, str]:
    """(diff --stat, diff) of everything changed since the initial commit, new files included."""
    git(workdir, "add", "-A", check=False)
    first = git(workdir, "rev-list", "--max-parents=0", "HEAD", check=False).stdout.split()
    base = first[-1] if first else "HEAD"
    stat = git(workdir, "diff", "--cached", "--stat", base, check=False).stdout
    diff = git(workdir, "diff", "--cached", base, check=False).stdout
    if len(diff) > max_chars:
        diff = diff[:max_chars] + f"\n... [{len(diff) - max_chars} more characters]\n"
    return stat, diff


def apply_patch(workdir: Path, patch: Path):
    """Apply a unified diff with ``git apply`` (raises CalledProcessError on failure)."""
    git(workdir, "apply", "--whitespace=nowarn", str(Path(patch).resolve()))


@dataclass
class CheckResult:
    passed: bool
    output: str
    seconds: float = 0.0


def run_check(task: Task, workdir: Path, timeout: float = 120) -> CheckResult:
    """Copy the hidden check into ``workdir/_bench_check`` and run it there.

    ``check.py`` is run with the current interpreter (exit 0 = solved); otherwise
    the pytest files in check/ are run with pytest (plugins not autoloaded, so
    it starts fast and the agent's copy cannot change the outcome via plugins).
    """
    import time

    workdir = Path(workdir)
    target = workdir / CHECK_DIRNAME
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(task.check_dir, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({
        "PYTHONPATH": str(workdir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    })
    if (target / "check.py").exists():
        cmd = [sys.executable, str(target / "check.py")]
    else:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--import-mode=importlib", "--rootdir", str(workdir),
               "-c", os.devnull, "--tb=short", CHECK_DIRNAME]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        passed, output = proc.returncode == 0, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        passed, output = False, f"check timed out after {timeout}s\n{exc.stdout or ''}"
    finally:
        shutil.rmtree(target, ignore_errors=True)
    return CheckResult(passed=passed, output=output, seconds=time.monotonic() - start)


def validate_task(task: Task, tmp_root: Path) -> list[str]:
    """Problems with a task (empty list = valid): the hidden check must FAIL on
    the untouched repo and PASS once ``reference.patch`` is applied."""
    import tempfile

    problems = []
    if not task.prompt:
        problems.append("task.md is empty")
    if not task.check_dir.is_dir():
        return problems + ["check/ is missing"]
    if not task.reference_patch.exists():
        return problems + ["reference.patch is missing"]
    with tempfile.TemporaryDirectory(dir=tmp_root) as before, \
            tempfile.TemporaryDirectory(dir=tmp_root) as after:
        shutil.copytree(task.repo, before, dirs_exist_ok=True)
        result = run_check(task, Path(before))
        if result.passed:
            problems.append("check passes on the untouched repo")
        shutil.copytree(task.repo, after, dirs_exist_ok=True)
        proc = subprocess.run(["git", "apply", "--whitespace=nowarn",
                               str(task.reference_patch.resolve())],
                              cwd=after, capture_output=True, text=True)
        if proc.returncode != 0:
            problems.append(f"reference.patch does not apply: {proc.stderr.strip()}")
        else:
            result = run_check(task, Path(after))
            if not result.passed:
                problems.append("check fails after reference.patch:\n" + result.output[-2000:])
    return problems
