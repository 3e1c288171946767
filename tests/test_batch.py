"""``llm code batch``: independent tasks in parallel, each a real ``llm code -p`` process in its own
git worktree (or a copy), the user's working tree untouched. The scripted model reaches those
processes through tests/support/batch_site/sitecustomize.py (on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm.cli import cli

from llm_coding_agent.cli.batch import forwarded_arguments, read_tasks

REPO = Path(__file__).resolve().parent.parent
SITE = Path(__file__).parent / "support" / "batch_site"
ORIGINAL_APP = "def add(a, b):\n    return a - b\n"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def call(name: str, **arguments) -> list:
    return [f"CodingTools_{name}", arguments]


@pytest.fixture
def repo(project):
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return project


def run_batch(tmp_path, cwd, tasks: str, scripts: dict, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "tasks.txt").write_text(tasks)
    (tmp_path / "scripts.json").write_text(json.dumps(scripts))
    env = dict(os.environ)
    env.update(
        SCRIPTED_TASKS=str(tmp_path / "scripts.json"),
        PYTHONPATH=os.pathsep.join([str(SITE), str(REPO), env.get("PYTHONPATH", "")]),
    )
    command = [sys.executable, "-m", "llm", "code", "batch", str(tmp_path / "tasks.txt"), "-m", "scripted",
               "--yolo", "--sandbox", "off", "--no-undo", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def three_tasks(barrier: Path) -> dict:
    # Task one waits (at most 10 s) for task two to have started: only true when two run at once.
    wait = f"for i in $(seq 100); do [ -f {barrier} ] && break; sleep 0.1; done; test -f {barrier}"
    return {
        "greeting file": [
            {"tool_calls": [call("execute_command", command=wait)]},
            {"tool_calls": [call("write_file", path="hello.txt", content="hello\n")]},
            {"text": "Wrote hello.txt."},
        ],
        "fix add": [
            {"tool_calls": [call("execute_command", command=f"touch {barrier}")]},
            {"tool_calls": [call("edit_file", path="app.py", old_string="a - b", new_string="a + b")]},
            {"text": "Fixed add."},
        ],
        "readme line": [
            {"tool_calls": [call("edit_file", path="README.md", old_string="# Demo\n", new_string="# Demo\n\nA demo.\n")]},
            {"text": "Extended the README."},
        ],
    }


def test_three_tasks_two_at_a_time_each_in_its_worktree_and_the_main_tree_untouched(repo, tmp_path):
    (repo / "app.py").write_text(ORIGINAL_APP + "# mine, uncommitted\n")  # the user's work in progress
    tasks = "# three tasks\ncreate the greeting file\n\nfix add in app.py\n" + json.dumps({"task": "a readme line"}) + "\n"

    done = run_batch(tmp_path, repo, tasks, three_tasks(tmp_path / "two-started"), "--jobs", "2", "--json",
                     "--worktrees", str(tmp_path / "wt"))

    assert done.returncode == 0, done.stderr + done.stdout
    outcomes = sorted((json.loads(line) for line in done.stdout.splitlines()), key=lambda o: o["task"])
    assert [o["status"] for o in outcomes] == ["ok", "ok", "ok"]
    assert [o["files_changed"] for o in outcomes] == [["hello.txt"], ["app.py"], ["README.md"]]
    assert [o["kind"] for o in outcomes] == ["worktree"] * 3
    assert [o["tokens"] for o in outcomes] == [45, 45, 30]  # 10 + 5 per scripted response
    # Each worktree holds its own change (and the user's uncommitted line), and only that.
    first, second, third = (Path(o["worktree"]) for o in outcomes)
    assert (first / "hello.txt").read_text() == "hello\n" and not (second / "hello.txt").exists()
    assert (second / "app.py").read_text() == "def add(a, b):\n    return a + b\n# mine, uncommitted\n"
    assert (third / "README.md").read_text() == "# Demo\n\nA demo.\n"
    assert (first / "app.py").read_text() == ORIGINAL_APP + "# mine, uncommitted\n"
    # ...committed on its branch, on top of a commit of the user's uncommitted state.
    for outcome in outcomes:
        assert outcome["branch"].startswith("llm-code/batch-") and outcome["branch"].endswith(f"-{outcome['task']}")
        assert git(repo, "log", "--format=%s", "-2", outcome["branch"]).splitlines()[1].startswith(
            "llm-code: uncommitted changes")
        assert Path(outcome["patch"]).is_file()
    assert git(repo, "show", f"{outcomes[0]['branch']}:hello.txt") == "hello\n"
    # The main tree: exactly as the user left it.
    assert git(repo, "status", "--porcelain") == " M app.py\n"
    assert (repo / "app.py").read_text() == ORIGINAL_APP + "# mine, uncommitted\n"
    assert not (repo / "hello.txt").exists() and (repo / "README.md").read_text() == "# Demo\n"
    # Three processes; task one saw task two start while it ran (two at a time).
    pids = (tmp_path / "scripts.json.pids").read_text().split("\n")
    assert len({line.split()[0] for line in pids if line}) == 3
    first_events = [json.loads(line) for line in Path(outcomes[0]["log"]).read_text().splitlines()]
    waited = next(e for e in first_events if e["type"] == "tool_result")
    assert waited["output"].rstrip().endswith("Exit code: 0"), waited["output"]
    # Merging a branch is how a change reaches the user's tree.
    git(repo, "stash", "-q")
    git(repo, "merge", "-q", outcomes[1]["branch"])
    assert (repo / "app.py").read_text() == "def add(a, b):\n    return a + b\n# mine, uncommitted\n"


def test_the_table_says_what_each_task_did(repo, tmp_path):
    scripts = {"readme line": three_tasks(tmp_path / "x")["readme line"], "nothing": [{"text": "Nothing to do."}]}
    done = run_batch(tmp_path, repo, "a readme line\ndo nothing\n", scripts, "--jobs", "2")

    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["#", "task", "status", "tests", "files", "tokens", "time", "worktree"]
    assert rows[0].split()[:2] == ["1", "a"] and " ok " in rows[0] and rows[0].split()[-4] == "1"
    assert rows[1].split()[-4:] == ["0", "15", rows[1].split()[-2], "-"]  # no change: no worktree kept
    branches = git(repo, "branch", "--list", "--format=%(refname:short)", "llm-code/*").split()
    assert branches == ["llm-code/" + Path(rows[0].split()[-1]).name]
    assert len(git(repo, "worktree", "list").splitlines()) == 2
    worktree = Path(rows[0].split()[-1])
    assert (worktree / "README.md").read_text() == "# Demo\n\nA demo.\n"
    assert worktree.is_relative_to(Path(os.environ["LLM_USER_PATH"]) / "llm-code" / "worktrees")  # the default
    assert "git merge llm-code/batch-" in done.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_a_directory_that_is_not_a_repository_gets_a_copy_and_a_patch(project, tmp_path):
    scripts = {"fix add": three_tasks(tmp_path / "two")["fix add"][1:]}
    other = tmp_path / "elsewhere"
    other.mkdir()
    tasks = json.dumps({"task": "fix add", "dir": str(project)}) + "\n"

    done = run_batch(tmp_path, other, tasks, scripts, "--json", "--worktrees", str(tmp_path / "wt"))

    assert done.returncode == 0, done.stderr
    [outcome] = [json.loads(line) for line in done.stdout.splitlines()]
    assert outcome["kind"] == "copy" and outcome["branch"] is None and outcome["commit"] is None
    assert (Path(outcome["worktree"]) / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (project / "app.py").read_text() == ORIGINAL_APP and not (project / ".git").exists()
    subprocess.run(["patch", "-p1", "-i", outcome["patch"]], cwd=project, check=True, capture_output=True)
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_a_failing_task_fails_the_batch_and_keeps_what_it_printed(repo, tmp_path):
    scripts = {"readme line": three_tasks(tmp_path / "x")["readme line"],
               "broken": [{"raise": "the provider is down"}]}
    done = run_batch(tmp_path, repo, "a readme line\nbroken task\n", scripts, "--json",
                     "--worktrees", str(tmp_path / "wt"))

    assert done.returncode == 1, done.stderr + done.stdout
    outcomes = {o["task"]: o for o in map(json.loads, done.stdout.splitlines())}
    assert outcomes[1]["status"] == "ok" and outcomes[2]["status"] == "error"
    assert "the provider is down" in outcomes[2]["error"]
    printed = Path(outcomes[2]["log"]).with_suffix(".stderr").read_text()
    assert "the provider is down" in printed
    assert not Path(outcomes[1]["log"]).with_suffix(".stderr").exists()  # nothing printed, no file


def test_a_bad_tasks_file_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks.jsonl").write_text('fine task\n{"task": \n')
    result = CliRunner().invoke(cli, ["code", "batch", "tasks.jsonl"])
    assert result.exit_code == 2 and "tasks.jsonl:2: not valid JSON" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    result = CliRunner().invoke(cli, ["code", "batch", "empty.txt"])
    assert result.exit_code == 2 and "no tasks in empty.txt" in result.output
    result = CliRunner().invoke(cli, ["code", "batch", "-"], input="# only a comment\n")
    assert result.exit_code == 2 and "no tasks in -" in result.output


def test_tasks_lines_and_json_records(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "t.jsonl").write_text('one\n{"task": "two", "dir": "%s"}\n# skipped\n' % (tmp_path / "sub"))
    tasks = read_tasks(str(tmp_path / "t.jsonl"), tmp_path)
    assert [(t.number, t.text, t.directory) for t in tasks] == [(1, "one", tmp_path), (2, "two", tmp_path / "sub")]


def test_llm_code_options_are_passed_on_to_each_task():
    from llm_coding_agent.cli.batch import batch_command

    ctx = batch_command.make_context("batch", ["t.txt", "-m", "m1", "--yolo", "--allow", "pytest*", "--allow", "ls",
                                               "-o", "temperature", "0", "--no-undo", "--max-turns", "5", "-d", "x"])
    arguments = forwarded_arguments(ctx.params)
    assert arguments == ["-m", "m1", "-o", "temperature", "0", "--allow", "pytest*", "--allow", "ls", "--no-undo",
                         "--max-turns", "5", "--yolo"]
    assert "-d" not in arguments and "-p" not in arguments
