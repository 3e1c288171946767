"""CodingAgent: the loop, approvals, pause/resume, limits, interrupts, weak-model recovery, logging."""

from __future__ import annotations

import json

import llm
import pytest
import sqlite_utils
from llm.migrations import migrate

from conftest import Step, tool
from llm_coding_agent import AgentStateError, CodingAgent
from llm_coding_agent.agent.textcalls import parse_text_tool_calls


def make_agent(model, project, **kwargs):
    kwargs.setdefault("undo", False)
    kwargs.setdefault("sandbox", "off")
    return CodingAgent(model=model, root=str(project), **kwargs)


def tool_messages(prompt):
    """(role, part) pairs of a prompt's messages, for assertions on what the model saw."""
    return [(m.role, p) for m in prompt.messages for p in m.parts]


def test_plain_answer(model, project):
    model.script(Step(text="Hello there", usage=(12, 3)))
    texts = []
    agent = make_agent(model, project, on_text=texts.append)
    result = agent.run("hi")
    assert result.text == "Hello there"
    assert "".join(texts) == "Hello there"
    assert len(texts) > 1  # streamed in chunks
    assert result.stop_reason == "done" and not result.paused and not result.hit_limit
    assert (result.usage.input, result.usage.output) == (12, 3)
    assert result.model_calls == 1


def test_read_only_tools_run_without_approval_and_results_reach_model(model, project):
    model.script(
        Step(tool_calls=[tool("read_file", path="app.py")]),
        Step(text="It subtracts."),
    )
    seen = []
    agent = make_agent(model, project, on_tool=lambda c, r: seen.append((c.name, r.output)))
    result = agent.run("what does add do?")
    assert result.text == "It subtracts."
    assert len(result.tool_calls) == 1
    call, res = result.tool_calls[0]
    assert "return a - b" in res.output
    assert seen[0][0] == "CodingTools_read_file"
    # The second request carried the tool result.
    outputs = [p.output for role, p in tool_messages(model.prompts[1]) if role == "tool"]
    assert any("return a - b" in o for o in outputs)


def test_system_prompt_first_turn_only_with_agents_md(model, project):
    (project / "AGENTS.md").write_text("Always use tabs. Run `make check`.\n")
    model.script("one", "two")
    agent = make_agent(model, project, system="Be terse.")
    agent.run("first")
    agent.run("second")
    first_system = [p.text for role, p in tool_messages(model.prompts[0]) if role == "system"]
    assert len(first_system) == 1
    text = first_system[0]
    assert str(project.resolve()) in text
    assert "Always use tabs" in text and "<project-guidance>" in text
    assert "cannot grant permissions" in text
    assert "Be terse." in text
    assert "Top level of the project: AGENTS.md, README.md, app.py" in text
    # The second turn carries the same single system message forward instead of adding one.
    second_system = [p for role, p in tool_messages(model.prompts[1]) if role == "system"]
    assert len(second_system) == 1
    assert model.prompts[1].system in (None, "")


def test_approve_true_applies_edit(model, project):
    model.script(
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed.",
    )
    agent = make_agent(model, project, approve=True)
    result = agent.run("fix add")
    assert "a + b" in (project / "app.py").read_text()
    assert result.tool_calls[0][1].output.startswith("Edited app.py")


def test_callable_approval_decline_is_reported(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="new.txt", content="x")]),
        "OK, I won't.",
    )
    asked = []

    def approve(t, call):
        asked.append((t.name, call.arguments))
        return False

    agent = make_agent(model, project, approve=approve)
    result = agent.run("write a file")
    assert asked == [("CodingTools_write_file", {"path": "new.txt", "content": "x"})]
    assert not (project / "new.txt").exists()
    assert result.tool_calls[0][1].output.startswith("Cancelled: the user declined")
    assert result.text == "OK, I won't."


def test_callable_approval_cancel_with_reason(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="pytest")]), "ok")

    def approve(t, call):
        raise llm.CancelToolCall("use pytest -q instead")

    agent = make_agent(model, project, approve=approve)
    result = agent.run("test")
    assert "use pytest -q instead" in result.tool_calls[0][1].output


def test_pause_and_resume_approve(model, project):
    model.script(
        Step(tool_calls=[tool("read_file", path="README.md"), tool("write_file", path="out.txt", content="hi\n")]),
        "Wrote it.",
    )
    agent = make_agent(model, project)  # approve=None: pause
    result = agent.run("write out.txt")
    assert result.paused and result.stop_reason == "paused"
    assert [c.name for c in result.pending_tool_calls] == ["CodingTools_read_file", "CodingTools_write_file"]
    assert not (project / "out.txt").exists()  # nothing executed, not even the read
    assert result.tool_calls == []
    with pytest.raises(AgentStateError):
        agent.run("something else")
    resumed = agent.resume()
    assert (project / "out.txt").read_text() == "hi\n"
    assert resumed.text == "Wrote it."
    assert not agent.paused


def test_resume_decline_all_and_some(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="a.txt", content="a"), tool("write_file", path="b.txt", content="b")]),
        "done",
        Step(tool_calls=[tool("write_file", path="c.txt", content="c")]),
        "done again",
    )
    agent = make_agent(model, project)
    paused = agent.run("write two files")
    keep = {paused.pending_tool_calls[1].tool_call_id}
    result = agent.resume(approve=keep)
    assert not (project / "a.txt").exists() and (project / "b.txt").exists()
    outputs = [r.output for _, r in result.tool_calls]
    assert outputs[0].startswith("Cancelled:") and outputs[1].startswith("Created")
    agent.run("and c")
    result = agent.resume(approve=False)
    assert not (project / "c.txt").exists()
    assert result.tool_calls[0][1].output.startswith("Cancelled:")


def test_resume_without_pause_is_an_error(model, project):
    agent = make_agent(model, project)
    with pytest.raises(AgentStateError):
        agent.resume()


def test_resume_after_reload_from_database(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(Step(text="Let me write.", tool_calls=[tool("write_file", path="later.txt", content="L")]))
    agent = make_agent(model, project, db=db)
    paused = agent.run("write later.txt")
    assert paused.paused
    cid = agent.conversation_id
    del agent  # "process restart": only the database remains

    model.script("All done.")
    again = CodingAgent.load(cid, db=db, model=model, undo=False, sandbox="off")
    assert again.paused
    assert again.root == project.resolve()  # root recovered from the logged toolbox
    assert [c.name for c in again.pending_tool_calls] == ["CodingTools_write_file"]
    result = again.resume()
    assert (project / "later.txt").read_text() == "L"
    assert result.text == "All done."
    # The final request contained the original user prompt, the call and its result.
    roles = [m.role for m in model.prompts[-1].messages]
    assert roles[:2] == ["system", "user"] and roles[-2:] == ["assistant", "tool"]


def test_load_unknown_conversation(tmp_path, model):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    with pytest.raises(AgentStateError):
        CodingAgent.load("nope", db=db, model=model)


def test_chain_limit_is_graceful_and_continue_works(model, project):
    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(4)], "continued fine")
    agent = make_agent(model, project, chain_limit=3)
    result = agent.run("loop")
    assert result.hit_limit and result.stop_reason == "limit"
    # Three rounds ran; the fourth request for tools was answered "not run", not executed.
    assert len(result.tool_calls) == 3 and result.model_calls == 4
    assert all(r.output for _, r in result.tool_calls)
    after = agent.run("continue")
    assert after.text == "continued fine"
    # The unrun calls were answered before the new user message: no orphan calls.
    messages = model.prompts[-1].messages
    assert [m.role for m in messages[-3:]] == ["assistant", "tool", "user"]
    assert "chain limit of 3 tool rounds" in messages[-2].parts[0].output


def test_malformed_json_arguments_become_error_result(model, project):
    model.script(
        Step(raw_tool_args=[("CodingTools_read_file", '{"path": "app.py"')]),
        Step(tool_calls=[tool("read_file", path="app.py")]),
        "ok",
    )
    agent = make_agent(model, project)
    result = agent.run("read it")
    first = result.tool_calls[0][1].output
    assert first.startswith("Error: the arguments were not valid JSON")
    assert "CodingTools_read_file with arguments" in first and '"path"' in first
    assert "return a - b" in result.tool_calls[1][1].output
    assert result.text == "ok"


@pytest.mark.parametrize(
    "call, expected",
    [
        (("CodingTools_frobnicate", {}), "there is no tool named 'frobnicate'".replace("frobnicate", "CodingTools_frobnicate")),
        (("CodingTools_read_file", {}), "missing required argument(s): path"),
        (("CodingTools_read_file", {"path": 3}), "argument 'path' must be string"),
        (("CodingTools_read_file", {"path": "app.py", "lines": 3}), "unknown argument(s): lines"),
        (("CodingTools_read_file", {"path": None}), "must not be null"),
    ],
)
def test_bad_calls_get_instructive_errors(model, project, call, expected):
    model.script(Step(tool_calls=[call]), "recovered")
    agent = make_agent(model, project)
    result = agent.run("go")
    output = result.tool_calls[0][1].output
    assert output.startswith("Error:") and expected in output
    assert result.text == "recovered"


def test_short_tool_names_are_accepted(model, project):
    model.script(Step(tool_calls=[("read_file", {"path": "README.md"})]), "ok")
    result = make_agent(model, project).run("go")
    assert "# Demo" in result.tool_calls[0][1].output


def test_numbers_as_strings_are_coerced(model, project):
    model.script(Step(tool_calls=[tool("read_file", path="app.py", offset="1", limit="1")]), "ok")
    result = make_agent(model, project).run("go")
    assert result.tool_calls[0][1].output.strip().startswith("2\t")


def test_text_form_tool_call_is_recovered(model, project):
    fenced = 'I will read it.\n```json\n{"name": "read_file", "arguments": {"path": "app.py"}}\n```'
    model.script(fenced, "It subtracts.")
    result = make_agent(model, project).run("read app.py")
    assert "return a - b" in result.tool_calls[0][1].output
    assert result.text == "It subtracts."
    # The recovered call was sent back as a real call with a matching result.
    messages = model.prompts[1].messages
    calls = [p for p in messages[-2].parts if type(p).__name__ == "ToolCallPart"]
    results = [p for p in messages[-1].parts if type(p).__name__ == "ToolResultPart"]
    assert calls and results and calls[0].tool_call_id == results[0].tool_call_id


def test_tagged_tool_calls_are_recovered(model, project):
    text = '<tool_call>\n{"name": "CodingTools_list_files", "arguments": {"pattern": "*.py"}}\n</tool_call>'
    model.script(text, "done")
    result = make_agent(model, project).run("list")
    assert "app.py" in result.tool_calls[0][1].output


def test_text_tool_calls_can_be_switched_off(model, project):
    model.script('```json\n{"name": "read_file", "arguments": {"path": "app.py"}}\n```')
    result = make_agent(model, project, text_tool_calls=False).run("go")
    assert result.tool_calls == []


def resolve(name):
    return {"read_file": "CodingTools_read_file", "CodingTools_read_file": "CodingTools_read_file"}.get(name)


@pytest.mark.parametrize(
    "text",
    [
        "Use read_file to look at app.py.",
        'Example config:\n```json\n{"name": "my-app", "version": "1.0"}\n```',
        '```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```\nand\n```json\n{"name": "read_file", "arguments": {"path": "b"}}\n```',
        '```python\nprint({"name": "read_file", "arguments": {}})\n```',
        '```json\n{"name": "unknown_tool", "arguments": {"path": "a"}}\n```',
        '```json\n{"name": "read_file", "arguments": {"path": "a"}, "extra": 1}\n```',
        '```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```\n```json\n{"name": "nope", "arguments": {}}\n```',
        '```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```\n```python\nprint(1)\n```',
        'Run this:\n```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```\n```json\n{"name": "read_file", "arguments": {"path": "b"}}\n```',
        '{"name": "read_file", "arguments": {"path": "a"}}',
        '```json\n{"name": "read_file", "arguments": "not json"}\n```',
    ],
)
def test_prose_and_code_never_become_calls(text):
    assert parse_text_tool_calls(text, resolve) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ('```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```', [("CodingTools_read_file", {"path": "a"})]),
        ('Sure:\n```\n{"name": "read_file", "parameters": {"path": "b"}}\n```\n', [("CodingTools_read_file", {"path": "b"})]),
        ('```json\n{"name": "read_file", "arguments": "{\\"path\\": \\"c\\"}"}\n```', [("CodingTools_read_file", {"path": "c"})]),
        ('<tool_call>{"name": "read_file", "arguments": {"path": "a"}}</tool_call><tool_call>{"name": "read_file", "arguments": {"path": "b"}}</tool_call>',
         [("CodingTools_read_file", {"path": "a"}), ("CodingTools_read_file", {"path": "b"})]),
        # Nothing but call blocks: several calls at once; the same call twice runs once.
        ('```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```\n```json\n{"name": "read_file", "arguments": {"path": "b"}}\n```\n',
         [("CodingTools_read_file", {"path": "a"}), ("CodingTools_read_file", {"path": "b"})]),
        ('```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```\n```json\n{"name": "read_file", "arguments": {"path": "a"}}\n```',
         [("CodingTools_read_file", {"path": "a"})]),
    ],
)
def test_text_calls_positive(text, expected):
    assert parse_text_tool_calls(text, resolve) == expected


def test_repeated_failing_call_is_noticed_then_stopped(model, project):
    bad = tool("read_file", path="missing.py")
    model.script(*[Step(tool_calls=[bad]) for _ in range(6)], "never reached")
    agent = make_agent(model, project, chain_limit=20)
    result = agent.run("read missing")
    outputs = [r.output for _, r in result.tool_calls]
    assert "has failed 2 times" in outputs[1]
    assert result.stop_reason == "repeated_failures"
    assert len(outputs) == 4  # stopped well before the chain limit


def test_identical_successful_calls_are_noticed_then_stopped(model, project):
    run = tool("execute_command", command="echo same")
    model.script(*[Step(tool_calls=[run]) for _ in range(6)], "never reached")
    agent = make_agent(model, project, chain_limit=20, approve=True)
    result = agent.run("loop")
    outputs = [r.output for _, r in result.tool_calls]
    assert "identical call" not in outputs[0]
    assert "made this identical call 2 times" in outputs[1]
    assert result.stop_reason == "repeated_calls"
    assert len(outputs) == 4


def test_identical_calls_within_one_answer_stop_at_the_same_count(model, project):
    run = tool("execute_command", command="echo same >> ran.txt; echo same")
    model.script(Step(tool_calls=[run] * 23), "never reached")
    agent = make_agent(model, project, chain_limit=20, approve=True)
    result = agent.run("loop")
    outputs = [r.output for _, r in result.tool_calls]
    assert len(outputs) == 23  # every call is answered: the history stays consistent...
    assert (project / "ran.txt").read_text().count("same") == 4  # ...but only four ran
    assert all(o.startswith("Cancelled: not run: the same call was repeated") for o in outputs[4:])
    assert result.stop_reason == "repeated_calls"


def test_rerunning_after_an_edit_is_progress_not_a_loop(model, project):
    (project / "n.txt").write_text("0\n")
    check = tool("execute_command", command="echo check")
    steps = []
    for i in range(5):
        steps += [Step(tool_calls=[check]),
                  Step(tool_calls=[tool("write_file", path="n.txt", content=f"{i + 1}\n")])]
    model.script(*steps, "done")
    agent = make_agent(model, project, chain_limit=30, approve=True)
    result = agent.run("work")
    assert result.stop_reason == "done"
    assert not any("identical call" in r.output for _, r in result.tool_calls)
    assert (project / "n.txt").read_text() == "5\n"


def test_same_call_with_a_different_result_is_not_a_repeat(model, project):
    counter = project / "c.txt"
    counter.write_text("")
    bump = tool("execute_command", command="echo x >> c.txt && wc -l < c.txt")
    model.script(*[Step(tool_calls=[bump]) for _ in range(5)], "done")
    agent = make_agent(model, project, chain_limit=30, approve=True)
    result = agent.run("count")
    assert result.stop_reason == "done"
    assert counter.read_text().count("x") == 5


def test_keyboard_interrupt_during_streaming_keeps_history_consistent(model, project):
    model.script(Step(text="partial answer", raise_exc=KeyboardInterrupt()), "second answer")
    agent = make_agent(model, project)
    result = agent.run("first")
    assert result.interrupted and result.stop_reason == "interrupted"
    assert "partial" in result.text
    after = agent.run("again")
    assert after.text == "second answer"
    roles = [m.role for m in model.prompts[-1].messages]
    assert roles[-3:] == ["user", "assistant", "user"]


def test_keyboard_interrupt_during_tool_gives_interrupted_results(model, project):
    def slow_tool(x: str) -> str:
        "A tool that gets interrupted."
        raise KeyboardInterrupt

    model.script(
        Step(tool_calls=[("slow_tool", {"x": "1"}), tool("read_file", path="app.py")]),
        "after interrupt",
    )
    agent = make_agent(model, project, tools=[slow_tool], approve=True)
    result = agent.run("go")
    assert result.interrupted
    after = agent.run("next")
    assert after.text == "after interrupt"
    tool_msg = model.prompts[-1].messages[-2]
    assert tool_msg.role == "tool"
    assert all("interrupted" in p.output for p in tool_msg.parts)


def test_pause_chain_from_approver(model, project):
    model.script(
        Step(tool_calls=[tool("list_files"), tool("write_file", path="p.txt", content="p")]),
        "finished",
    )

    def approve(t, call):
        raise llm.PauseChain()

    agent = make_agent(model, project, approve=approve)
    result = agent.run("go")
    assert result.paused and [c.name for c in result.pending_tool_calls] == ["CodingTools_write_file"]
    resumed = agent.resume()
    assert (project / "p.txt").exists() and resumed.text == "finished"
    tool_msg = model.prompts[-1].messages[-1]
    assert len(tool_msg.parts) == 2  # the earlier list_files result was sent along


def test_logging_as_it_goes_and_llm_logs_shows_tools(model, project, tmp_path, user_dir):
    from click.testing import CliRunner
    from llm.cli import cli, logs_db_path

    db = sqlite_utils.Database(logs_db_path())
    migrate(db)
    model.script(Step(tool_calls=[tool("search_files", pattern="return")]), "found it")
    agent = make_agent(model, project, db=db)
    agent.run("search")
    assert db["turns"].count == 2
    out = CliRunner().invoke(cli, ["logs", "-c"])
    assert out.exit_code == 0, out.output
    assert "CodingTools_search_files" in out.output and "found it" in out.output
    conversation = llm.cli.load_conversation(None)
    assert conversation.id == agent.conversation_id


def test_logged_before_a_crash(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(Step(tool_calls=[tool("list_files")]), Step(raise_exc=RuntimeError("boom")))
    agent = make_agent(model, project, db=db)
    from llm_coding_agent import ModelError

    with pytest.raises(ModelError, match="boom"):
        agent.run("go")
    assert db["turns"].count == 1  # the first response was logged as it completed


def test_set_model_keeps_history(model, project):
    class Other(type(model)):
        model_id = "other"

    other = Other()
    other.steps, other.prompts = [], []
    other.script("from other")
    model.script("from scripted")
    agent = make_agent(model, project)
    agent.run("one")
    agent.set_model(other)
    result = agent.run("two")
    assert result.text == "from other"
    texts = [p.text for role, p in tool_messages(other.prompts[0]) if role in ("user", "assistant")]
    assert texts == ["one", "from scripted", "two"]


def test_usage_sums_over_session_and_none_when_unreported(model, project):
    model.script(Step(text="a", usage=(100, 10)), Step(text="b", usage=None))
    agent = make_agent(model, project)
    agent.run("x")
    r = agent.run("y")
    assert (r.usage.input, r.usage.output) == (None, None)
    assert (agent.usage.input, agent.usage.output) == (100, 10)


def test_disabled_and_extra_tools(model, project):
    def shout(text: str) -> str:
        "Upper-case text."
        return text.upper()

    model.script(Step(tool_calls=[("shout", {"text": "hey"})]), "ok")
    agent = make_agent(model, project, disabled_tools=["execute_command"], tools=[shout], approve=True)
    names = [t.name for t in agent.tools]
    assert "CodingTools_execute_command" not in names and "shout" in names
    result = agent.run("go")
    assert result.tool_calls[0][1].output == "HEY"


def test_extra_tools_need_approval(model, project):
    def shout(text: str) -> str:
        "Upper-case text."
        return text.upper()

    model.script(Step(tool_calls=[("shout", {"text": "hey"})]), "ok")
    result = make_agent(model, project, tools=[shout]).run("go")
    assert result.paused


def test_deny_rule_wins_even_in_yolo(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="git push --force")]), "ok")
    agent = make_agent(model, project, approve=True, deny=["git push*"])
    result = agent.run("push")
    assert result.tool_calls[0][1].output.startswith("Cancelled: refused by a deny rule")


def test_allow_rule_runs_command_without_asking(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="echo hi")]), "ok")
    asked = []
    agent = make_agent(model, project, approve=lambda t, c: asked.append(c) or False, allow=["echo*"])
    result = agent.run("echo")
    assert asked == []
    assert "hi" in result.tool_calls[0][1].output and "Exit code: 0" in result.tool_calls[0][1].output


def test_compound_command_not_covered_by_allow_rule_asks(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="echo hi; rm -rf ~")]), "ok")
    asked = []
    agent = make_agent(model, project, approve=lambda t, c: asked.append(c) or False, allow=["echo*"])
    agent.run("echo")
    assert len(asked) == 1


def test_model_error_is_typed(model, project):
    from llm_coding_agent import ModelError

    model.script(Step(raise_exc=ConnectionError("connection refused")))
    with pytest.raises(ModelError, match="connection refused"):
        make_agent(model, project).run("go")


def test_undo_restores_previous_turn_and_tells_model(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="app.py", content="broken\n"),
                         tool("execute_command", command="rm README.md")]),
        "done",
        "noted",
    )
    agent = make_agent(model, project, approve=True, undo=True)
    agent.run("break things")
    assert (project / "app.py").read_text() == "broken\n" and not (project / "README.md").exists()
    outcome = agent.undo()
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert (project / "README.md").read_text() == "# Demo\n"
    assert "app.py" in outcome.summary()
    agent.run("what happened?")
    last_user = [p.text for role, p in tool_messages(model.prompts[-1]) if role == "user"][-1]
    assert "undid your previous turn" in last_user


def test_discard_pending_sends_declines_with_next_prompt(model, project):
    model.script(Step(tool_calls=[tool("write_file", path="w.txt", content="w")]), "ok then")
    agent = make_agent(model, project)
    assert agent.run("write").paused
    agent.discard_pending("not now")
    result = agent.run("never mind, just say ok")
    assert result.text == "ok then" and not (project / "w.txt").exists()
    messages = model.prompts[-1].messages
    assert [m.role for m in messages[-3:]] == ["assistant", "tool", "user"]
    assert "not now" in messages[-2].parts[0].output


def test_runaway_answer_is_cut_off(model, project, monkeypatch):
    import llm_coding_agent.agent.loop as agent_module

    monkeypatch.setattr(agent_module, "MAX_RESPONSE_CHARS", 100)
    model.script(Step(text="blah " * 200), "short")
    agent = make_agent(model, project)
    result = agent.run("talk")
    assert result.stop_reason == "done" and "cut off" in result.text and len(result.text) < 200
    assert agent.run("again").text == "short"


def test_calls_bound_to_fail_are_not_put_to_the_user(model, project):
    model.script(
        Step(tool_calls=[tool("edit_file", path="nope.py", old_string="a", new_string="b"),
                         tool("edit_file", path="app.py", old_string="not there", new_string="b")]),
        "ok",
    )
    asked = []
    agent = make_agent(model, project, approve=lambda t, c: asked.append(c) or True)
    result = agent.run("edit")
    assert asked == []
    outputs = [r.output for _, r in result.tool_calls]
    assert "does not exist" in outputs[0] and "was not found" in outputs[1]


def test_doomed_calls_do_not_pause(model, project):
    model.script(Step(tool_calls=[tool("edit_file", path="nope.py", old_string="a", new_string="b")]), "ok")
    result = make_agent(model, project).run("edit")
    assert not result.paused and "does not exist" in result.tool_calls[0][1].output


# -- files named in the request; code answered but not applied -----------------------------------


def test_named_files_are_attached_numbered_and_count_as_read(model, project):
    (project / "prices.py").write_text("def apply(p):\n    return p * 2\n")
    (project / "notes.md").write_text("a note\n")
    model.script(
        Step(tool_calls=[tool("edit_file", path="prices.py", old_string="p * 2", new_string="p * 3")]),
        "done",
    )
    notices = []
    agent = make_agent(model, project, approve=True, on_notice=notices.append)
    agent.run("fix apply in prices.py (see @notes.md, not missing.py or https://x.io/a.py)")
    sent = model.prompts[0].prompt
    assert '<file path="prices.py">\n     1\tdef apply(p):\n     2\t    return p * 2\n</file>' in sent
    assert '<file path="notes.md">' in sent
    assert "missing.py" not in sent.split("fix apply")[0]
    assert sent.rstrip().endswith("https://x.io/a.py)")  # the request itself comes last, unchanged
    assert any("attached prices.py, notes.md" in n for n in notices)
    assert (project / "prices.py").read_text() == "def apply(p):\n    return p * 3\n"


def test_attachment_is_not_repeated_for_an_unchanged_file_and_respects_confinement(model, project, tmp_path):
    (project / "a.py").write_text("x = 1\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP SECRET\n")
    (project / "link.txt").symlink_to(outside)
    model.script("one", "two", "three")
    agent = make_agent(model, project)
    agent.run(f"look at a.py and {outside} and link.txt and ../secret.txt")
    assert '<file path="a.py">' in model.prompts[0].prompt
    assert "TOP SECRET" not in model.prompts[0].prompt
    agent.run("and a.py again")
    assert "<file" not in model.prompts[1].prompt
    (project / "a.py").write_text("x = 2\n")
    agent.run("a.py changed")
    assert "x = 2" in model.prompts[2].prompt


def test_attachments_can_be_turned_off_and_respect_the_budget(model, project):
    (project / "big.txt").write_text("line\n" * 5000)
    (project / "small.txt").write_text("tiny\n")
    model.script("ok", "ok")
    agent = make_agent(model, project, context_window=4096)
    agent.run("big.txt and small.txt")
    sent = model.prompts[0].prompt
    assert '<file path="small.txt">' in sent and '<file path="big.txt">' not in sent
    off = make_agent(model, project, attach_files=False)
    off.run("small.txt")
    assert "<file" not in model.prompts[1].prompt


def test_headless_nudge_when_code_is_shown_but_nothing_changed(model, project):
    (project / "m.py").write_text("x = 1\n")
    model.script(
        "Change it like this:\n```python\nx = 2\nprint(x)\n```",
        Step(tool_calls=[tool("write_file", path="m.py", content="x = 2\n")]),
        "Applied.",
    )
    agent = make_agent(model, project, approve=True, nudge_unapplied=True)
    result = agent.run("set x to 2")
    assert (project / "m.py").read_text() == "x = 2\n"
    assert "no file in the project was changed" in model.prompts[1].prompt
    assert "(read_file, then edit_file or write_file)" in model.prompts[1].prompt
    assert result.text == "Applied." and result.stop_reason == "done"


def test_the_nudge_names_only_the_tools_a_small_model_has(model, project):
    model.script("Like this:\n```python\nx = 2\nprint(x)\n```", "No change is needed.")
    make_agent(model, project, approve=True, nudge_unapplied=True, profile="small").run("set x to 2")
    nudge = model.prompts[1].prompt
    assert "write_file with the file's complete new content" in nudge and "edit_file" not in nudge


def test_nudge_is_sent_at_most_once_and_not_after_a_change_or_when_off(model, project):
    code = "```python\na = 1\nb = 2\n```"
    model.script(code, code)
    agent = make_agent(model, project, nudge_unapplied=True)
    result = agent.run("show me")
    assert result.model_calls == 2 and result.stop_reason == "done"
    model.script(Step(tool_calls=[tool("write_file", path="n.py", content="a = 1\n")]), code)
    agent = make_agent(model, project, nudge_unapplied=True, approve=True)
    assert agent.run("write it").model_calls == 2
    model.script(code)
    assert make_agent(model, project).run("show me").model_calls == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("fix prices.py please.", ["prices.py"]),
        ('File "wordfreq.py", line 8', ["wordfreq.py"]),
        ("see @src/app and @docs/guide.md", ["src/app", "docs/guide.md"]),
        ("`python report.py stock.txt`", ["report.py", "stock.txt"]),
        ("./b/c.txt and b/c.txt", ["b/c.txt"]),
        ("https://example.com/a.py or ftp://x/y.txt", []),
        ("nothing to see here", []),
    ],
)
def test_mentioned_paths(text, expected):
    from llm_coding_agent.agent.mentions import mentioned_paths

    assert mentioned_paths(text) == expected


# -- logging in time independent of the history's length -----------------------------------------


def _logged_rows(db):
    return (
        sorted(db.execute("select hash, parent_hash, role from messages").fetchall()),
        sorted(db.execute("select * from parts").fetchall(), key=repr),
        db.execute("select parent_message_hash, tip_message_hash from turns order by rowid").fetchall(),
    )


def test_incremental_logging_writes_what_llm_itself_writes(model, project, tmp_path):
    (project / "big.txt").write_text("".join(f"line {i} of a long file\n" for i in range(400)))
    ours_db = sqlite_utils.Database(tmp_path / "ours.db")
    llm_db = sqlite_utils.Database(tmp_path / "llm.db")
    steps = [Step(tool_calls=[tool("read_file", path="big.txt", offset=i)]) for i in range(12)]
    model.script(*steps, "read it all", "second turn")
    agent = make_agent(model, project, db=ours_db, context_window=4096)
    logged_by_agent = agent._log

    def log_both(response):
        logged_by_agent(response)
        response.log_to_db(llm_db)

    agent._log = log_both
    agent.run("read big.txt page by page")
    agent.compact()
    agent.run("and now?")
    assert len(agent.context.compactions) >= 2  # automatic ones, and the forced one
    assert _logged_rows(ours_db) == _logged_rows(llm_db)
    again = CodingAgent.load(agent.conversation_id, db=ours_db, model=model, undo=False, sandbox="off")
    assert [m.role for m in again.history()] == [m.role for m in agent.history()]


def test_incremental_logging_hashes_a_constant_number_of_messages_per_round(model, project, tmp_path, monkeypatch):
    import llm.logs

    hashed = []
    real_hash = llm.logs.message_hash
    monkeypatch.setattr(llm.logs, "message_hash", lambda m, p: hashed.append(1) or real_hash(m, p))
    (project / "a.txt").write_text("a\n")
    rounds = 40
    model.script(*[Step(tool_calls=[tool("read_file", path="a.txt", limit=i + 1)]) for i in range(rounds)], "done")
    db = sqlite_utils.Database(tmp_path / "logs.db")
    agent = make_agent(model, project, db=db, chain_limit=100, context_window=10_000_000)
    agent._log_store = None
    agent.run("read a.txt many times")
    # llm's own path hashes the whole history every round: ~rounds²; ours a few per round.
    assert len(hashed) <= 5 * (rounds + 1)
    assert db["turns"].count == rounds + 1


def test_an_approved_edit_is_planned_once(model, project, monkeypatch):
    from llm_coding_agent.tools import files

    planned = []
    real_plan_edit = files.plan_edit
    monkeypatch.setattr(files, "plan_edit", lambda *a, **k: planned.append(1) or real_plan_edit(*a, **k))
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), "ok")
    agent = make_agent(model, project, approve=None)
    assert agent.run("fix").paused
    preview = agent.coding_tools._preview("edit_file", agent.pending_tool_calls[0].arguments)
    assert "+    return a + b" in preview
    agent.resume()
    assert "a + b" in (project / "app.py").read_text()
    assert len(planned) == 2  # one plan (pause check, preview, loop), one actual edit


def test_a_plan_is_recomputed_when_the_file_changes(project):
    from llm_coding_agent import CodingTools

    tools = CodingTools(str(project), sandbox="off")
    args = {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}
    assert tools._plan("edit_file", args)[1] is None
    (project / "app.py").write_text("def add(a, b):\n    return a * b\n")
    assert "not found" in tools._plan("edit_file", args)[1]
