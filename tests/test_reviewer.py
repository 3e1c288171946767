"""The reviewer model (``--reviewer``): a second scripted model reviews file changes that would ask
the user; it approves small, non-sensitive ones alone, rejects back to the model, and leaves
everything else (commands always) to the user with its comment."""

from __future__ import annotations

import json

import llm
import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli
from llm.migrations import migrate
from llm.plugins import pm

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.reviewer import REVIEWS_TABLE, VERDICT_SCHEMA, Unanswered, parse_verdict
from llm_coding_agent.safety.review import ReviewLimits, changed_lines, sensitive_match


class ReviewerModel(llm.Model):
    """Answers each prompt with the next scripted text (a verdict, prose, or an exception)."""

    can_stream = False

    def __init__(self, model_id: str, supports_schema: bool):
        self.model_id = model_id
        self.supports_schema = supports_schema
        self.answers: list = []
        self.prompts: list[llm.Prompt] = []

    def execute(self, prompt, stream, response, conversation):
        self.prompts.append(prompt)
        answer = self.answers.pop(0) if self.answers else "(script exhausted)"
        if isinstance(answer, BaseException):
            raise answer
        yield answer
        response.set_usage(input=7, output=3)


SCHEMA_REVIEWER = ReviewerModel("reviewer-schema", supports_schema=True)
TEXT_REVIEWER = ReviewerModel("reviewer-text", supports_schema=False)


class _ReviewerPlugin:
    __name__ = "ReviewerModelsPlugin"

    @llm.hookimpl
    def register_models(self, register):
        register(SCHEMA_REVIEWER)
        register(TEXT_REVIEWER)


@pytest.fixture(autouse=True)
def reviewers():
    pm.register(_ReviewerPlugin(), name="reviewer-models")
    for reviewer in (SCHEMA_REVIEWER, TEXT_REVIEWER):
        reviewer.answers, reviewer.prompts = [], []
    try:
        yield SCHEMA_REVIEWER
    finally:
        pm.unregister(name="reviewer-models")


APPROVE = json.dumps({"verdict": "approve", "reason": "does what was asked"})
REJECT = json.dumps({"verdict": "reject", "reason": "it deletes the tests"})


class Approver:
    """An approver that records what it was asked and the reviewer's comment it was shown."""

    def __init__(self, answer=True):
        self.answer = answer
        self.asked: list[str] = []
        self.comments: list[str | None] = []
        self.agent: CodingAgent | None = None

    def __call__(self, tool, call):
        self.asked.append(call.arguments.get("path") or call.arguments.get("command"))
        review = self.agent.current_review
        self.comments.append(review.comment() if review else None)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def make_agent(project, approver, reviewer="reviewer-schema", **kwargs) -> CodingAgent:
    agent = CodingAgent("scripted", root=project, approve=approver, sandbox="off", reviewer=reviewer, **kwargs)
    if isinstance(approver, Approver):
        approver.agent = agent
    return agent


def cancelled_outputs(model) -> list[str]:
    return [p.output for m in model.prompts[-1].messages for p in m.parts
            if getattr(p, "output", "").startswith("Cancelled:")]


def test_reviewer_approves_a_three_line_change_on_its_own(model, project, reviewers):
    reviewers.answers = [APPROVE]
    model.script(Step(tool_calls=[tool("write_file", path="notes.txt", content="a\nb\nc\n")]), "done")
    approver = Approver()
    agent = make_agent(project, approver)
    agent.run("write three notes")
    assert (project / "notes.txt").read_text() == "a\nb\nc\n"
    assert approver.asked == []  # nobody was asked
    [review] = agent.reviews
    assert review.auto_approved and review.verdict == "approve" and review.lines == 3
    # The reviewer saw the task and the diff, and was asked through llm's schema support.
    [prompt] = reviewers.prompts
    assert prompt.schema == VERDICT_SCHEMA
    assert "write three notes" in prompt.prompt and "+b" in prompt.prompt and "notes.txt" in prompt.prompt


def test_a_large_change_goes_to_the_user_with_the_reviewers_comment(model, project, reviewers):
    reviewers.answers = [APPROVE]
    big = "".join(f"line {i}\n" for i in range(200))
    model.script(Step(tool_calls=[tool("write_file", path="big.txt", content=big)]), "done")
    approver = Approver(answer=False)
    agent = make_agent(project, approver)
    agent.run("write a big file")
    assert approver.asked == ["big.txt"] and not (project / "big.txt").exists()
    assert "reviewer reviewer-schema approves: does what was asked" in approver.comments[0]
    assert "200 changed lines, more than the 50" in approver.comments[0]
    [review] = agent.reviews
    assert not review.auto_approved and review.human_decision == "declined"


def test_a_sensitive_path_goes_to_the_user_however_small(model, project, reviewers):
    reviewers.answers = [APPROVE]
    model.script(Step(tool_calls=[tool("write_file", path="auth/login.py", content="ok = 1\n")]), "done")
    approver = Approver(answer=True)
    agent = make_agent(project, approver)
    agent.run("add auth")
    assert approver.asked == ["auth/login.py"] and (project / "auth/login.py").exists()
    assert "auth/login.py is a sensitive path (auth/**)" in approver.comments[0]
    assert agent.reviews[0].human_decision == "approved"


def test_a_rejection_reaches_the_model_as_the_reason(model, project, reviewers):
    reviewers.answers = [REJECT]
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), "ok")
    approver = Approver()
    agent = make_agent(project, approver)
    agent.run("fix add")
    assert approver.asked == []
    assert "a - b" in (project / "app.py").read_text()
    [output] = cancelled_outputs(model)
    assert "the reviewer (reviewer-schema) rejected this change: it deletes the tests" in output
    assert "the user declined" not in output
    assert agent.reviews[0].verdict == "reject" and agent.reviews[0].human_decision is None


@pytest.mark.parametrize("answer", ["Looks fine to me.", '{"verdict": "maybe"}', ValueError("API down")])
def test_no_verdict_leaves_the_decision_to_the_user(model, project, reviewers, answer):
    reviewers.answers = [answer]
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]), "done")
    approver = Approver(answer=True)
    agent = make_agent(project, approver)
    agent.run("write x")
    assert approver.asked == ["x.txt"] and (project / "x.txt").exists()
    assert "no verdict" in approver.comments[0] and "you decide" in approver.comments[0]
    assert agent.reviews[0].verdict is None and agent.reviews[0].human_decision == "approved"


def test_a_model_without_schema_support_is_asked_for_json_in_words(model, project):
    TEXT_REVIEWER.answers = ['Reviewed.\n```json\n{"verdict": "approve", "reason": "fine"}\n```']
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]), "done")
    agent = make_agent(project, Approver(), reviewer="reviewer-text")
    agent.run("write x")
    assert (project / "x.txt").exists() and agent.reviews[0].auto_approved
    [prompt] = TEXT_REVIEWER.prompts
    assert prompt.schema is None and '"verdict": "approve" or "reject"' in prompt.prompt


def test_commands_are_never_reviewed_or_approved_by_the_reviewer(model, project, reviewers):
    reviewers.answers = [APPROVE, APPROVE]
    model.script(Step(tool_calls=[tool("execute_command", command="echo hi > out.txt")]), "done")
    approver = Approver(answer=False)
    agent = make_agent(project, approver)
    agent.run("run it")
    assert approver.asked == ["echo hi > out.txt"] and approver.comments == [None]
    assert reviewers.prompts == [] and agent.reviews == []
    assert not (project / "out.txt").exists()


def test_calls_that_would_not_ask_are_not_reviewed(model, project, reviewers):
    """--yolo (approve=True) and an "always" answer run without the reviewer."""
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]), "done")
    agent = make_agent(project, True)
    agent.run("write x")
    assert (project / "x.txt").exists() and reviewers.prompts == []
    model.script(Step(tool_calls=[tool("write_file", path="y.txt", content="y\n")]), "done")
    agent = make_agent(project, Approver())
    agent.policy.allow_edits = True
    agent.run("write y")
    assert (project / "y.txt").exists() and reviewers.prompts == []


def test_deny_rules_still_refuse_whatever_the_reviewer_says(model, project, reviewers):
    reviewers.answers = [APPROVE]
    model.script(Step(tool_calls=[tool("execute_command", command="git push")]), "done")
    agent = make_agent(project, Approver(), deny=["git push*"])
    agent.run("push")
    assert "refused by a deny rule" in cancelled_outputs(model)[0] and reviewers.prompts == []


def test_headless_approver_records_unanswered(model, project, reviewers):
    reviewers.answers = [APPROVE]
    big = "x\n" * 60
    model.script(Step(tool_calls=[tool("write_file", path="big.txt", content=big)]), "done")
    agent = make_agent(project, Approver(answer=Unanswered("nobody to ask")))
    agent.run("write")
    assert agent.reviews[0].human_decision == "unanswered" and not (project / "big.txt").exists()


def test_review_max_lines_zero_makes_the_reviewer_comment_only(model, project, reviewers):
    reviewers.answers = [APPROVE]
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]), "done")
    approver = Approver()
    agent = make_agent(project, approver, review_max_lines=0)
    agent.run("write x")
    assert approver.asked == ["x.txt"] and "more than the 0" in approver.comments[0]


def test_the_reviewer_sees_the_plan_and_todo_list_the_model_made(model, project, reviewers):
    # Plan mode's own present_plan and the built-in todo tool, as a real session makes them.
    reviewers.answers = [APPROVE]
    model.script(
        Step(tool_calls=[("present_plan", {"steps": ["write x.txt", "test it"]})]),
        Step(tool_calls=[("update_todos", {"plan": [{"step": "write x.txt", "status": "in_progress"}]})]),
        Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]),
        "done",
    )
    agent = make_agent(project, lambda tool, call: False, plan=True, plan_approver=lambda plan: True)
    agent.run("write x")
    assert (project / "x.txt").exists()  # the reviewer approved the 1-line change on its own
    prompt = reviewers.prompts[0].prompt
    assert "plan:\nwrite x.txt\ntest it" in prompt and "todo:\n[~] write x.txt" in prompt
    # The task is the user's words, without plan mode's note in front of them.
    assert "The task (the user's request):\nwrite x\n" in prompt and "[Plan mode" not in prompt


def test_reviews_are_logged_to_the_database(model, project, reviewers, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    reviewers.answers = [APPROVE, REJECT]
    model.script(
        Step(tool_calls=[tool("write_file", path="a.txt", content="a\n")]),
        Step(tool_calls=[tool("write_file", path="b.txt", content="b\n")]),
        "done",
    )
    agent = make_agent(project, Approver(), db=db)
    agent.run("write a and b")
    rows = list(db[REVIEWS_TABLE].rows)
    assert [(r["path"], r["verdict"], r["auto_approved"]) for r in rows] == [("a.txt", "approve", 1), ("b.txt", "reject", 0)]
    assert {r["conversation_id"] for r in rows} == {agent.conversation_id}
    assert rows[0]["tool_call_id"] and rows[0]["input_tokens"] == 7 and rows[0]["reviewer"] == "reviewer-schema"


def test_an_unknown_reviewer_model_is_an_error(project):
    from llm_coding_agent.agent.results import ModelError

    with pytest.raises(ModelError, match="unknown reviewer model: nope"):
        CodingAgent("scripted", root=project, reviewer="nope")


# -- the command line ----------------------------------------------------------------------------


def run(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", "--reviewer", "reviewer-schema", *extra]


def test_interactive_the_comment_is_shown_above_the_diff(model, project, reviewers):
    reviewers.answers = [APPROVE]
    big = "".join(f"row {i}\n" for i in range(200))
    model.script(Step(tool_calls=[tool("write_file", path="big.txt", content=big)]), "written")
    result = run(base(project), input="write big\ny\n!quit\n")
    assert result.exit_code == 0, result.output
    comment = result.output.index("reviewer reviewer-schema approves: does what was asked")
    assert comment < result.output.index("? Write big.txt?") < result.output.index("row 1")
    assert (project / "big.txt").exists()
    assert "reviewer reviewer-schema" in result.output.split("\n? ")[0]  # the header names it


def test_print_mode_runs_what_the_reviewer_approves_and_declines_the_rest(model, project, reviewers):
    reviewers.answers = [APPROVE, APPROVE]
    model.script(
        Step(tool_calls=[tool("write_file", path="small.txt", content="s\n")]),
        Step(tool_calls=[tool("write_file", path="big.txt", content="b\n" * 80)]),
        Step(tool_calls=[tool("execute_command", command="echo hi")]),
        "done",
    )
    result = run(base(project, "-p", "write them"))
    assert result.exit_code == 0, result.output
    assert (project / "small.txt").exists() and not (project / "big.txt").exists()
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert any("headless" in o for o in outputs)
    assert "reviewer approved the change to small.txt" in result.stderr
    assert "2 calls were declined (headless)" in result.stderr
    db = sqlite_utils.Database(llm.user_dir() / "logs.db")
    assert [(r["path"], r["auto_approved"], r["human_decision"]) for r in db[REVIEWS_TABLE].rows] == [
        ("small.txt", 1, None), ("big.txt", 0, "unanswered"),
    ]


def test_an_unknown_reviewer_is_a_one_line_error(model, project):
    result = run(["-m", "scripted", "-d", str(project), "--reviewer", "nope", "-p", "x"])
    assert result.exit_code == 1 and "unknown reviewer model: nope" in result.output
    assert "Traceback" not in result.output


# -- settings ------------------------------------------------------------------------------------


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_a_project_reviewer_counts_only_once_trusted(project):
    from llm_coding_agent.safety.settings import load_settings, project_settings_path, trust_file

    _write(project_settings_path(project), {"reviewer": "reviewer-schema", "review_max_lines": 500,
                                            "review_sensitive": ["infra/**"]})
    settings = load_settings(project)
    assert settings.reviewer is None and settings.review_max_lines is None
    assert settings.project_pending == {"reviewer": "reviewer-schema", "review_max_lines": 500}
    assert settings.review_sensitive == ["infra/**"]  # only tightens: applies untrusted
    trust_file(project_settings_path(project))
    settings = load_settings(project)
    assert settings.reviewer == "reviewer-schema" and settings.review_max_lines == 500


def test_an_untrusted_project_reviewer_is_reported_and_unused_headless(model, project, reviewers):
    from llm_coding_agent.safety.settings import project_settings_path

    _write(project_settings_path(project), {"reviewer": "reviewer-schema"})
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]), "ok")
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", "-p", "x"])
    assert result.exit_code == 0, result.output
    assert "has settings (reviewer) that are inactive until you trust it" in result.stderr
    assert reviewers.prompts == [] and not (project / "x.txt").exists()


def test_trusting_the_project_file_interactively_brings_its_reviewer(model, project, reviewers):
    from llm_coding_agent.safety.settings import project_settings_path

    _write(project_settings_path(project), {"reviewer": "reviewer-schema"})
    reviewers.answers = [APPROVE]
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x\n")]), "ok")
    result = CliRunner().invoke(
        cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off"], input="y\nwrite x\n!quit\n",
    )
    assert result.exit_code == 0, result.output
    assert 'and set reviewer "reviewer-schema". Trust this file?' in result.output
    assert len(reviewers.prompts) == 1 and (project / "x.txt").exists()


def test_a_smaller_project_review_max_lines_applies_untrusted(project):
    from llm_coding_agent.safety.settings import load_settings, project_settings_path, user_settings_path

    _write(user_settings_path(), {"reviewer": "reviewer-text", "review_max_lines": 80,
                                  "prices": {"scripted": {"input": 1, "output": 2}}})
    _write(project_settings_path(project), {"review_max_lines": 10})
    settings = load_settings(project)
    assert settings.reviewer == "reviewer-text" and settings.review_max_lines == 10
    assert settings.untrusted_project_file is None
    config = settings.config_layer()
    assert config["reviewer"] == "reviewer-text" and config["prices"] == {"scripted": {"input": 1, "output": 2}}


@pytest.mark.parametrize("data, message", [
    ({"review_max_lines": -1}, "at least 0"),
    ({"review_max_lines": True}, "must be int"),
    ({"reviewer": 3}, "must be str"),
    ({"prices": {"m": {"input": 1}}}, "'prices' entry 'm'"),
    ({"prices": {"m": {"input": -1, "output": 1}}}, "not negative"),
])
def test_bad_review_settings_are_one_line_errors(project, data, message):
    from llm_coding_agent.safety.settings import SettingsError, load_settings, user_settings_path

    _write(user_settings_path(), data)
    with pytest.raises(SettingsError, match=message):
        load_settings(project)


# -- the limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path, pattern", [
    ("auth/login.py", "auth/**"), ("src/auth/token.py", "**/auth/**"), ("payments/x.py", "payments/**"),
    ("certs/server.pem", "**/*.pem"), (".env.local", "**/.env*"), (".github/workflows/ci.yml", ".github/**"),
    ("Dockerfile", "Dockerfile*"), ("deploy/k8s/app.yaml", "deploy/**"), ("infra/main.tf", "**/*.tf"),
    ("AUTH/Login.py", "auth/**"), (".llm-code/settings.json", ".llm-code/**"),
    ("src/authors.py", None), ("app.py", None), ("docs/deployment.md", None),
])
def test_default_sensitive_paths(path, pattern):
    from llm_coding_agent.config import REVIEW_SENSITIVE

    assert sensitive_match(path, REVIEW_SENSITIVE) == pattern


def test_limits_and_counting():
    assert changed_lines("a\nb\nc\n", "a\nB\nc\nd\n") == 3
    limits = ReviewLimits(max_lines=5, sensitive=("secret",))
    assert limits.why_ask_anyway(["x.py"], 5) is None
    assert "more than the 5" in limits.why_ask_anyway(["x.py"], 6)
    assert "sensitive path (secret)" in limits.why_ask_anyway(["config/secret/key.txt"], 1)
    assert "too long" in limits.why_ask_anyway(["x.py"], 1, whole_diff_seen=False)


@pytest.mark.parametrize("text, expected", [
    ('{"verdict": "approve", "reason": "ok"}', ("approve", "ok")),
    ('I think so.\n```json\n{"verdict": "REJECT", "reason": " bad "}\n```', ("reject", "bad")),
    ('{"verdict": "approved"}', ("approve", "")),
    ('{"note": 1} then {"verdict": "reject", "reason": "no"}', ("reject", "no")),
    ("approve", None), ('{"verdict": "yes"}', None), ("", None), ("{broken", None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected
