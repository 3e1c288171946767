"""Autonomous runs: `llm code --auto TASK` and `llm loop`, with the scripted model through the real CLI."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step, tool

from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.autonomous import COMPLETED_OUTPUT, COMPLETION_TOOL, AutonomousRun


def run(args, input=None):
    return CliRunner().invoke(cli, args, input=input, catch_exceptions=False)


def auto(project, task, *extra, input=None):
    return run(["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", "--auto", task, *extra], input=input)


def complete(summary="done"):
    return Step(tool_calls=[(COMPLETION_TOOL, {"summary": summary})])


def final_event(result) -> dict:
    return json.loads(result.stdout.splitlines()[-1])


def texts(prompt) -> list[str]:
    return [p.text for m in prompt.messages for p in m.parts if getattr(p, "text", None)]


def test_a_run_goes_on_across_turns_until_task_complete(model, project):
    model.script(
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "I fixed add().",  # an answer without the completion call: the run goes on
        complete("add() now adds; checked by reading it back"),
    )
    result = auto(project, "fix add in app.py", "--yolo")
    assert result.exit_code == 0, result.output
    assert "a + b" in (project / "app.py").read_text()
    assert len(model.prompts) == 3
    # The task went first with the note that only task_complete ends the run ...
    assert "only that call ends the run" in model.prompts[0].prompt and "fix add in app.py" in model.prompts[0].prompt
    assert COMPLETION_TOOL in [t.name for t in model.prompts[0].tools]
    # ... then a continuation message started turn 2.
    assert model.prompts[2].prompt.startswith("[Autonomous run, turn 2: the task is not marked complete yet.")
    assert result.stdout == "I fixed add().\nSummary: add() now adds; checked by reading it back\n"
    assert "Completed · 2 turns · 2 tool calls" in result.stderr
    assert "── turn 2 ──" in result.stderr
    # The session list shows the task in the user's words (the run's notes are the agent's).
    listed = run(["code", "sessions", "-d", str(project)]).stdout.splitlines()[1]
    assert listed.endswith("1 turn  45 tokens  fix add in app.py")


def test_saying_task_complete_in_an_answer_does_not_end_the_run(model, project):
    model.script("TASK_COMPLETE", complete("really done"))
    result = auto(project, "say hi", "--json")
    assert result.exit_code == 0, result.output
    final = final_event(result)
    assert final["status"] == "completed" and final["turns"] == 2 and final["summary"] == "really done"
    assert "called no tool" in model.prompts[1].prompt


def test_max_turns_ends_the_run_with_exit_3_and_says_so(model, project):
    model.script(*[s for _ in range(3) for s in (Step(tool_calls=[tool("list_files")]), "still working")])
    result = auto(project, "explore", "--max-turns", "2", "--json")
    assert result.exit_code == 3, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["turn"] for e in events if e["type"] == "turn"] == [1, 2]
    final = events[-1]
    assert final["status"] == "budget" and final["reason"] == "max_turns"
    assert final["turns"] == 2 and final["tool_calls"] == 2 and final["model_calls"] == 4
    assert final["usage"] == {"input": 40, "output": 20} and final["tests_passed"] is None
    assert len(model.prompts) == 4  # the third turn never started
    assert "turn 2 of 2" in model.prompts[2].prompt


def test_plain_text_summary_of_a_budget_stop(model, project):
    model.script(Step(tool_calls=[tool("list_files")]), "working")
    result = auto(project, "explore", "--max-turns", "1")
    assert result.exit_code == 3
    assert "Stopped: a budget is used up (--max-turns) · 1 turn · 1 tool call · 30 tokens" in result.stderr
    assert "--auto \"continue\"" in result.stderr


def test_answers_without_tools_turn_after_turn_are_stuck(model, project):
    model.script("thinking", "still thinking", "hmm")
    result = auto(project, "do it", "--json")
    assert result.exit_code == 3
    final = final_event(result)
    assert final["status"] == "stuck" and final["reason"] == "no_tool_calls" and final["turns"] == 3


def test_the_same_answer_twice_without_tools_is_stuck(model, project):
    model.script(Step(tool_calls=[tool("list_files")]), "working on it", "I cannot", "I cannot")
    result = auto(project, "do it", "--json")
    final = final_event(result)
    assert result.exit_code == 3 and final["status"] == "stuck" and final["reason"] == "same_answer"


def test_calls_nobody_can_approve_end_the_run_as_declined(model, project):
    # Piped stdin and no --yolo: nobody to ask, so changes are declined as in -p.
    write = Step(tool_calls=[tool("write_file", path="x.txt", content="x")])
    model.script(write, "could not write", write, "could not write again")
    result = auto(project, "write x", input="")
    assert result.exit_code == 3, result.output
    assert not (project / "x.txt").exists()
    assert "Stopped: calls were declined" in result.stderr and "rerun with --yolo" in result.stderr


def test_the_todo_list_is_in_the_continuation_message(model, project):
    todos = [{"step": "Read app.py", "status": "completed"}, {"step": "Fix add", "status": "in_progress"},
             {"step": "Run the tests", "status": "pending"}]
    model.script(Step(tool_calls=[tool("update_todos", plan=todos)]), "next I fix add", complete())
    result = auto(project, "fix add", "--json")
    assert result.exit_code == 0
    continuation = model.prompts[2].prompt
    assert "Left on the todo list:\n- Fix add (in progress)\n- Run the tests" in continuation
    assert "Read app.py" not in continuation


def test_the_completion_tool_exists_only_in_autonomous_runs(model, project):
    model.script("ok")
    result = run(["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", "-p", "hi"])
    assert result.exit_code == 0
    assert COMPLETION_TOOL not in [t.name for t in model.prompts[0].tools]


def test_continuing_a_completed_run_answers_its_task_complete_call(model, project):
    model.script(complete("all done"))
    cid = final_event(auto(project, "finish", "--json"))["conversation_id"]
    model.script("sure")
    result = run(["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", "--cid", cid, "-p", "thanks"])
    assert result.exit_code == 0, result.output
    assert "waiting" not in result.stderr  # not "paused" on a tool the session does not have
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert outputs == [COMPLETED_OUTPUT]


def test_time_budget_through_the_api(model, project):
    now = [0.0]

    def clock():
        now[0] += 40  # every look at the clock is 40 s later
        return now[0]

    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(5)])
    agent = CodingAgent(model=model, root=str(project), approve=True, sandbox="off", undo=False)
    outcome = AutonomousRun(agent, max_time=100, clock=clock).run("explore")
    assert outcome.outcome == "budget" and outcome.reason == "max_time"
    assert outcome.turns == 1 and outcome.tool_calls == 2  # stopped inside the first turn
    assert COMPLETION_TOOL not in [t.name for t in agent.tools]  # removed once the run ended


def test_an_autonomous_run_needs_an_approver(model, project):
    agent = CodingAgent(model=model, root=str(project), approve=None, sandbox="off", undo=False)
    with pytest.raises(ValueError, match="needs approve=True"):
        AutonomousRun(agent)


def test_auto_and_print_together_are_a_usage_error(project):
    result = auto(project, "a", "-p", "b")
    assert result.exit_code == 2 and "use one of them" in result.output


# -- llm loop ----------------------------------------------------------------------------------------


def test_llm_loop_takes_llm_loops_flags(model, project, tmp_path):
    functions = tmp_path / "extra.py"
    functions.write_text("def shout(text: str) -> str:\n    'Upper-case text.'\n    return text.upper()\n")
    model.script(
        # --internal-cl 1: one tool round per turn, the second call of this turn is answered as not run.
        Step(tool_calls=[("shout", {"text": "hi"})]),
        Step(tool_calls=[tool("list_files")]),
        complete("shouted"),
    )
    result = run([
        "loop", "shout hi", "-m", "scripted", "-s", "Answer briefly.", "--functions", str(functions),
        "--internal-cl", "1", "--max-turns", "5", "--td", "--yolo", "--directory", str(project), "--sandbox", "off",
    ])
    assert result.exit_code == 0, result.output
    system = [p.text for m in model.prompts[0].messages if m.role == "system" for p in m.parts]
    assert "Answer briefly." in system[0]
    assert "shout" in [t.name for t in model.prompts[0].tools]
    shouted = [p.output for m in model.prompts[1].messages for p in m.parts if hasattr(p, "output")]
    assert shouted == ["HI"]
    cut = [p.output for m in model.prompts[2].messages for p in m.parts if hasattr(p, "output")]
    assert "chain limit of 1 tool rounds" in cut[-1]
    assert 'shout {"text": "hi"}' in result.stderr and "HI" in result.stderr  # --td
    assert "Summary: shouted" in result.stdout


def test_llm_loop_max_turns_exit_status(model, project):
    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(10)])
    # --ta: calls that change something ask (read-only ones, like these, never do).
    result = run(["loop", "explore", "-m", "scripted", "--max-turns", "2", "--internal-cl", "1", "--ta",
                  "--directory", str(project), "--sandbox", "off", "--json"])
    assert result.exit_code == 3
    final = final_event(result)
    assert final["status"] == "budget" and final["turns"] == 2


def test_llm_loop_ta_and_yolo_conflict(project):
    result = run(["loop", "x", "--ta", "--yolo"])
    assert result.exit_code == 2 and "use one of them" in result.output


def test_loop_is_registered_only_when_no_other_plugin_provides_it():
    from llm_coding_agent.cli import register
    from llm_coding_agent.cli.auto import loop_command

    ours = click.Group()
    register(ours)
    assert ours.commands["loop"] is loop_command and "code" in ours.commands

    @click.command(name="loop")
    def their_loop():
        """llm-loop's command."""

    theirs = click.Group()
    theirs.add_command(their_loop)
    register(theirs)
    assert theirs.commands["loop"] is their_loop and "code" in theirs.commands


def test_an_autonomous_run_at_a_terminal_asks_as_llm_code_does(project, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    from test_pty import spawn

    steps = [
        {"tool_calls": [["CodingTools_edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}]]},
        {"tool_calls": [["task_complete", {"summary": "add() fixed"}]]},
    ]
    child = spawn(project, steps, tmp_path, "--auto", "fix add")
    try:
        child.expect(r"Edit app\.py\?")
        child.expect(r"\[y\]es")
        child.sendline("y")
        child.expect("Summary: add\\(\\) fixed")
        child.expect("Completed")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert "a + b" in (project / "app.py").read_text()


def test_max_tokens_ends_the_run_as_a_budget(model, project):
    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(5)])
    result = auto(project, "explore", "--max-tokens", "40", "--json")
    assert result.exit_code == 3
    final = final_event(result)
    assert final["status"] == "budget" and final["reason"] == "max_tokens"
    assert final["model_calls"] == 3 and final["usage"] == {"input": 30, "output": 15}


def test_the_summary_says_whether_the_tests_pass(model, project):
    (project / "test_app.py").write_text("from app import add\n\ndef test_add():\n    assert add(2, 2) == 0\n")
    model.script(Step(tool_calls=[tool("execute_command", command="python -m pytest -q -p no:cacheprovider")]),
                 complete("tests run"))
    result = auto(project, "run the tests", "--yolo")
    assert result.exit_code == 0, result.output
    assert "Completed · 1 turn · 2 tool calls" in result.stderr and "tests passing" in result.stderr


def test_an_export_that_cannot_be_written_is_a_one_line_error(model, project, tmp_path):
    model.script(complete())
    result = auto(project, "x", "--export-conversation", str(tmp_path / "no-such-dir" / "s.json"))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: cannot write")
    assert "Traceback" not in result.output
