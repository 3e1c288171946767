"""Sub-agents: the delegate tool, through the API and the real `llm code` CLI.

The scripted model answers the main agent and its sub-agent from one script, in the order the
requests are made: the main agent's delegate call, then each of the sub-agent's responses, then
the main agent's next response after the delegate result.
"""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli
from llm.migrations import migrate
from llm.parts import ToolResultPart

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.subagents import SUBAGENTS_TABLE, SubagentEvent
from llm_coding_agent.tools.sandbox import bwrap_problem

ORIGINAL = "def add(a, b):\n    return a - b\n"


def delegate(task: str, tools: str | None = None) -> tuple[str, dict]:
    return ("delegate", {"task": task, **({"tools": tools} if tools else {})})


def make_agent(project, **kwargs) -> CodingAgent:
    kwargs.setdefault("approve", True)
    kwargs.setdefault("sandbox", "off")
    kwargs.setdefault("undo", False)
    return CodingAgent(model="scripted", root=project, **kwargs)


def outputs(prompt) -> list[str]:
    """The tool results a request sent to the model."""
    return [p.output for m in prompt.messages for p in m.parts if isinstance(p, ToolResultPart)]


def run_cli(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


# -- read-only sub-agents -----------------------------------------------------------------------


def test_read_only_subagent_is_refused_every_change_whatever_the_approver_says(model, project):
    asked = []
    model.script(
        Step(tool_calls=[delegate("fix add in app.py")]),
        Step(tool_calls=[
            tool("write_file", path="app.py", content="broken\n"),
            tool("edit_file", path="app.py", old_string="a - b", new_string="a + b"),
            tool("execute_command", command="echo broken > app.py"),
            tool("read_file", path="app.py"),
        ]),
        "add subtracts; it should be a + b (app.py line 2).",
        "The sub-agent found the bug.",
    )
    agent = make_agent(project, approve=lambda tool, call: asked.append(call) or True)
    result = agent.run("find the bug")
    assert (project / "app.py").read_text() == ORIGINAL
    assert asked == []  # refused before any approval question
    sub_results = outputs(model.prompts[2])
    for refused in sub_results[:3]:
        assert refused.startswith("Error: this sub-agent is read-only"), refused
    assert "return a - b" in sub_results[3]
    assert result.text == "The sub-agent found the bug."
    report = outputs(model.prompts[3])[-1]
    assert "Files it changed: none" in report and "app.py line 2" in report


def test_read_only_subagent_is_refused_under_yolo_too_and_its_toolbox_refuses_as_a_backstop(model, project):
    model.script(
        Step(tool_calls=[delegate("rewrite app.py", "read-only")]),
        Step(tool_calls=[tool("write_file", path="app.py", content="x\n")]),
        "could not",
        "ok",
    )
    agent = make_agent(project, approve=True)
    agent.run("go")
    assert (project / "app.py").read_text() == ORIGINAL
    assert "read-only" in outputs(model.prompts[2])[0]
    sub = agent._make_subagent("read-only")
    assert sub.coding_tools.write_file("app.py", "x\n").startswith("Error:")
    assert sub.coding_tools.edit_file("app.py", "a - b", "a + b").startswith("Error:")
    assert (project / "app.py").read_text() == ORIGINAL


@pytest.mark.skipif(bwrap_problem() is not None, reason="needs bubblewrap")
def test_read_only_subagent_commands_run_in_a_read_only_sandbox(model, project):
    """A command the allow rules cover still cannot write: the project is mounted read-only."""
    model.script(
        Step(tool_calls=[delegate("look")]),
        Step(tool_calls=[
            tool("execute_command", command="sed -i s/a/b/ app.py"),
            tool("execute_command", command="cat app.py"),
        ]),
        "done looking",
        "ok",
    )
    agent = make_agent(project, sandbox="on", allow=["sed*", "cat*"])
    agent.run("go")
    sed, cat = outputs(model.prompts[2])
    assert "Exit code: 0" not in sed and "Read-only file system" in sed
    assert "return a - b" in cat and (project / "app.py").read_text() == ORIGINAL


# -- tools="all" ----------------------------------------------------------------------------------


def test_all_tools_subagent_writes_with_approval_and_reports_the_changed_files(model, project):
    asked = []

    def approve(tool, call):
        asked.append((tool.name, call.arguments.get("path")))
        return True

    model.script(
        Step(tool_calls=[delegate("fix add", "all")]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed add in app.py.",
        "Done: the sub-agent fixed it.",
    )
    result = make_agent(project, approve=approve).run("fix it")
    assert "a + b" in (project / "app.py").read_text()
    assert asked == [("CodingTools_edit_file", "app.py")]  # the parent's approver answered
    report = result.tool_calls[0][1].output
    assert "Files it changed: app.py" in report and "Fixed add in app.py." in report


def test_all_tools_subagent_change_declined_by_the_approver_is_not_made(model, project):
    model.script(
        Step(tool_calls=[delegate("fix add", "all")]),
        Step(tool_calls=[tool("write_file", path="new.txt", content="x")]),
        "The change was declined.",
        "ok",
    )
    result = make_agent(project, approve=lambda tool, call: False).run("go")
    assert not (project / "new.txt").exists()
    assert outputs(model.prompts[2])[0].startswith("Cancelled:")
    assert "Files it changed: none" in result.tool_calls[0][1].output


def test_files_changed_by_a_subagents_commands_are_listed(model, project):
    model.script(
        Step(tool_calls=[delegate("make notes", "all")]),
        Step(tool_calls=[tool("execute_command", command="echo hi > notes.txt && rm README.md")]),
        "Made notes.",
        "ok",
    )
    result = make_agent(project).run("go")
    assert (project / "notes.txt").exists()
    assert "Files it changed: README.md, notes.txt" in result.tool_calls[0][1].output


def test_paused_approval_declines_the_subagents_changes_and_the_delegate_call_does_not_pause(model, project):
    model.script(
        Step(tool_calls=[delegate("write x", "all")]),
        Step(tool_calls=[tool("write_file", path="x.txt", content="x")]),
        "I could not write x.txt; it should contain x.",
        "ok",
    )
    result = make_agent(project, approve=None).run("go")
    assert not result.paused and result.stop_reason == "done"
    assert not (project / "x.txt").exists()
    declined = outputs(model.prompts[2])[0]
    assert declined.startswith("Cancelled:") and "sub-agent cannot pause" in declined


def test_plan_mode_allows_only_read_only_subagents(model, project):
    model.script(
        Step(tool_calls=[delegate("change things", "all")]),
        Step(tool_calls=[tool("present_plan", steps=["look"])]),
    )
    agent = make_agent(project, plan=True, plan_approver=lambda plan: False)
    agent.run("plan it")
    refused = outputs(model.prompts[1])[0]
    assert refused.startswith("Error: plan mode is on") and 'tools="read-only"' in refused
    assert len(model.prompts) == 2  # no sub-agent ran


# -- what the parent sees -------------------------------------------------------------------------


def test_the_parent_gets_only_the_final_text_and_the_sub_agent_starts_fresh(model, project):
    model.script(
        Step(tool_calls=[delegate("what does add do?")]),
        Step(text="Let me look.", tool_calls=[tool("read_file", path="app.py")]),
        "add returns a - b.",
        "It subtracts.",
    )
    result = make_agent(project, system="Be brief.").run("SECRET-PARENT-REQUEST about add")
    sub_first = model.prompts[1]
    sub_texts = " ".join(str(getattr(p, "text", "")) for m in sub_first.messages for p in m.parts)
    assert "SECRET-PARENT-REQUEST" not in sub_texts and "what does add do?" in sub_texts
    assert "Be brief." in sub_first.system and "sub-agent" in sub_first.system and "read-only" in sub_first.system
    parent_next = model.prompts[3]
    everything = json.dumps([m.to_dict() if hasattr(m, "to_dict") else str(m) for m in parent_next.messages], default=str)
    assert "return a - b" not in everything and "Let me look." not in everything  # its work stays in its context
    report = outputs(parent_next)[-1]
    assert report.endswith("Its answer:\nadd returns a - b.")
    assert result.text == "It subtracts."
    # Its tokens count towards the parent's run and session.
    assert result.usage.input == 40 and result.usage.output == 20


def test_turn_budget_stops_the_subagent(model, project):
    model.script(
        Step(tool_calls=[delegate("search forever")]),
        *[Step(text=f"looking {n}", tool_calls=[tool("list_files", pattern=f"*{n}")]) for n in range(2)],
        "parent goes on",
    )
    result = make_agent(project, delegate_max_turns=2).run("go")
    report = result.tool_calls[0][1].output
    assert "budget of 2 model calls was used up" in report and "may be incomplete" in report
    assert "looking 1" in report
    assert result.text == "parent goes on" and len(model.prompts) == 4


def test_token_budget_stops_the_subagent(model, project):
    model.script(
        Step(tool_calls=[delegate("search")]),
        Step(tool_calls=[tool("list_files")], usage=(100, 50)),
        "parent goes on",
    )
    result = make_agent(project, delegate_max_tokens=120).run("go")
    assert "token budget was used up" in result.tool_calls[0][1].output
    assert result.text == "parent goes on"


def test_events_are_tagged_with_the_delegate_call_and_the_sub_conversation(model, project):
    events: list[SubagentEvent] = []
    started = []
    model.script(
        Step(tool_calls=[delegate("look")]),
        Step(text="hm", tool_calls=[tool("read_file", path="app.py")]),
        "found it",
        "ok",
    )
    agent = make_agent(project, on_subagent=events.append, on_tool_start=started.append)
    agent.run("go")
    delegate_call = started[0]
    assert delegate_call.name == "delegate" and len(started) == 1  # the parent's callbacks see only its own calls
    assert [e.kind for e in events] == ["start", "text", "tool_start", "tool", "text", "text", "end"]
    assert {e.parent for e in events} == {delegate_call.tool_call_id}
    assert {e.depth for e in events} == {1}
    sub_id = events[0].conversation_id
    assert {e.conversation_id for e in events} == {sub_id} and sub_id != agent.conversation_id
    assert events[-1].outcome.text == "found it" and events[-1].outcome.conversation_id == sub_id


def test_a_subagent_cannot_delegate_further(model, project):
    model.script(
        Step(tool_calls=[delegate("look")]),
        Step(tool_calls=[delegate("look deeper")]),
        "no deeper",
        "ok",
    )
    agent = make_agent(project)
    agent.run("go")
    assert "there is no tool named 'delegate'" in outputs(model.prompts[2])[0]
    assert "delegate" not in [t.name for t in model.prompts[1].tools]
    assert agent._make_subagent("read-only").subagent_depth == 1
    with pytest.raises(Exception, match="cannot delegate further"):
        agent._make_subagent("read-only").delegate("again")


def test_ctrl_c_in_the_subagent_interrupts_the_parent(model, project):
    model.script(
        Step(tool_calls=[delegate("look")]),
        Step(raise_exc=KeyboardInterrupt()),
    )
    result = make_agent(project).run("go")
    assert result.interrupted and result.stop_reason == "interrupted"


# -- offering the tool ----------------------------------------------------------------------------


def test_no_tool_delegate_and_the_small_profile_withhold_it(model, project):
    names = lambda agent: [t.name for t in agent.tools]
    assert "delegate" in names(make_agent(project))
    assert "delegate" not in names(make_agent(project, disabled_tools=["delegate"]))
    small = make_agent(project, profile="small")
    assert "delegate" not in names(small)
    small.config.profile = "default"
    small.set_model("scripted")
    assert "delegate" in names(small)


def test_cli_no_tool_delegate(model, project):
    model.script("ok")
    result = run_cli(base(project, "--no-tool", "delegate", "-p", "hi"))
    assert result.exit_code == 0, result.output
    assert "delegate" not in [t.name for t in model.prompts[0].tools]
    model.script("ok")
    run_cli(base(project, "-p", "hi"))
    assert "delegate" in [t.name for t in model.prompts[1].tools]


# -- the logs -------------------------------------------------------------------------------------


def test_both_conversations_are_logged_and_linked(model, project, tmp_path):
    from llm_coding_agent.cli.metrics import read_tasks
    from llm_coding_agent.cli.sessions import recent_sessions

    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    events = []
    model.script(
        Step(tool_calls=[delegate("look")]),
        Step(tool_calls=[tool("read_file", path="app.py")]),
        "found",
        "ok",
    )
    agent = make_agent(project, db=db, on_subagent=events.append)
    agent.run("go")
    sub_id, parent_call = events[0].conversation_id, events[0].parent
    threads = {row["id"] for row in db["threads"].rows}
    assert {agent.conversation_id, sub_id} <= threads
    link = db[SUBAGENTS_TABLE].get(sub_id)
    assert link["parent_conversation_id"] == agent.conversation_id and link["parent_tool_call_id"] == parent_call
    assert link["task"] == "look" and link["tools"] == "read-only" and link["stop_reason"] == "done"
    # The parent's log holds the delegate result naming the sub-conversation.
    loaded = CodingAgent.load(agent.conversation_id, db=db, model="scripted", sandbox="off", undo=False)
    logged = [p.output for m in loaded.history() for p in m.parts if isinstance(p, ToolResultPart)]
    assert any(sub_id in output for output in logged)
    # One user session: the sub-agent's conversation is part of it, not a session of its own.
    assert [s.conversation_id for s in recent_sessions(db, project)] == [agent.conversation_id]
    assert {t.conversation_id for t in read_tasks(db)} == {agent.conversation_id}


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_json_read_only_subagent_write_refused_and_events_tagged(model, project):
    model.script(
        Step(tool_calls=[delegate("fix add")]),
        Step(tool_calls=[tool("write_file", path="app.py", content="broken\n")]),
        "I am read-only; change line 2 to a + b.",
        "Done.",
    )
    result = run_cli(base(project, "--yolo", "-p", "fix add", "--json"))
    assert result.exit_code == 0, result.output
    assert (project / "app.py").read_text() == ORIGINAL
    events = [json.loads(line) for line in result.stdout.splitlines()]
    call = next(e for e in events if e["type"] == "tool_call" and e["name"] == "delegate")
    assert "parent" not in call
    start = next(e for e in events if e["type"] == "subagent_start")
    sub_id = start["conversation_id"]
    assert start["parent"] == call["id"] and start["tools"] == "read-only" and start["task"] == "fix add"
    tagged = [e for e in events if e.get("parent") == call["id"]]
    refused = next(e for e in tagged if e["type"] == "tool_result")
    assert refused["name"] == "CodingTools_write_file" and refused["error"] is True
    assert "read-only" in refused["output"] and refused["conversation_id"] == sub_id
    end = next(e for e in events if e["type"] == "subagent_end")
    assert end["changed_files"] == [] and end["text"].startswith("I am read-only")
    result_event = next(e for e in events if e["type"] == "tool_result" and e["id"] == call["id"])
    assert "parent" not in result_event and sub_id in result_event["output"]
    assert events[-1]["type"] == "final" and events[-1]["conversation_id"] != sub_id


def test_cli_shows_the_subagent_as_an_indented_block(model, project):
    model.script(
        Step(tool_calls=[delegate("fix add", "all")]),
        Step(text="Fixing.", tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed.",
        "All done.",
    )
    result = run_cli(base(project, "--yolo", "-p", "fix add"))
    assert result.exit_code == 0, result.output
    assert "a + b" in (project / "app.py").read_text()
    err = result.stderr
    assert "⏺ delegate (all) fix add" in err
    assert "  │ ● edit_file app.py → +1 -1" in err and "  │ Fixed." in err
    assert "● delegate → done · 2 model calls · 1 tool call · changed app.py" in err
    assert "All done." in result.stdout and "Fixed." not in result.stdout


def test_cli_interactive_approval_answers_the_subagents_change(model, project):
    model.script(
        Step(tool_calls=[delegate("fix add", "all")]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed.",
        "The sub-agent fixed add.",
    )
    result = run_cli(base(project), input="fix add\ny\n!quit\n")
    assert result.exit_code == 0, result.output
    assert "a + b" in (project / "app.py").read_text()
    out = result.stdout
    assert out.index("⏺ delegate (all) fix add") < out.index("? Sub-agent: Edit app.py?")
    assert out.index("? Sub-agent: Edit app.py?") < out.index("[y]es") < out.index("  │ ● edit_file app.py")
    assert "The sub-agent fixed add." in out


def test_cli_stats_count_one_task_for_a_delegating_run(model, project):
    model.script(
        Step(tool_calls=[delegate("look")]),
        Step(tool_calls=[tool("read_file", path="app.py")]),
        "found",
        "ok",
    )
    assert run_cli(base(project, "-p", "go")).exit_code == 0
    stats = CliRunner().invoke(cli, ["code", "stats", "--json"], catch_exceptions=False)
    summary = json.loads(stats.stdout)
    assert summary["overall"]["tasks"] == 1 and summary["overall"]["sessions"] == 1


def test_continue_picks_the_main_conversation_not_the_newer_sub_conversation(model, project):
    model.script(
        Step(tool_calls=[delegate("look")]),
        "found",
        "first done",
    )
    first = run_cli(base(project, "-p", "first task", "--json"))
    parent_id = json.loads(first.stdout.splitlines()[-1])["conversation_id"]
    sub_id = next(json.loads(l) for l in first.stdout.splitlines() if '"subagent_start"' in l)["conversation_id"]
    assert sub_id > parent_id  # llm's "latest" would be the sub-agent's
    model.script("second done")
    second = run_cli(base(project, "-c", "-p", "second task", "--json"))
    assert json.loads(second.stdout.splitlines()[-1])["conversation_id"] == parent_id
    texts = " ".join(str(getattr(p, "text", "")) for m in model.prompts[-1].messages for p in m.parts)
    assert "first task" in texts


def test_subagent_block_and_approval_in_a_pty(project, tmp_path):
    """The real terminal (rich): the block's lines, the sub-agent's approval question and diff."""
    pexpect = pytest.importorskip("pexpect")
    from test_pty import spawn

    steps = [
        {"tool_calls": [["delegate", {"task": "fix add in app.py", "tools": "all"}]]},
        {"text": "Fixing it.", "tool_calls": [["CodingTools_edit_file",
            {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}]]},
        {"text": "Fixed add."},
        {"text": "The sub-agent **fixed** add."},
    ]
    child = spawn(project, steps, tmp_path)
    try:
        child.expect("›")
        child.sendline("fix add")
        child.expect(r"delegate\S* \S*\(all\) fix add in app\.py")
        child.expect(r"Sub-agent: Edit app\.py\?")
        child.expect(r"\[y\]es")
        assert (project / "app.py").read_text() == ORIGINAL
        child.sendline("y")
        child.expect(r"│ \S*● \S*edit_file\S*\s+\S*app\.py\S* → \+1 -1")
        child.expect(r"│ \S*Fixed add\.")
        child.expect(r"delegate\S* → done · 2 model calls · 1 tool call · changed app\.py")
        child.expect("fixed")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "a + b" in (project / "app.py").read_text()


def test_cli_delegate_budget_options(model, project):
    model.script(
        Step(tool_calls=[delegate("search")]),
        Step(text="still looking", tool_calls=[tool("list_files")]),
        "parent goes on",
    )
    result = run_cli(base(project, "-p", "go", "--json", "--delegate-max-turns", "1"))
    assert result.exit_code == 0, result.output
    end = next(json.loads(l) for l in result.stdout.splitlines() if '"subagent_end"' in l)
    assert end["stop_reason"] == "max_turns" and end["model_calls"] == 1
    assert json.loads(result.stdout.splitlines()[-1])["text"] == "parent goes on"
    assert run_cli(base(project, "-p", "go", "--delegate-max-turns", "0")).exit_code != 0


def test_a_model_error_in_the_subagent_is_reported_to_the_parent_and_on_screen(model, project):
    model.script(
        Step(tool_calls=[delegate("fix add", "all")]),
        Step(tool_calls=[tool("write_file", path="notes.txt", content="n")]),
        Step(raise_exc=RuntimeError("connection reset")),
        "The sub-agent failed; I will do it myself.",
    )
    result = run_cli(base(project, "--yolo", "-p", "go"))
    assert result.exit_code == 0, result.output
    assert "● delegate → error · 1 model call · 1 tool call · changed notes.txt" in result.stderr
    report = outputs(model.prompts[-1])[-1]
    assert "failed: its model returned an error" in report and "connection reset" in report
    assert "Files it changed: notes.txt" in report
