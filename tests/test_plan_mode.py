"""Plan mode: read-only until a presented plan is approved, enforced where every call passes;
present_plan pauses like an approval (and resumes after a restart); approve / edit / revise /
reject; the approved (edited) plan is what the model is told to carry out."""

from __future__ import annotations

import json
import os

import llm
import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli
from llm.migrations import migrate

from conftest import Step, tool
from llm_coding_agent import AgentStateError, CodingAgent
from llm_coding_agent.agent import PlanAnswer, mark_read_only
from llm_coding_agent.agent.planning import PLAN_MODE_NOTE, split_steps
from llm_coding_agent.tools.sandbox import bwrap_problem
from test_localmodel import real_model  # noqa: F401  (the fixture of the real-model test)


def make_agent(model, project, **kwargs):
    kwargs.setdefault("undo", False)
    kwargs.setdefault("sandbox", "off")
    return CodingAgent(model=model, root=str(project), **kwargs)


def snapshot(root):
    """Every file under ``root`` with its content: "nothing changed" is this staying equal."""
    return {
        os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
        for d, _, files in os.walk(root) for f in files
    }


def outputs(prompt):
    """The tool results a request carried, in order."""
    return [p.output for m in prompt.messages for p in m.parts if m.role == "tool"]


def present(*steps, questions=None):
    arguments = {"steps": list(steps)}
    if questions is not None:
        arguments["questions"] = questions
    return ("present_plan", arguments)


PLAN = present("Change add() in app.py to return a + b", "Run pytest to prove it")
WRITES = [
    tool("write_file", path="new.txt", content="x"),
    tool("edit_file", path="app.py", old_string="a - b", new_string="a + b"),
    tool("execute_command", command="rm app.py"),
    tool("execute_command", command="echo hi > f"),
]


# -- enforcement ----------------------------------------------------------------------------------


def test_a_model_that_tries_to_change_files_while_planning_is_refused_and_nothing_changes(model, project):
    """Even with every call approved (yolo) and allow rules for rm and echo, plan mode refuses."""
    before = snapshot(project)
    model.script(Step(tool_calls=WRITES), Step(tool_calls=[PLAN]))
    asked = []
    agent = make_agent(model, project, approve=lambda tool, call: asked.append(call) or True,
                       plan=True, allow=["rm*", "echo*"])
    result = agent.run("fix add")
    assert snapshot(project) == before
    assert asked == []  # refused before any approval was asked
    results = [r.output for _, r in result.tool_calls]
    assert len(results) == 4 and all(r.startswith("Error: plan mode is on") for r in results)
    assert "present_plan" in results[0]
    assert "only in the sandbox, read-only, and the sandbox is off" in results[2]  # `rm*` allowed
    assert "writes to f" in results[3]
    assert result.paused and result.plan.steps[0].startswith("Change add()")


def test_plan_mode_wins_over_yolo_and_commands_not_covered_by_rules_are_refused(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="touch made.txt")]), Step(tool_calls=[PLAN]))
    agent = make_agent(model, project, approve=True)
    result = agent.plan("fix add")
    (_, refused), = result.tool_calls
    assert refused.output.startswith("Error: plan mode is on")
    assert "not covered by an allow rule" in refused.output
    assert not (project / "made.txt").exists()


needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason="bubblewrap cannot run here")


@needs_bwrap
def test_read_only_commands_the_rules_allow_run_while_planning(model, project):
    model.script(
        Step(tool_calls=[tool("execute_command", command="ls"), tool("read_file", path="app.py"),
                         tool("search_files", pattern="add")]),
        Step(tool_calls=[PLAN]),
    )
    agent = make_agent(model, project, plan=True, allow=["ls*"], sandbox="on")
    result = agent.run("look")
    listing, read, search = (r.output for _, r in result.tool_calls)
    assert "app.py" in listing and "Exit code: 0" in listing
    assert "return a - b" in read and "app.py" in search


def test_calls_refused_while_planning_do_not_pause_a_run_without_an_approver(model, project):
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "I will plan instead.")
    agent = make_agent(model, project, plan=True)  # approve=None would pause on a write
    result = agent.run("write x")
    assert not result.paused and result.stop_reason == "done"
    assert outputs(model.prompts[1])[0].startswith("Error: plan mode is on")


def test_extra_tools_run_while_planning_only_when_marked_read_only(model, project):
    touched = []

    def remember(note: str) -> str:
        """Store a note."""
        touched.append(note)
        return "stored"

    def lookup(term: str) -> str:
        """Look a term up."""
        return f"{term}: found"

    model.script(Step(tool_calls=[("remember", {"note": "x"}), ("lookup", {"term": "add"})]), Step(tool_calls=[PLAN]))
    agent = make_agent(model, project, plan=True, approve=True, tools=[remember, mark_read_only(lookup)])
    result = agent.run("plan")
    stored, looked = (r.output for _, r in result.tool_calls)
    assert stored.startswith("Error: plan mode is on") and "remember is not marked read-only" in stored
    assert looked == "add: found" and touched == []
    assert agent.policy.decide("lookup", {"term": "x"}).verdict.value == "allow"  # never asks either


def test_the_toolbox_itself_refuses_changes_while_planning(project, model):
    agent = make_agent(model, project, plan=True, allow=["echo*"])
    tools = agent.coding_tools
    assert tools.write_file("n.txt", "x").startswith("Error: files cannot be written")
    assert tools.edit_file("app.py", "a - b", "a + b").startswith("Error:")
    assert tools.execute_command("echo hi > f").startswith("Error: `echo hi > f` writes to f")
    assert "only in the sandbox" in tools.execute_command("echo hi")
    assert snapshot(project) == {"README.md": b"# Demo\n", "app.py": b"def add(a, b):\n    return a - b\n"}
    agent.planning = False
    assert tools.write_file("n.txt", "x").startswith("Created")


@needs_bwrap
def test_sandboxed_commands_see_the_project_read_only_while_planning(model, project):
    """A command an allow rule covers still cannot change the project while planning."""
    before = snapshot(project)
    model.script(Step(tool_calls=[tool("execute_command", command="touch made.txt"),
                                  tool("execute_command", command="rm app.py")]), Step(tool_calls=[PLAN]))
    agent = make_agent(model, project, plan=True, allow=["touch*", "rm*"], sandbox="on")
    result = agent.run("plan")
    touched, removed = (r.output for _, r in result.tool_calls)
    assert "Read-only file system" in touched and "Read-only file system" in removed
    assert snapshot(project) == before


# -- presenting, answering, executing --------------------------------------------------------------


def test_present_plan_pauses_and_approve_plan_carries_it_out(model, project):
    model.script(
        Step(tool_calls=[tool("read_file", path="app.py")]),
        Step(text="Here is my plan.", tool_calls=[present("Fix add() in app.py", "Run the tests",
                                                          questions=["Keep the signature?"])]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Done: add() adds.",
    )
    agent = make_agent(model, project, approve=True)
    result = agent.plan("fix add")
    assert result.paused and result.stop_reason == "paused" and agent.planning
    assert result.plan.steps == ["Fix add() in app.py", "Run the tests"]
    assert result.plan.questions == ["Keep the signature?"]
    assert agent.pending_plan.steps == result.plan.steps
    assert PLAN_MODE_NOTE in model.prompts[0].prompt
    assert "present_plan" in [t.name for t in model.prompts[0].tools]
    with pytest.raises(AgentStateError):
        agent.run("something else")

    done = agent.approve_plan()
    assert done.text == "Done: add() adds." and not agent.planning
    assert "a + b" in (project / "app.py").read_text()
    told = outputs(model.prompts[2])[-1]
    assert told.startswith("Plan approved") and "1. Fix add() in app.py\n2. Run the tests" in told
    assert [i.step for i in agent.todos.items] == ["Fix add() in app.py", "Run the tests"]
    assert "present_plan" not in [t.name for t in model.prompts[2].tools]
    assert PLAN_MODE_NOTE not in (model.prompts[2].prompt or "")


def test_the_edited_plan_is_what_the_model_is_told_to_carry_out(model, project):
    model.script(Step(tool_calls=[PLAN]), "ok")
    agent = make_agent(model, project)
    agent.plan("fix add")
    agent.approve_plan(edits="1. Change add() to return a + b\n2. Add a test for add(2, 3)\n")
    told = outputs(model.prompts[-1])[-1]
    assert "edited the plan" in told
    assert "1. Change add() to return a + b\n2. Add a test for add(2, 3)" in told
    assert "Run pytest" not in told
    assert [i.step for i in agent.todos.items] == ["Change add() to return a + b", "Add a test for add(2, 3)"]


def test_revise_plan_keeps_planning_with_the_feedback(model, project):
    model.script(
        Step(tool_calls=[PLAN]),
        Step(tool_calls=[tool("write_file", path="x.txt", content="x"), present("Fix add()", "Add a test")]),
        "ok",
    )
    agent = make_agent(model, project, approve=True)
    agent.plan("fix add")
    revised = agent.revise_plan("also add a test")
    feedback = outputs(model.prompts[1])[-1]
    assert "The user wants changes to the plan: also add a test" in feedback
    assert revised.tool_calls[1][1].output.startswith("Error: plan mode is on")  # still planning
    assert not (project / "x.txt").exists()
    assert revised.paused and revised.plan.steps == ["Fix add()", "Add a test"]
    with pytest.raises(AgentStateError):
        agent.revise_plan("  ")


def test_a_plan_approver_answers_synchronously(model, project):
    answers = [PlanAnswer(approved=False, feedback="mention the tests"), PlanAnswer(approved=True, steps=["Only this"])]
    shown = []

    def approver(plan):
        shown.append(plan.steps)
        return answers.pop(0)

    model.script(Step(tool_calls=[PLAN]), Step(tool_calls=[present("a", "b")]), "carried out")
    agent = make_agent(model, project, plan=True, plan_approver=approver)
    result = agent.run("fix add")
    assert shown == [PLAN[1]["steps"], ["a", "b"]]
    assert result.text == "carried out" and not agent.planning
    assert "1. Only this" in outputs(model.prompts[2])[-1]
    assert result.plan.steps == ["a", "b"]  # as presented; the todo list holds the edited steps
    assert [i.step for i in agent.todos.items] == ["Only this"]


def test_rejecting_a_plan_stops_the_run_and_keeps_plan_mode(model, project):
    model.script(Step(tool_calls=[PLAN]), "What should I do instead?")
    agent = make_agent(model, project, plan=True, plan_approver=lambda plan: False)
    result = agent.run("fix add")
    assert result.stop_reason == "plan_rejected" and agent.planning
    assert len(model.prompts) == 1  # the model was not asked again
    agent.run("then just explain add")
    assert outputs(model.prompts[1])[0].startswith("Cancelled: the user rejected this plan")
    assert PLAN_MODE_NOTE in model.prompts[1].prompt


def test_reject_plan_through_the_api_stops_too(model, project):
    model.script(Step(tool_calls=[PLAN]))
    agent = make_agent(model, project)
    agent.plan("fix add")
    result = agent.reject_plan()
    assert result.stop_reason == "plan_rejected" and len(model.prompts) == 1 and agent.planning
    with pytest.raises(AgentStateError):
        agent.approve_plan()  # nothing is waiting any more


def test_a_plan_can_be_approved_after_a_restart_from_the_logs(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), Step(tool_calls=[PLAN]))
    agent = make_agent(model, project, db=db, plan=True)
    paused = agent.run("fix add")
    assert paused.plan is not None
    cid = agent.conversation_id
    del agent  # a new process: only the logs remain

    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
                 "Fixed.")
    again = CodingAgent.load(cid, db=db, model=model, undo=False, sandbox="off", approve=True)
    assert again.paused and again.planning
    assert again.pending_plan.steps == PLAN[1]["steps"]
    result = again.approve_plan()
    assert result.text == "Fixed." and "a + b" in (project / "app.py").read_text()
    assert outputs(model.prompts[-2])[-1].startswith("Plan approved")
    assert not again.planning

    # Loaded once more, the conversation is out of plan mode and has the plan as its todo list.
    later = CodingAgent.load(cid, db=db, model=model, undo=False, sandbox="off")
    assert not later.planning and [i.step for i in later.todos.items] == PLAN[1]["steps"]


def test_a_conversation_continued_while_planning_stays_in_plan_mode(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script("I need to know more first.")
    agent = make_agent(model, project, db=db, plan=True)
    agent.run("fix add")
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "ok")
    again = CodingAgent.load(agent.conversation_id, db=db, model=model, undo=False, sandbox="off", approve=True)
    assert again.planning
    again.run("go on")
    assert not (project / "x.txt").exists()


def test_a_plan_written_as_text_counts_as_presented(model, project):
    """Small models often write the numbered plan instead of calling present_plan."""
    model.script("My plan:\n1. Fix add() in app.py\n2. Run the tests\n")
    agent = make_agent(model, project, plan=True)
    result = agent.run("fix add")
    assert result.paused and result.plan.steps == ["Fix add() in app.py", "Run the tests"]


def test_a_plan_call_written_as_text_with_the_toolbox_prefix_is_recovered(model, project):
    """What the 1.5B local model wrote when asked for its plan."""
    call = {"name": "CodingTools_present_plan", "arguments": {"steps": ["Add multiply()", "Test it"]}}
    model.script("```json\n" + json.dumps(call) + "\n```")
    agent = make_agent(model, project, plan=True)
    result = agent.run("add multiply")
    assert result.paused and result.plan.steps == ["Add multiply()", "Test it"]


def test_a_run_in_plan_mode_that_ends_without_a_plan_asks_for_it_once(model, project):
    model.script("I need to present the plan to the user.", Step(tool_calls=[PLAN]))
    notices = []
    agent = make_agent(model, project, plan=True, on_notice=notices.append)
    result = agent.run("fix add")
    assert "you have not presented a plan" in model.prompts[1].prompt
    assert result.paused and result.plan is not None
    assert any("no plan was presented" in n for n in notices)
    model.script("Still no plan.", "Still none.")
    agent.discard_pending()
    result = agent.run("explain instead")
    assert result.text == "Still none." and len(model.prompts) == 4  # asked once per run, no more


def test_malformed_plans_get_an_error_the_model_can_act_on(model, project):
    model.script(Step(tool_calls=[("present_plan", {"steps": []})]), Step(tool_calls=[PLAN]))
    agent = make_agent(model, project, plan=True)
    result = agent.run("plan")
    assert result.tool_calls[0][1].output.startswith("Error: the plan has no steps")
    assert result.paused


def test_split_steps_reads_numbered_bulleted_and_plain_lines():
    assert split_steps("1. a\n   more of a\n2) b\n# comment\n") == ["a more of a", "b"]
    assert split_steps("- a\n- b") == ["a", "b"]
    assert split_steps("a\nb\n\n") == ["a", "b"]


# -- llm code --plan ----------------------------------------------------------------------------


def run_cli(args, input=None, env=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, env=env, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


def test_headless_plan_prints_the_plan_and_changes_nothing(model, project):
    before = snapshot(project)
    model.script(Step(tool_calls=WRITES), Step(tool_calls=[present("Fix add()", "Run the tests", questions=["Why?"])]))
    result = run_cli(base(project, "-p", "--plan", "fix add", "--allow", "rm*"))
    assert result.exit_code == 0, result.output
    assert snapshot(project) == before
    assert "1. Fix add()\n2. Run the tests" in result.stdout
    assert "Why?" in result.stdout
    assert "nothing was changed" in result.stderr


def test_headless_plan_without_yolo_stops_at_the_plan(model, project):
    model.script(Step(tool_calls=[PLAN]), "should not be reached")
    result = run_cli(base(project, "--plan", "-p", "fix add"))
    assert result.exit_code == 0, result.output
    assert len(model.prompts) == 1


def test_headless_plan_json_emits_a_plan_event(model, project):
    model.script(Step(tool_calls=[PLAN]))
    result = run_cli(base(project, "-p", "--plan", "fix add", "--json"))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    (plan,) = [e for e in events if e["type"] == "plan"]
    assert plan["steps"] == PLAN[1]["steps"]
    final = events[-1]
    assert final["type"] == "final" and final["status"] == "paused" and final["conversation_id"]


def test_headless_plan_with_yolo_plans_then_executes(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="early.txt", content="x")]),
        Step(tool_calls=[PLAN]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed.",
    )
    result = run_cli(base(project, "-p", "--plan", "fix add", "--yolo"))
    assert result.exit_code == 0, result.output
    assert not (project / "early.txt").exists()
    assert "a + b" in (project / "app.py").read_text()
    assert "Plan approved" in outputs(model.prompts[2])[-1]


def interactive_plan_steps():
    return [
        Step(tool_calls=[PLAN]),
        Step(tool_calls=[present("Fix add()", "Add a test")]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed.",
    ]


def test_interactive_plan_revise_then_approve(model, project):
    model.script(*interactive_plan_steps())
    result = run_cli(base(project, "--plan"), input="fix add\nn: add a test too\ny\ny\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("[y]es") >= 3  # two plans, then the edit's approval
    assert "1. Change add() in app.py to return a + b" in result.output
    assert "The user wants changes to the plan: add a test too" in outputs(model.prompts[1])[-1]
    assert "1. Fix add()\n2. Add a test" in outputs(model.prompts[2])[-1]
    assert "a + b" in (project / "app.py").read_text()


def test_interactive_plan_edit_with_typed_amendment(model, project):
    model.script(Step(tool_calls=[PLAN]), "ok")
    result = run_cli(base(project), input="!plan fix add\ne: also update the README\n")
    assert result.exit_code == 0, result.output
    told = outputs(model.prompts[1])[-1]
    assert "edited the plan" in told and "3. also update the README" in told


def test_interactive_plan_edit_in_the_editor(model, project, tmp_path, monkeypatch):
    script = tmp_path / "fake-editor.sh"
    script.write_text("#!/bin/sh\nsed -i 's/Run pytest to prove it/Run pytest -q tests/' \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))
    model.script(Step(tool_calls=[PLAN]), "ok")
    result = run_cli(base(project, "--plan", "fix add"), input="e\n")
    assert result.exit_code == 0, result.output
    told = outputs(model.prompts[1])[-1]
    assert "2. Run pytest -q tests" in told and "prove it" not in told


def test_interactive_plan_rejected_with_plain_n(model, project):
    model.script(Step(tool_calls=[PLAN]), "What instead?")
    result = run_cli(base(project, "--plan", "fix add"), input="n\n!plan\n")
    assert result.exit_code == 0, result.output
    assert "plan rejected" in result.output.lower()
    assert "plan mode off" in result.output.lower()
    assert len(model.prompts) == 1


def test_plan_command_toggles_and_is_in_help(model, project):
    model.script("Just an answer.")
    result = run_cli(base(project), input="!plan\n/plan\n!help\n")
    assert result.exit_code == 0, result.output
    lower = result.output.lower()
    assert "plan mode on" in lower and "plan mode off" in lower
    assert "!plan [task]" in lower


def test_interactive_plan_in_a_pseudo_terminal_revise_edit_approve(project, tmp_path, monkeypatch):
    """The real prompt: n: feedback sends the plan back, e edits it in $EDITOR, the approved
    version becomes the checklist, and the change then asks for approval as usual."""
    pexpect = pytest.importorskip("pexpect")
    from test_pty import spawn

    editor = tmp_path / "fake-editor.sh"
    editor.write_text("#!/bin/sh\nprintf '3. Run pytest -q\\n' >> \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    steps = [
        {"tool_calls": [["present_plan", {"steps": ["Fix add()"]}]]},
        {"tool_calls": [["present_plan", {"steps": ["Fix add() in app.py", "Add a test"]}]]},
        {"tool_calls": [["CodingTools_edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}]]},
        {"text": "Fixed."},
    ]
    child = spawn(project, steps, tmp_path, "--plan")
    try:
        child.expect("plan mode")  # the header says so
        child.expect("›")
        child.sendline("fix add")
        child.expect(r"Plan \(1 step\)")
        child.expect(r"\[y\]es")
        child.sendline("n: add a test")
        child.expect(r"Plan \(2 steps\)")
        child.expect(r"\[y\]es")
        child.sendline("e")
        child.expect("Your version of the plan")
        child.expect("3. Run pytest -q")
        child.expect("☐ Fix add\\(\\) in app.py")  # the checklist, with the terminal's marks
        child.expect(r"Edit app\.py\?")
        assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"
        child.sendline("y")
        child.expect("Fixed.")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_a_plan_from_a_headless_run_is_answered_when_the_session_is_continued(model, project):
    model.script(Step(tool_calls=[PLAN]))
    first = run_cli(base(project, "-p", "--plan", "fix add", "--json"))
    cid = json.loads(first.stdout.splitlines()[-1])["conversation_id"]
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), "Fixed.")
    result = run_cli(base(project, "--cid", cid), input="y\ny\n")
    assert result.exit_code == 0, result.output
    assert "Plan (2 steps)" in result.output
    assert "a + b" in (project / "app.py").read_text()
    assert outputs(model.prompts[-2])[-1].startswith("Plan approved")


# -- a real model ---------------------------------------------------------------------------------


@pytest.mark.localmodel
@pytest.mark.skipif(not os.environ.get("LLM_CODE_TEST_MODEL"), reason="set LLM_CODE_TEST_MODEL to run real-model tests")
def test_a_real_model_presents_a_plan_and_changes_nothing(real_model, tmp_path):
    from test_localmodel import succeeds_once_in

    def attempt(root):
        (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        (root / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
        before = snapshot(root)
        agent = CodingAgent(model=real_model, root=str(root), approve=True, undo=False, sandbox="off",
                            chain_limit=6, options={"max_tokens": 600})
        result = agent.plan("Add a multiply(a, b) function to calc.py and a test for it.")
        assert snapshot(root) == before  # whatever the model tried, every attempt
        if result.plan is None or not result.plan.steps:
            return result.stop_reason, [c.name for c, _ in result.tool_calls], result.text[:300]

    succeeds_once_in(3, attempt, tmp_path, "presented a plan")
