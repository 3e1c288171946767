"""The benchmark task suite in bench/tasks/ is well-formed and every hidden
check really discriminates: it fails on the untouched repo and passes once the
task's reference.patch is applied. Needs no model."""
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from harnesses.suite import load_tasks, validate_task  # noqa: E402

TASKS = load_tasks()
NAMES = [t.name for t in TASKS]


def test_suite_size_and_smoke_selection():
    assert len(TASKS) >= 15
    smoke = [t.name for t in TASKS if t.smoke]
    assert 2 <= len(smoke) <= 3, smoke


@pytest.mark.parametrize("task", TASKS, ids=NAMES)
def test_task_layout(task):
    assert task.prompt, "task.md must not be empty"
    assert task.check_dir.is_dir()
    assert task.reference_patch.is_file()
    if (task.path / "meta.json").exists():
        meta = json.loads((task.path / "meta.json").read_text())
        assert set(meta) <= {"time_limit", "tags", "smoke"}, meta
    files = [p for p in task.repo.rglob("*") if p.is_file()]
    assert 1 <= len(files) <= 4, files
    assert not any("__pycache__" in p.parts for p in files)


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    # Run all tasks up front on a small pool: each check starts its own pytest.
    tmp = tmp_path_factory.mktemp("bench_tasks")
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(NAMES, pool.map(lambda t: validate_task(t, tmp), TASKS)))


@pytest.mark.parametrize("name", NAMES)
def test_check_fails_before_and_passes_after_reference_fix(validation, name):
    problems = validation[name]
    assert not problems, "\n".join(problems)
