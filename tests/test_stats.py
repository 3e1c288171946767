"""``llm code stats``: sessions logged by real CodingAgent runs (scripted models, real commands),
then the numbers ``stats --json`` prints, checked exactly."""

from __future__ import annotations

import json

import llm
import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli, logs_db_path
from llm.migrations import migrate

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.planning import PlanAnswer
from llm_coding_agent.cli.metrics import is_test_command
from test_reviewer import APPROVE, REJECT, reviewers  # noqa: F401  (the reviewer model, registered)

FAILING_TESTS = "python -m pytest -q no_such_dir"  # exit 4: nothing to collect
PASSING_TESTS = "python -m pytest --version"  # exit 0


def stats(*args):
    result = CliRunner().invoke(cli, ["code", "stats", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def logged(model, project, tmp_path, reviewers):  # noqa: F811
    """Four sessions in two projects, and one plain llm prompt that is no session."""
    settings = llm.user_dir() / "llm-code" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"prices": {"scripted": {"input": 1.0, "output": 2.0}}}))
    db = sqlite_utils.Database(logs_db_path())
    migrate(db)
    common = dict(db=db, sandbox="off")

    # Project A, session 1: tests fail, then pass (the last run counts); then a question.
    model.script(
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        Step(tool_calls=[tool("execute_command", command=FAILING_TESTS)]),
        Step(tool_calls=[tool("execute_command", command=PASSING_TESTS)]),
        "fixed",
        "it adds now",
    )
    agent = CodingAgent("scripted", root=project, approve=True, **common)
    agent.run("fix add and test it")
    agent.run("explain the change")

    # Project A, session 2, with a reviewer: approved alone, approved but declined by the user
    # (an override), rejected; then failing tests.
    reviewers.answers = [APPROVE, APPROVE, REJECT]
    model.script(
        Step(tool_calls=[tool("write_file", path="notes.txt", content="a\nb\nc\n")]),
        Step(tool_calls=[tool("write_file", path="big.txt", content="x\n" * 80)]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a + b", new_string="b + a")]),
        Step(tool_calls=[tool("execute_command", command=FAILING_TESTS)]),
        "done",
    )
    agent = CodingAgent(
        "scripted", root=project, reviewer="reviewer-schema",
        approve=lambda tool, call: short_name(tool) != "write_file", **common,
    )
    agent.run("write notes and test")

    # Project A, session 3: the turn budget stops the task after its test run, so the result is
    # logged with the next request; that request runs no tests.
    model.script(Step(tool_calls=[tool("execute_command", command=PASSING_TESTS)]), "ok")
    agent = CodingAgent("scripted", root=project, approve=True, max_turns=1, **common)
    agent.run("run the tests")
    agent.run("thanks")

    # Project B, with plan mode itself: plans revised, rejected, and approved first time (after a
    # malformed call, which is no presentation).
    other = tmp_path / "other"
    other.mkdir()
    answers = [PlanAnswer(approved=False, feedback="smaller steps"), True, False, True]
    model.script(
        Step(tool_calls=[("present_plan", {"steps": "1. big step"})]),
        Step(tool_calls=[("present_plan", {"steps": "1. small\n2. steps"})]),
        "planned",
        Step(tool_calls=[("present_plan", {"steps": "1. something"})]),  # rejected: the task ends
        Step(tool_calls=[("present_plan", {})]),
        Step(tool_calls=[("present_plan", {"steps": "1. z"})]),
        "planned",
    )
    agent = CodingAgent("scripted", root=other, approve=True, plan_approver=lambda plan: answers.pop(0), **common)
    for task in ("plan feature X", "plan feature Y", "plan feature Z"):
        agent.plan(task)
    assert answers == []

    # A plain prompt logged by llm itself: not an llm code session.
    model.script("hello")
    response = llm.get_model("scripted").prompt("hi")
    response.text()
    response.log_to_db(db)
    return project, other


def short_name(tool) -> str:
    return tool.name.removeprefix("CodingTools_")


def metrics(sessions, tasks, tests, plans, reviews, tokens, review_tokens, cost, unknown):
    tasks_tested, passing, failing = tests
    return {
        "sessions": sessions,
        "tasks": tasks,
        "tests": {"tasks_tested": tasks_tested, "passing": passing, "failing": failing, "untested": tasks - tasks_tested},
        "plans": dict(zip(["presented", "approved_first_time", "revised", "rejected"], plans)),
        "reviews": dict(zip(["reviewed", "approved", "rejected", "no_verdict", "auto_approved", "overrides"], reviews)),
        "tokens": {
            "input": tokens[0], "output": tokens[1],
            "input_per_task": round(tokens[0] / tasks, 1), "output_per_task": round(tokens[1] / tasks, 1),
            "review_input": review_tokens[0], "review_output": review_tokens[1],
        },
        "cost_usd": cost,
        "cost_unknown_for": unknown,
    }


# Every scripted response uses 10 input and 5 output tokens, every review 7 and 3.
# Project A: task 1 (4 responses, tests pass at last), task 2 (1, untested), task 3 (5, reviews
# approve alone / approve but declined / reject, tests fail), task 4 (1, tests pass), task 5 (1).
PROJECT_A = metrics(3, 5, (3, 2, 1), (0, 0, 0, 0), (3, 2, 1, 0, 1, 1), (120, 60), (21, 9), None, ["reviewer-schema"])
# Project B: task 6 (3 responses, revised), task 7 (1, rejected: the run stops), task 8 (3,
# approved first time).
PROJECT_B = metrics(1, 3, (0, 0, 0), (3, 1, 1, 1), (0, 0, 0, 0, 0, 0), (70, 35), (0, 0), 0.00014, [])
OVERALL = metrics(4, 8, (3, 2, 1), (3, 1, 1, 1), (3, 2, 1, 0, 1, 1), (190, 95), (21, 9), None, ["reviewer-schema"])


def test_stats_json_counts_tasks_tests_plans_reviews_tokens_and_cost(logged):
    project, other = logged
    summary = json.loads(stats("--json").output)
    assert summary["since"] is None and summary["directory"] is None
    assert [p["root"] for p in summary["projects"]] == sorted([str(project), str(other)])
    by_root = {p.pop("root"): p for p in summary["projects"]}
    assert by_root[str(project)] == PROJECT_A
    assert by_root[str(other)] == PROJECT_B
    assert summary["overall"] == OVERALL


def test_stats_for_one_project_and_since_a_date(logged):
    project, other = logged
    summary = json.loads(stats("--json", "-d", str(other)).output)
    assert [p["root"] for p in summary["projects"]] == [str(other)]
    assert summary["overall"] == PROJECT_B
    assert json.loads(stats("--json", "--since", "2000-01-01").output)["overall"] == OVERALL
    future = json.loads(stats("--json", "--since", "2999-01-01T00:00:00+00:00").output)
    assert future["projects"] == [] and future["overall"]["tasks"] == 0


def test_stats_table(logged):
    project, other = logged
    output = stats().output
    assert "all projects" in output and "unknown" in output and "$0.0001" in output
    assert "project " in output and "other " in output  # projects by name
    assert "1/1/1" in output  # project B's plans: first time / revised / rejected
    assert "1/1/3" in output  # project A's reviews: alone / overridden / all
    assert "no price (or no token counts) for reviewer-schema" in output


def test_stats_without_logs_and_with_a_bad_date():
    assert "No llm code tasks logged" in stats().output
    result = CliRunner().invoke(cli, ["code", "stats", "--since", "last week"])
    assert result.exit_code == 2 and "not a date" in result.output and "Traceback" not in result.output


def test_a_task_called_stats_is_still_possible(model, project):
    model.script("here are some stats")
    result = CliRunner().invoke(
        cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", "--", "stats"],
        input="!quit\n", catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert model.prompts[0].prompt == "stats"
    model.script("a prompt that merely starts with the word")
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "-p", "stats of my project"])
    assert result.exit_code == 0 and model.prompts[-1].prompt == "stats of my project"


@pytest.mark.parametrize("command, expected", [
    ("pytest -q", True), ("python -m pytest tests/", True), ("python3.11 -m unittest discover", True),
    ("cd app && npm test", True), ("npm run test -- --watch=false", True), ("go test ./...", True),
    ("cargo test", True), ("tox -e py311", True), ("make test", True), ("uv run pytest", True),
    ("yarn test", True), ("./gradlew clean test", True), (".venv/bin/python -m pytest", True),
    ("FOO=1 timeout 60 pytest -x", True), ("(cd x; npx jest)", True),
    ("grep pytest setup.cfg", False),
    ("cat pytest.ini", False), ("ls tests", False), ("echo testing", False), ("npm install", False),
    ("git commit -m 'run pytest later'", False),
])
def test_test_commands(command, expected):
    assert is_test_command(command) is expected
