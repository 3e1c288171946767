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
import tempfile
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


_BATCH_SCRIPT = r"""
import contextlib, io, json, os, sys
import pytest
jobs = json.loads(sys.argv[1])
results = []
for workdir in jobs:
    before = set(sys.modules)
    sys.path.insert(0, workdir)
    os.environ["PYTHONPATH"] = workdir
    os.chdir(workdir)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = pytest.main(["-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                          "--rootdir", workdir, "-c", os.devnull, "--tb=short", "_bench_check"])
    sys.path.remove(workdir)
    for name in set(sys.modules) - before:
        f = getattr(sys.modules[name], "__file__", None) or ""
        if f.startswith(workdir) or name.startswith(("_bench_check", "test_check")):
            del sys.modules[name]
    results.append({"passed": int(rc) == 0, "output": out.getvalue()[-4000:]})
print(json.dumps(results))
"""


def run_checks_batch(jobs: list[tuple[Task, Path]], timeout: float = 300) -> list[CheckResult]:
    """Run many pytest-style checks in ONE interpreter (for validation: much cheaper than a
    pytest process per check). Modules loaded from each copy are dropped after its run.
    Real benchmark runs use run_check (a fresh process per check)."""
    for task, workdir in jobs:
        target = Path(workdir) / CHECK_DIRNAME
        shutil.copytree(task.check_dir, target, dirs_exist_ok=True)
        if (target / "check.py").exists():
            raise ValueError(f"{task.name}: check.py checks are not batchable")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    proc = subprocess.run([sys.executable, "-c", _BATCH_SCRIPT,
                           json.dumps([str(Path(w).resolve()) for _, w in jobs])],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        raise RuntimeError(f"batch check runner failed: {proc.stderr[-2000:]}")
    return [CheckResult(passed=r["passed"], output=r["output"])
            for r in json.loads(proc.stdout.strip().splitlines()[-1])]


def validate_tasks(tasks: list[Task], tmp_root: Path) -> dict[str, list[str]]:
    """Problems per task (empty list = valid): each hidden check must FAIL on the untouched
    repo and PASS once ``reference.patch`` is applied."""
    from concurrent.futures import ThreadPoolExecutor

    problems = {t.name: [] for t in tasks}
    before, after, batchable, single = [], [], [], []
    for task in tasks:
        if not task.prompt:
            problems[task.name].append("task.md is empty")
        if not task.check_dir.is_dir():
            problems[task.name].append("check/ is missing")
            continue
        if not task.reference_patch.exists():
            problems[task.name].append("reference.patch is missing")
            continue
        b = Path(tmp_root) / "before" / task.name
        a = Path(tmp_root) / "after" / task.name
        shutil.copytree(task.repo, b)
        shutil.copytree(task.repo, a)
        proc = subprocess.run(["git", "apply", "--whitespace=nowarn",
                               str(task.reference_patch.resolve())],
                              cwd=a, capture_output=True, text=True)
        if proc.returncode != 0:
            problems[task.name].append(f"reference.patch does not apply: {proc.stderr.strip()}")
            continue
        (single if (task.check_dir / "check.py").exists() else batchable).append(task)
        before.append((task, b))
        after.append((task, a))

    def run_group(jobs):
        batch = [(t, w) for t, w in jobs if t in batchable]
        results = dict(zip([t.name for t, _ in batch], run_checks_batch(batch))) if batch else {}
        for t, w in jobs:
            if t in single:
                results[t.name] = run_check(t, w)
        return results

    with ThreadPoolExecutor(2) as pool:
        before_results, after_results = pool.map(run_group, [before, after])
    for task, _ in before:
        if before_results[task.name].passed:
            problems[task.name].append("check passes on the untouched repo")
        if not after_results[task.name].passed:
            problems[task.name].append("check fails after reference.patch:\n"
                                       + after_results[task.name].output[-2000:])
    return problems
