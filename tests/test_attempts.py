"""``--attempts N``: independent attempts in scratch copies (agent/scratch.py), each checked by the
project's tests, the best applied to the real tree through the normal approval path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import llm
import pytest
from click.testing import CliRunner
from conftest import Step, tool
from llm.cli import cli

from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.attempts import count_failures, varied_options
from llm_coding_agent.agent.profiles import PROFILES
from llm_coding_agent.agent.scratch import create_scratch

ORIGINAL = "def add(a, b):\n    return a - b\n"
TEST_FILE = "from app import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def tested_project(project):
    """The conftest project (add() subtracts) with a test that says it should add."""
    (project / "tests").mkdir()
    (project / "tests" / "test_app.py").write_text(TEST_FILE)
    return project


@pytest.fixture
def git_project(tested_project):
    root = tested_project
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    return root


def edit(new: str, where: str = "pwd") -> list[Step]:
    """One attempt: say where it runs, change add(), answer."""
    return [
        Step(tool_calls=[tool("execute_command", command=where)]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string=new)]),
        Step(text=f"Changed add to return {new}."),
    ]


class Approver:
    """Approves commands; answers the apply's file changes with ``answer`` after recording what
    the real tree held at that moment."""

    def __init__(self, project: Path, answer: bool = True):
        self.project, self.answer = project, answer
        self.tree_when_asked: list[str] = []
        self.asked: list[str] = []

    def __call__(self, tool, call):
        self.asked.append(f"{tool.name} {json.dumps(call.arguments)[:60]}")
        if tool.name.endswith("execute_command"):
            return True
        self.tree_when_asked.append((self.project / "app.py").read_text())
        return self.answer


def scratch_dirs(result) -> list[Path]:
    """The directories the attempts' ``pwd`` printed."""
    dirs = []
    for attempt in result.attempts:
        for call, output in attempt.result.tool_calls:
            if call.arguments.get("command") == "pwd":
                dirs.append(Path(output.output.splitlines()[0]))
    return dirs


def make_agent(project, approve, **kwargs) -> CodingAgent:
    return CodingAgent(model="scripted", root=str(project), approve=approve, sandbox="off", undo=False, **kwargs)


def test_the_attempt_that_passes_the_tests_is_applied_and_the_tree_is_untouched_until_then(model, git_project):
    (git_project / "notes.txt").write_text("uncommitted work\n")  # the user's own change: kept, not counted
    model.script(*edit("a * b"), *edit("a + b"))
    approver = Approver(git_project)
    agent = make_agent(git_project, approver, attempts=3)

    result = agent.run("make add() add; the tests in tests/ say how")

    first, second = result.attempts
    assert (first.tests_passed, first.failures) == (False, 1)
    assert (second.tests_passed, second.failures) == (True, 0)
    assert second.applied and not first.applied
    assert len(result.attempts) == 2  # the first passing attempt ends the search
    assert (git_project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    # Asked once, for the one file, while the real tree still held the original.
    assert approver.tree_when_asked == [ORIGINAL]
    assert [c.path for c in second.changes] == ["app.py"]  # notes.txt was the user's, not a change
    assert (git_project / "notes.txt").read_text() == "uncommitted work\n"
    assert first.kind == second.kind == "worktree"
    assert result.tests_passed is True and result.text == "Changed add to return a + b."
    assert (result.usage.input, result.usage.output) == (60, 30)  # six responses, both attempts
    assert (agent.usage.input, agent.usage.output) == (60, 30)
    # The attempts ran elsewhere, and nothing of them is left: directories, worktrees, branches.
    for path in scratch_dirs(result):
        assert path != git_project and not path.exists()
    assert len(git(git_project, "worktree", "list").splitlines()) == 1
    assert git(git_project, "branch", "--format=%(refname:short)").split() == [
        git(git_project, "branch", "--show-current").strip()
    ]
    # The next request tells the model what happened.
    assert "attempt 2" in agent.prepare_prompt("next")


def test_a_project_that_is_not_a_git_repository_uses_copies(model, tested_project):
    model.script(*edit("a + b"))
    agent = make_agent(tested_project, Approver(tested_project), attempts=2)

    result = agent.run("fix add")

    assert [a.kind for a in result.attempts] == ["copy"]
    assert result.attempts[0].tests_passed is True
    assert (tested_project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    [scratch] = scratch_dirs(result)
    assert scratch != tested_project and not scratch.exists() and not scratch.parent.exists()
    assert not (tested_project / ".git").exists()


def test_a_declined_apply_leaves_the_tree_untouched_and_nothing_behind(model, git_project):
    model.script(*edit("a + b"))
    approver = Approver(git_project, answer=False)
    agent = make_agent(git_project, approver, attempts=2)

    result = agent.run("fix add")

    assert not result.attempts[0].applied
    assert approver.tree_when_asked == [ORIGINAL]
    assert (git_project / "app.py").read_text() == ORIGINAL
    assert git(git_project, "status", "--porcelain") == ""
    assert not any(p.exists() for p in scratch_dirs(result))
    assert "not applied" in agent.prepare_prompt("next")


def test_all_or_nothing_a_later_declined_file_puts_the_earlier_ones_back(model, git_project):
    steps = [
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        Step(tool_calls=[tool("write_file", path="zz_new.py", content="x = 1\n")]),
        Step(text="done"),
    ]
    model.script(*steps)
    answers = iter([True, False])  # app.py yes, zz_new.py no

    def approve(tool, call):
        return True if tool.name.endswith("execute_command") else next(answers)

    result = make_agent(git_project, approve, attempts=2).run("fix add")

    assert [c.path for c in result.attempts[0].changes] == ["app.py", "zz_new.py"]
    assert not result.attempts[0].applied
    assert (git_project / "app.py").read_text() == ORIGINAL
    assert not (git_project / "zz_new.py").exists()


def test_the_smallest_change_wins_when_no_attempt_passes(model, git_project):
    (git_project / "tests" / "test_app.py").write_text(TEST_FILE + "\n\ndef test_never():\n    assert False\n")
    git(git_project, "commit", "-qam", "a test that always fails", "--author", "t <t@example.com>")
    big = [
        Step(tool_calls=[tool("write_file", path="app.py", content="def add(a, b):\n    # adds\n    return a + b\n")]),
        Step(text="rewrote"),
    ]
    model.script(*big, *edit("a + b", where="true"), *edit("a * b", where="true"))
    approve = Approver(git_project)

    result = make_agent(git_project, approve, attempts=3).run("fix add")

    assert [(a.tests_passed, a.failures) for a in result.attempts] == [(False, 1), (False, 1), (False, 2)]
    assert [a.applied for a in result.attempts] == [False, True, False]
    assert (git_project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_an_answer_without_changes_ends_the_attempts(model, git_project):
    model.script("add() subtracts.")
    result = make_agent(git_project, True, attempts=3).run("what does add() do?")
    assert len(result.attempts) == 1 and result.text == "add() subtracts."
    assert (git_project / "app.py").read_text() == ORIGINAL


def test_one_attempt_is_the_default_and_the_profiles_keep_it(model, git_project):
    model.script("ok")
    result = make_agent(git_project, True).run("hi")
    assert result.attempts == [] and model.prompts[0].prompt == "hi"
    assert PROFILES["small"].attempts == PROFILES["default"].attempts == 1


def test_attempts_need_an_approver_that_answers(model, git_project):
    from llm_coding_agent import AgentStateError

    with pytest.raises(AgentStateError, match="approver"):
        make_agent(git_project, None).run("fix add", attempts=2)


def test_later_attempts_vary_seed_and_temperature_when_the_model_has_them():
    class Seeded(llm.Model):
        model_id = "seeded"

        class Options(llm.Options):
            seed: int | None = None
            temperature: float | None = None

        def execute(self, prompt, stream, response, conversation):
            yield ""

    assert varied_options(Seeded(), {}, 1) == {}
    assert varied_options(Seeded(), {}, 2) == {"seed": 2, "temperature": 0.8}
    assert varied_options(Seeded(), {"temperature": 0.1}, 3) == {"seed": 3, "temperature": 0.1}
    assert varied_options(llm.get_model("scripted"), {}, 2) == {}


def test_failures_are_counted_from_pytest_and_unittest_summaries():
    assert count_failures("F.\nFAILED t.py::x\n1 failed, 1 passed in 0.01s\nExit code: 1") == 1
    assert count_failures("=== 2 failed, 3 passed, 1 error in 1.2s ===") == 3
    assert count_failures("Ran 3 tests\n\nFAILED (failures=1, errors=2)\nExit code: 1") == 3
    assert count_failures("Ran 3 tests\n\nOK\n") == 0
    assert count_failures("Traceback ...") is None


def test_scratch_copies_carry_uncommitted_changes_and_diff_only_what_changed_since(git_project):
    (git_project / "app.py").write_text("def add(a, b):\n    return b - a\n")  # unstaged
    (git_project / "extra.py").write_text("y = 2\n")  # untracked
    scratch = create_scratch(git_project, name="one")
    try:
        assert (scratch.path / "app.py").read_text() == "def add(a, b):\n    return b - a\n"
        assert (scratch.path / "extra.py").read_text() == "y = 2\n"
        assert scratch.changes() == []
        (scratch.path / "extra.py").unlink()
        (scratch.path / "__pycache__").mkdir()
        (scratch.path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0junk")
        [change] = scratch.changes()
        assert (change.path, change.before, change.after) == ("extra.py", b"y = 2\n", None)
        assert "deleted file mode" in scratch.diff()
    finally:
        scratch.remove()
    assert not scratch.top.exists()
    assert git(git_project, "status", "--porcelain").split() == ["M", "app.py", "??", "extra.py"]


def test_llm_code_attempts_option_applies_the_passing_attempt(model, git_project, monkeypatch):
    monkeypatch.chdir(git_project)
    model.script(*edit("a * b", where="true"), *edit("a + b", where="true"))
    result = CliRunner().invoke(
        cli, ["code", "-m", "scripted", "--sandbox", "off", "--no-undo", "--yolo", "--attempts", "2",
              "-p", "fix add"],
    )
    assert result.exit_code == 0, result.output
    assert "attempt 1: tests fail (1 failing)" in result.output
    assert "applying attempt 2 of 2" in result.output
    assert result.stdout.strip() == "Changed add to return a + b."  # the chosen answer, once
    assert (git_project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_headless_without_yolo_applies_nothing(model, git_project, monkeypatch):
    monkeypatch.chdir(git_project)
    model.script(*edit("a + b", where="true"))
    result = CliRunner().invoke(
        cli, ["code", "-m", "scripted", "--sandbox", "off", "--no-undo", "--attempts", "2",
              "--allow", "true", "--allow", "python -m pytest*", "-p", "fix add"],
    )
    assert result.exit_code == 0, result.output
    assert "attempt 1: tests pass" in result.output
    assert (git_project / "app.py").read_text() == ORIGINAL
    assert git(git_project, "status", "--porcelain") == ""


def test_an_always_answer_in_one_attempt_holds_in_the_next_and_after(model, git_project):
    model.script(*edit("a * b", where="true"), *edit("a + b", where="true"))
    asked = []

    def approve(tool, call):
        asked.append(call.arguments.get("command") or call.arguments.get("path"))
        if tool.name.endswith("execute_command"):
            agent.policy.remember_always(tool.name, call.arguments)  # the user's "a"
        return True

    agent = make_agent(git_project, approve, attempts=2)
    agent.run("fix add")
    assert asked == ["true", "python -m pytest -q", "app.py"]
    assert agent.policy.rules.allow == ["true*", "python -m pytest*"]


def test_an_interactive_session_asks_once_for_the_chosen_change_in_a_pty(git_project, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    from test_pty import spawn

    def attempt(new):
        return [
            {"tool_calls": [["CodingTools_edit_file", {"path": "app.py", "old_string": "a - b", "new_string": new}]]},
            {"text": f"Now it returns {new}."},
        ]

    child = spawn(git_project, attempt("a * b") + attempt("a + b"), tmp_path, "--attempts", "2",
                  "--allow", "python -m pytest*")
    try:
        child.expect("›")
        child.sendline("fix add")
        child.expect(r"attempt 1: tests fail \(1 failing\)")
        child.expect("attempt 2: tests pass")
        child.expect(r"Write app\.py\?")
        assert (git_project / "app.py").read_text() == ORIGINAL  # asked before anything was written
        child.expect(r"\[y\]es")
        child.sendline("y")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert (git_project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert child.exitstatus == 0
