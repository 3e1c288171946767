"""Validate the benchmark tasks without a model.

    python bench/tasks/validate.py [TASK ...]

Each task's hidden check must fail on the untouched repo and pass after its
reference.patch is applied. The same checks run in tests/test_bench_tasks.py.
"""
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harnesses.suite import load_tasks, validate_tasks  # noqa: E402


def main(argv):
    tasks = load_tasks(argv or None)
    with tempfile.TemporaryDirectory() as tmp:
        found = validate_tasks(tasks, Path(tmp))
    results = [(t, found[t.name]) for t in tasks]
    bad = 0
    for task, problems in results:
        print(f"{'ok  ' if not problems else 'FAIL'} {task.name}")
        for problem in problems:
            bad += 1
            print("     " + problem.replace("\n", "\n     "))
    print(f"{len(tasks) - sum(1 for _, p in results if p)} of {len(tasks)} tasks valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
