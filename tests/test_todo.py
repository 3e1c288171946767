"""The todo list: update_todos in Codex's update_plan shape, at most one step in progress, never
asking approval, shown as a checklist (and --json todo events), kept through compaction and
recovered when a logged conversation is continued."""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli
from llm.migrations import migrate

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.tools.todo import TodoItem, TodoList, parse_todo_text


def make_agent(model, project, **kwargs):
    kwargs.setdefault("undo", False)
    kwargs.setdefault("sandbox", "off")
    return CodingAgent(model=model, root=str(project), **kwargs)


def todos(*pairs, explanation=None):
    arguments = {"plan": [{"step": step, "status": status} for step, status in pairs]}
    if explanation is not None:
        arguments["explanation"] = explanation
    return ("update_todos", arguments)


FIRST = todos(("Read app.py", "completed"), ("Fix add()", "in_progress"), ("Run the tests", "pending"),
              explanation="Working on the fix")


def test_update_todos_sets_the_list_and_reports_progress(model, project):
    model.script(Step(tool_calls=[FIRST]), "ok")
    seen = []
    agent = make_agent(model, project, on_todos=lambda t: seen.append(t.as_dicts()))
    result = agent.run("fix add")
    (call, output), = result.tool_calls
    assert output.output == "Todo list updated: 1 of 3 done; in progress: Fix add()"
    assert agent.todos.items == [TodoItem("Read app.py", "completed"), TodoItem("Fix add()", "in_progress"),
                                 TodoItem("Run the tests", "pending")]
    assert agent.todos.explanation == "Working on the fix"
    assert seen == [agent.todos.as_dicts()]


@pytest.mark.parametrize("bad, said", [
    (todos(("a", "in_progress"), ("b", "in_progress")), "at most one step may be in_progress"),
    (todos(("a", "doing")), "use one of pending, in_progress, completed"),
    (todos(("", "pending")), "has no text"),
    (("update_todos", {"plan": "not a list"}), "'plan' must be array"),
])
def test_bad_lists_are_refused_and_the_list_keeps_its_last_good_state(model, project, bad, said):
    model.script(Step(tool_calls=[FIRST]), Step(tool_calls=[bad]), "ok")
    agent = make_agent(model, project)
    result = agent.run("work")
    output = result.tool_calls[1][1].output
    assert output.startswith("Error:") and said in output
    assert [i.status for i in agent.todos.items] == ["completed", "in_progress", "pending"]


def test_the_todo_tool_never_asks_and_works_in_plan_mode(model, project):
    model.script(Step(tool_calls=[FIRST]), "ok")
    agent = make_agent(model, project, plan=True)  # approve=None would pause on anything that asks
    result = agent.run("plan it")
    assert not result.paused and result.tool_calls[0][1].output.startswith("Todo list updated")
    assert agent.policy.decide("update_todos", {}).verdict.value == "allow"


def test_bare_step_strings_are_accepted_as_pending():
    todo = TodoList()
    assert todo.update(["one", {"step": "two", "status": "In Progress"}]).startswith("Todo list updated")
    assert todo.items == [TodoItem("one", "pending"), TodoItem("two", "in_progress")]


def test_the_text_form_reads_back():
    todo = TodoList()
    todo.update([{"step": "a", "status": "completed"}, {"step": "b c", "status": "in_progress"}, "d"])
    assert todo.as_text() == "[x] a\n[~] b c\n[ ] d"
    assert parse_todo_text("intro\n" + todo.as_text()) == todo.items


# -- through compaction and restarts ----------------------------------------------------------------


def test_the_todo_list_survives_compaction(model, project):
    model.script(
        Step(tool_calls=[FIRST]),
        Step(tool_calls=[tool("read_file", path="app.py")]),
        Step(tool_calls=[tool("read_file", path="README.md")]),
        "first turn done",
        "## Task\nfix add\n## Remaining\n- everything",  # the summary
        "second turn done",
    )
    agent = make_agent(model, project)
    agent.run("fix add")
    agent.run("go on")  # more rounds, so the todo call is no longer among the kept ones
    agent.run("and on")
    report = agent.compact()
    assert report is not None and report.messages_summarised
    history = agent.history()
    calls = [p for m in history for p in m.parts if getattr(p, "name", "") == "update_todos"]
    assert calls == []  # the call itself was summarised away...
    summary = next(p.text for m in history for p in m.parts if getattr(p, "text", "").startswith("[Summary"))
    assert "[x] Read app.py\n[~] Fix add()\n[ ] Run the tests" in summary  # ...its list was kept
    model.script("ok")
    agent.run("what is left?")
    sent = "\n".join(getattr(p, "text", "") or "" for m in model.prompts[-1].messages for p in m.parts)
    assert "[~] Fix add()" in sent


def test_a_continued_conversation_recovers_the_todo_list(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(
        Step(tool_calls=[FIRST]),
        Step(tool_calls=[todos(("Read app.py", "completed"), ("Fix add()", "completed"), ("Run the tests", "in_progress"))]),
        "halfway",
    )
    agent = make_agent(model, project, db=db)
    agent.run("fix add")
    again = CodingAgent.load(agent.conversation_id, db=db, model=model, undo=False, sandbox="off")
    assert [i.status for i in again.todos.items] == ["completed", "completed", "in_progress"]


def test_a_continued_conversation_recovers_the_list_from_a_compacted_history(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(
        Step(tool_calls=[FIRST]), "one",
        Step(tool_calls=[tool("read_file", path="app.py")]), "two",
        "three",
        "## Task\nfix add",  # the summary
        "four",
    )
    agent = make_agent(model, project, db=db)
    for text in ("a", "b", "c"):
        agent.run(text)
    agent.compact()
    agent.run("d")  # logged with the compacted history
    again = CodingAgent.load(agent.conversation_id, db=db, model=model, undo=False, sandbox="off")
    assert [i.step for i in again.todos.items] == ["Read app.py", "Fix add()", "Run the tests"]
    assert again.todos.items[1].status == "in_progress"


# -- llm code -----------------------------------------------------------------------------------


def run_cli(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


def test_the_terminal_shows_a_checklist_when_the_list_changes(model, project):
    model.script(Step(tool_calls=[FIRST]), Step(tool_calls=[tool("read_file", path="app.py")]), "ok")
    result = run_cli(base(project), input="fix add\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Todo list (1 of 3 done; in progress: Fix add())" in out
    assert "  [x] Read app.py\n  [~] Fix add()\n  [ ] Run the tests" in out
    assert out.count("Todo list (") == 1  # printed when it changes, not after every call
    assert "update_todos" not in out  # the checklist is its line


def test_json_emits_todo_events(model, project):
    model.script(Step(tool_calls=[FIRST]), "ok")
    result = run_cli(base(project, "-p", "fix add", "--json"))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    (todo,) = [e for e in events if e["type"] == "todo"]
    assert todo["items"] == [{"step": "Read app.py", "status": "completed"},
                             {"step": "Fix add()", "status": "in_progress"},
                             {"step": "Run the tests", "status": "pending"}]
    assert todo["explanation"] == "Working on the fix"


def test_continuing_a_session_shows_its_todo_list(model, project):
    model.script(Step(tool_calls=[FIRST]), "paused here")
    first = run_cli(base(project, "-p", "fix add"))
    assert first.exit_code == 0, first.output
    model.script("ok")
    result = run_cli(base(project, "-c"), input="")
    assert result.exit_code == 0, result.output
    assert "Todo list (1 of 3 done; in progress: Fix add())" in result.output
    assert "[~] Fix add()" in result.output


def names(prompt):
    return [t.name for t in prompt.tools]


def test_small_models_get_update_todos_only_in_plan_mode_and_once_a_plan_is_approved(model, project):
    model.script("ok", "ok")
    make_agent(model, project, profile="small").run("fix add")
    make_agent(model, project).run("fix add")
    assert "update_todos" not in names(model.prompts[0]) and "update_todos" in names(model.prompts[1])
    assert "CodingTools_write_file" in names(model.prompts[0])

    model.script(Step(tool_calls=[("present_plan", {"steps": ["Fix add()", "Run the tests"]})]),
                 Step(tool_calls=[todos(("Fix add()", "in_progress"), ("Run the tests", "pending"))]), "done")
    agent = make_agent(model, project, profile="small", approve=True)
    agent.plan("fix add")
    assert "update_todos" in names(model.prompts[2])          # plan mode
    agent.approve_plan()
    assert "update_todos" in names(model.prompts[3])          # the approved plan is the list to keep
    assert agent.todos.items[0].status == "in_progress"
    agent.set_model(model.model_id)
    assert "update_todos" in [t.name for t in agent.tools]    # still: a list exists



def test_a_continued_small_model_conversation_with_a_todo_list_offers_its_tool(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(Step(tool_calls=[("present_plan", {"steps": ["Fix add()"]})]), "done", "ok")
    agent = make_agent(model, project, db=db, profile="small", approve=True)
    agent.plan("fix add")
    agent.approve_plan()
    again = CodingAgent.load(agent.conversation_id, db=db, model=model, undo=False, sandbox="off", profile="small")
    assert [i.step for i in again.todos.items] == ["Fix add()"]
    assert "update_todos" in [t.name for t in again.tools]
    fresh = make_agent(model, project, profile="small")
    assert "update_todos" not in [t.name for t in fresh.tools]
