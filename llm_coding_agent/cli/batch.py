"""``llm code batch TASKS_FILE``: independent tasks run in parallel, each headless in its own git
worktree (or a copy of a directory that is not a git repository), so that nothing touches the
user's working tree until they merge a task's branch.

Each task is a separate process running ``llm code -p TASK --json`` in its worktree, the same
headless session as any ``-p`` run: approvals follow the same rules (``--yolo``, ``--allow``; the
other ``llm code`` options given to ``batch`` are passed on), and the process pool is simply
``--jobs`` threads each waiting on one such process. A task's record is one line of the tasks file
(a task, or JSON ``{"task": ..., "dir": ...}``) and its outcome is one JSON object, which is what
lets a CI matrix or Ray run the same records on many machines (docs/architecture.md).

A task's worktree starts from ``HEAD`` plus the user's uncommitted changes (committed on its
branch first, as ``llm-code: uncommitted changes ...``); what the task changed is then committed
on top, on ``llm-code/batch-<id>-<n>``, and written as a patch beside the worktree.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..agent.scratch import Scratch, ScratchError, create_scratch
from ..config import SessionConfig
from .command import config_options

__all__ = ["batch_command", "Task", "TaskOutcome", "read_tasks", "forwarded_arguments"]

#: ``llm code`` options that ``batch`` sets itself or that make no sense per task.
NOT_FORWARDED = {"print_prompt", "json_output", "continue_", "conversation_id", "pick_session", "root"}
#: Exit statuses, as ``llm code -p``'s: all done, a task failed, a task stopped at a limit.
EXIT_OK, EXIT_ERROR, EXIT_LIMIT, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass
class Task:
    """One line of the tasks file."""

    number: int
    text: str
    directory: Path


@dataclass
class TaskOutcome:
    """How one task ended: what ``--json`` prints, one object per task."""

    task: int
    text: str
    status: str = "error"
    """``ok``, a stop reason (``limit``, ``max_turns``...), ``interrupted`` or ``error``."""
    tests_passed: bool | None = None
    files_changed: list[str] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    worktree: str = ""
    """The task's project directory inside its worktree (or copy); "" when the task changed
    nothing (its worktree and branch are removed then)."""
    kind: str = ""
    """``worktree`` or ``copy``."""
    branch: str | None = None
    commit: str | None = None
    """The commit holding the task's change on ``branch`` (None: it changed nothing)."""
    patch: str | None = None
    """The change as a patch file (``git apply`` / ``patch -p1`` in the project directory)."""
    log: str = ""
    """The task's ``--json`` events."""
    conversation_id: str | None = None
    error: str | None = None


def read_tasks(path: str, default_dir: Path) -> list[Task]:
    """The tasks of a tasks file (``-``: standard input): one per line, or a JSON object with
    ``task`` and an optional ``dir`` (relative to the current directory). Blank lines and lines
    starting with ``#`` are skipped. Raises ``click.UsageError`` naming the bad line."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise click.UsageError(f"cannot read the tasks file {path}: {getattr(ex, 'strerror', None) or ex}")
    tasks = []
    for line_number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        directory = default_dir
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as ex:
                raise click.UsageError(f"{path}:{line_number}: not valid JSON ({ex.msg})")
            line = record.get("task") if isinstance(record, dict) else None
            if not isinstance(line, str) or not line.strip():
                raise click.UsageError(f'{path}:{line_number}: a JSON task needs "task": "what to do"')
            if record.get("dir") is not None:
                directory = Path(str(record["dir"])).expanduser()
        directory = directory.resolve()
        if not directory.is_dir():
            raise click.UsageError(f"{path}:{line_number}: directory does not exist: {directory}")
        tasks.append(Task(len(tasks) + 1, line.strip(), directory))
    if not tasks:
        raise click.UsageError(f"no tasks in {path}")
    return tasks


def forwarded_arguments(params: dict[str, Any]) -> list[str]:
    """The ``llm code`` options given to ``batch``, as arguments for each task's ``llm code -p``."""
    given = SessionConfig.command_line_layer(params)
    arguments: list[str] = []
    for f in dataclasses.fields(SessionConfig):
        if f.name not in given or f.name in NOT_FORWARDED:
            continue
        value, flag, extra = given[f.name], f.metadata["flags"][0], f.metadata.get("click", {})
        if "/" in flag:
            on, off = flag.split("/")
            arguments.append(on if value else off)
        elif extra.get("is_flag"):
            if value:
                arguments.append(flag)
        elif isinstance(value, dict):
            for key, item in value.items():
                arguments += [flag, str(key), str(item)]
        elif isinstance(value, list):
            for item in value:
                arguments += [flag, str(item)]
        else:
            arguments += [flag, str(value)]
    return arguments


def _final_event(log: Path) -> dict | None:
    final = None
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("type") == "final":
            final = event
    return final


class BatchRun:
    """One ``llm code batch``: the tasks, where their worktrees go, what each process is given."""

    def __init__(self, tasks: list[Task], worktrees: Path, arguments: list[str]):
        self.tasks = tasks
        self.worktrees = worktrees
        self.arguments = arguments
        self.batch_id = secrets.token_hex(3)
        # Worktrees of one repository are created and committed one at a time (git's locks).
        self._git_lock = threading.Lock()

    def run_task(self, task: Task) -> TaskOutcome:
        name = f"batch-{self.batch_id}-{task.number}"
        outcome = TaskOutcome(task.number, task.text)
        try:
            with self._git_lock:
                scratch = create_scratch(task.directory, self.worktrees, name, branch=f"llm-code/{name}")
        except ScratchError as ex:
            outcome.error = str(ex)
            return outcome
        outcome.worktree, outcome.kind, outcome.branch = str(scratch.path), scratch.kind, scratch.branch
        log = self.worktrees / f"{name}.jsonl"
        outcome.log = str(log)
        started = time.monotonic()
        command = [sys.executable, "-m", "llm", "code", "-p", task.text, "-d", str(scratch.path), "--json",
                   *self.arguments]
        with open(log, "w", encoding="utf-8") as events:
            done = subprocess.run(command, stdout=events, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if done.stderr.strip():
            # What the task printed besides its events (warnings, a traceback): kept for the user.
            log.with_suffix(".stderr").write_bytes(done.stderr)
        outcome.seconds = round(time.monotonic() - started, 1)
        final = _final_event(log)
        if final is None:
            problem = done.stderr.decode(errors="replace").strip().splitlines()
            outcome.error = problem[-1] if problem else f"llm code exited with status {done.returncode}"
        else:
            outcome.status = str(final.get("status") or "error")
            outcome.error = final.get("error")
            outcome.tests_passed = final.get("tests_passed")
            usage = final.get("usage") or {}
            outcome.tokens = (usage.get("input") or 0) + (usage.get("output") or 0)
            outcome.conversation_id = final.get("conversation_id")
        self._record_changes(scratch, task, outcome)
        return outcome

    def _record_changes(self, scratch: Scratch, task: Task, outcome: TaskOutcome) -> None:
        try:
            with self._git_lock:
                outcome.files_changed = [c.path for c in scratch.changes()]
                if not outcome.files_changed:
                    # Nothing to merge: no worktree or branch to clean up later (the log stays).
                    scratch.remove()
                    outcome.worktree, outcome.branch = "", None
                    return
                patch = self.worktrees / f"{Path(outcome.log).stem}.patch"
                patch.write_text(scratch.diff(), encoding="utf-8")
                outcome.patch = str(patch)
                if scratch.kind == "worktree":
                    outcome.commit = scratch.commit_changes(f"llm-code batch: {task.text[:72]}\n\n{task.text}")
        except (ScratchError, OSError) as ex:
            outcome.error = outcome.error or f"could not record the changes: {ex}"


def _status_word(outcome: TaskOutcome) -> str:
    return "error" if outcome.error and outcome.status in ("ok", "error") else outcome.status


def _table(outcomes: list[TaskOutcome]) -> str:
    header = ("#", "task", "status", "tests", "files", "tokens", "time", "worktree")
    rows = [header]
    for o in outcomes:
        text = o.text if len(o.text) <= 40 else o.text[:39] + "…"
        tests = {True: "pass", False: "fail", None: "-"}[o.tests_passed]
        rows.append((str(o.task), text, _status_word(o), tests, str(len(o.files_changed)), f"{o.tokens:,}",
                     f"{o.seconds:.0f}s", o.worktree or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def _exit_status(outcomes: list[TaskOutcome]) -> int:
    words = {_status_word(o) for o in outcomes}
    if "error" in words:
        return EXIT_ERROR
    if "interrupted" in words:
        return EXIT_INTERRUPTED
    return EXIT_OK if words == {"ok"} else EXIT_LIMIT


def _prepare_logs() -> None:
    """Bring llm's logs database up to date once, here: tasks that all start by migrating a new
    database at the same moment trip over each other's migrations."""
    from llm.cli import logs_db_path, logs_on
    from llm.migrations import migrate
    import sqlite_utils

    if logs_on():
        logs_db_path().parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(logs_db_path())
        migrate(db)
        # Write-ahead logging: the tasks' processes read and write the logs at once; without it a
        # reader holds off every writer (a task then fails with "database is locked").
        db.enable_wal()


def _default_worktrees() -> Path:
    import llm

    return llm.user_dir() / "llm-code" / "worktrees"


@click.command(name="batch")
@click.argument("tasks_file", metavar="TASKS_FILE")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Tasks run at the same time (one process each)")
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per task (as it ends) instead of the table")
@click.option("--worktrees", "worktrees", metavar="DIR", default=None,
              help="Where the worktrees go (default: llm-code/worktrees in llm's user directory)")
@config_options(SessionConfig, exclude=NOT_FORWARDED - {"root"})
def batch_command(tasks_file, jobs, json_lines, worktrees, **params):
    """Run independent tasks in parallel, each headless in its own git worktree.

    \b
    TASKS_FILE: one task per line, or JSON Lines {"task": "...", "dir": "path"}
    (blank lines and # comments are skipped; - reads standard input).

    \b
    llm code batch tasks.txt --jobs 4 --yolo
    llm code batch tasks.jsonl --allow "pytest*" -m gpt-4.1 --json

    Each task gets a worktree of its directory's repository (HEAD plus your uncommitted changes)
    on a branch llm-code/batch-<id>-<n>, where its change is committed: your working tree is
    untouched until you merge that branch (or cherry-pick its last commit). A directory that is
    not a git repository gets a copy instead. Each task also leaves a .patch, its --json events
    (.jsonl) and anything else it printed (.stderr) beside its worktree. Other llm code options (-m, --yolo, --allow, --max-turns...) apply to
    every task; as with -p, nothing that needs approval runs without --yolo or an --allow rule.

    Exit status: 0 all tasks done, 3 one stopped at a limit, 1 one failed, 130 interrupted.
    """
    default_dir = Path(params.get("root") or ".").expanduser()
    tasks = read_tasks(tasks_file, default_dir)
    place = Path(worktrees).expanduser().resolve() if worktrees else _default_worktrees()
    place.mkdir(parents=True, exist_ok=True)
    batch = BatchRun(tasks, place, forwarded_arguments(params))
    _prepare_logs()
    click.echo(f"batch {batch.batch_id}: {len(tasks)} task{'s' if len(tasks) != 1 else ''}, "
               f"{min(jobs, len(tasks))} at a time; worktrees in {place}", err=True)
    outcomes: list[TaskOutcome] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(batch.run_task, task) for task in tasks]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if json_lines:
                click.echo(json.dumps(dataclasses.asdict(outcome)))
            else:
                click.echo(f"[{len(outcomes)}/{len(tasks)}] task {outcome.task}: {_status_word(outcome)}"
                           + (f" ({outcome.error})" if outcome.error else ""), err=True)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        click.echo("Interrupted: tasks already started end on their own; their worktrees stay.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    pool.shutdown()
    outcomes.sort(key=lambda o: o.task)
    if not json_lines:
        click.echo(_table(outcomes))
        branches = [o.branch for o in outcomes if o.commit]
        if branches:
            click.echo(f"\nTo take a task's change: git merge {branches[0]}  (or git cherry-pick {branches[0]})",
                       err=True)
    sys.exit(_exit_status(outcomes))
