"""`llm code` through click's CliRunner with the scripted model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step, tool


def run(args, input=None, env=None):
    runner = CliRunner()
    return runner.invoke(cli, ["code", *args], input=input, env=env, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


def test_help_documents_options():
    result = run(["--help"])
    assert result.exit_code == 0
    for option in ["--model", "--directory", "--print", "--json", "--yolo", "--allow", "--deny",
                   "--continue", "--cid", "--system", "--no-tool", "--chain-limit", "--option",
                   "--key", "--tool", "--functions", "--sandbox", "--network", "--no-undo",
                   "--no-attach", "--max-tokens", "--max-turns", "--context-window"]:
        assert option in result.output, option
    assert "y (once), a (always" in result.output


def test_print_mode_answers_and_exits_zero(model, project):
    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), "add() subtracts.")
    result = run(base(project, "-p", "what does add do?"))
    assert result.exit_code == 0, result.output
    assert "add() subtracts." in result.stdout


def test_print_mode_declines_mutations_without_yolo(model, project):
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "could not write")
    result = run(base(project, "-p", "write x"))
    assert result.exit_code == 0
    assert not (project / "x.txt").exists()
    declined = [p for m in model.prompts[-1].messages for p in m.parts if getattr(p, "output", "").startswith("Cancelled:")]
    assert declined and "headless" in declined[0].output


def test_print_mode_yolo_edits(model, project):
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), "fixed")
    result = run(base(project, "-p", "fix", "--yolo"))
    assert result.exit_code == 0
    assert "a + b" in (project / "app.py").read_text()


def test_print_mode_attaches_named_files_and_nudges_unapplied_code(model, project):
    model.script(
        "Use this:\n```python\ndef add(a, b):\n    return a + b\n```",
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "fixed",
    )
    result = run(base(project, "-p", "fix add in app.py", "--yolo"))
    assert result.exit_code == 0, result.output
    assert '<file path="app.py">' in model.prompts[0].prompt
    assert "no file in the project was changed" in model.prompts[1].prompt
    assert "a + b" in (project / "app.py").read_text()
    assert "attached app.py" in result.stderr


def test_no_attach_sends_the_request_alone(model, project):
    model.script("ok")
    result = run(base(project, "-p", "fix add in app.py", "--no-attach"))
    assert result.exit_code == 0, result.output
    assert model.prompts[0].prompt == "fix add in app.py"


def test_interactive_session_does_not_nudge(model, project):
    model.script("```python\nx = 1\ny = 2\n```")
    result = run(base(project), input="show an example\n")
    assert result.exit_code == 0, result.output
    assert len(model.prompts) == 1


def test_print_mode_allow_rule(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="echo ran-it")]), "ok")
    result = run(base(project, "-p", "run", "--allow", "echo*"))
    assert result.exit_code == 0
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert any("ran-it" in o for o in outputs)


def test_json_events(model, project):
    model.script(Step(text="Looking.", tool_calls=[tool("list_files")]), Step(text="Done.", usage=(7, 2)))
    result = run(base(project, "-p", "list", "--json"))
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "text" and "tool_call" in types and "tool_result" in types and types[-1] == "final"
    call = next(e for e in events if e["type"] == "tool_call")
    assert call["name"] == "CodingTools_list_files" and call["id"]
    res = next(e for e in events if e["type"] == "tool_result")
    assert res["id"] == call["id"] and "app.py" in res["output"] and res["error"] is False
    final = events[-1]
    assert final["text"] == "Done." and final["status"] == "ok" and final["model_calls"] == 2
    assert final["usage"] == {"input": 17, "output": 7}


def test_json_needs_print():
    result = run(["--json"])
    assert result.exit_code == 2


def test_chain_limit_exit_status(model, project):
    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(3)])
    result = run(base(project, "-p", "loop", "--chain-limit", "2", "--json"))
    assert result.exit_code == 3
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["hit_limit"] is True and final["status"] == "limit"


def test_chain_limit_notice_names_the_chain_limit_and_how_to_go_on(model, project):
    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(3)])
    result = run(base(project, "-p", "loop", "--chain-limit", "2"))
    assert result.exit_code == 3
    assert "chain limit" in result.stderr and "llm code -c -p continue" in result.stderr


def test_chain_limit_allows_the_answer_after_the_last_round(model, project):
    model.script(Step(tool_calls=[tool("list_files")]), "all listed")
    result = run(base(project, "-p", "list", "--chain-limit", "1", "--json"))
    assert result.exit_code == 0
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["hit_limit"] is False and final["text"] == "all listed"


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "does-not-exist"], "unknown model: does-not-exist"),
        (["-m", "no-tools"], "does not support tools"),
        (["-m", "keyed"], "llm keys set keyedprovider"),
        (["-m", "scripted", "-d", "/no/such/dir"], "directory does not exist"),
        (["-m", "scripted", "--cid", "01nonexistent"], "No conversation found"),
    ],
)
def test_user_errors_are_one_line(args, message, project):
    if "-d" not in args:
        args = [*args, "-d", str(project)]
    result = run([*args, "-p", "hi"])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_interactive_piped_session_with_approval_yes(model, project):
    model.script(
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        "Fixed add.",
    )
    result = run(base(project), input="fix add\ny\n!quit\n")
    assert result.exit_code == 0, result.output
    assert "a + b" in (project / "app.py").read_text()
    out = result.stdout
    # The diff was shown before the question, and the answer streamed after.
    assert out.index("+    return a + b") < out.index("[y]es")
    assert "Fixed add." in out
    assert "edit_file app.py → +1 -1" in out


def test_interactive_decline_with_reason(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="pytest")]), "OK, using -q.")
    result = run(base(project), input="run tests\nn: use pytest -q instead\n!quit\n")
    assert result.exit_code == 0
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert any("use pytest -q instead" in o for o in outputs)


def test_piped_line_that_is_not_an_answer_declines_and_becomes_the_next_message(model, project):
    # The script did not expect approvals: its next line is a message, not an answer. Both calls
    # of the turn are declined, nothing is written, and the line is not lost.
    model.script(
        Step(tool_calls=[tool("write_file", path="one.txt", content="1")]),
        Step(tool_calls=[tool("write_file", path="two.txt", content="2")]),
        "Not written.",
        "Listed.",
    )
    result = run(base(project), input="write two files\nnow list the files\n!quit\n")
    assert result.exit_code == 0, result.output
    assert not (project / "one.txt").exists() and not (project / "two.txt").exists()
    assert result.stdout.count("[y]es") == 2
    assert "please answer" not in result.stdout
    users = [p.prompt for p in model.prompts if p.prompt]
    assert users[-1] == "now list the files"
    outputs = [p.output for m in model.prompts[2].messages for p in m.parts if hasattr(p, "output")]
    assert any("was not y, a or n" in o for o in outputs), outputs


def test_piped_blank_line_declines_and_is_not_a_message():
    import io

    from llm_coding_agent.cli.ui import TerminalUI

    ui = TerminalUI(stdout=io.StringIO(), stdin=io.StringIO("\nnext task\n"))
    assert ui.ask_approval("Write one.txt", "", None).kind == "no"
    assert ui.read_prompt() == "next task"


def test_interactive_always_for_edits(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="one.txt", content="1")]),
        Step(tool_calls=[tool("write_file", path="two.txt", content="2")]),
        "Both written.",
    )
    result = run(base(project), input="write two files\na\n!quit\n")
    assert result.exit_code == 0
    assert (project / "one.txt").exists() and (project / "two.txt").exists()
    assert result.stdout.count("[y]es") == 1


def test_interactive_always_for_commands_is_program_and_subcommand(model, project):
    model.script(
        Step(tool_calls=[tool("execute_command", command="git status --short")]),
        Step(tool_calls=[tool("execute_command", command="git status")]),
        Step(tool_calls=[tool("execute_command", command="git log -1")]),
        "done",
    )
    result = run(base(project), input="git things\na\nn\n!quit\n")
    assert result.exit_code == 0
    assert result.stdout.count("[y]es") == 2  # git status allowed by "always", git log asked
    assert "git status*" in result.stdout


def test_bang_commands(model, project):
    model.script(Step(text="first", usage=(100, 20)))
    commands = "hello\n!tokens\n!yolo\n!model\n!model no-tools\n!model scripted\n!help\n!bogus\n!clear\n!exit\n"
    result = run(base(project), input=commands)
    assert result.exit_code == 0, result.output
    out = result.stdout + result.stderr
    assert "input 100" in out and "output 20" in out
    assert "yolo on" in out
    assert "model: scripted" in out
    assert "does not support tools" in out
    assert "switched to scripted" in out
    assert "!undo" in out and "!clear" in out  # help text
    assert "unknown command !bogus" in out
    assert "new conversation" in out


def test_yolo_toggle_affects_approval(model, project):
    model.script(Step(tool_calls=[tool("write_file", path="y.txt", content="y")]), "ok")
    result = run(base(project), input="!yolo\nwrite\n!quit\n")
    assert (project / "y.txt").exists()
    assert "[y]es" not in result.stdout


def test_undo_command(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="rm app.py")]), "removed")
    result = run(["-m", "scripted", "-d", str(project), "--sandbox", "off", "--yolo"],
                 input="remove app\n!undo\n!quit\n")
    assert result.exit_code == 0, result.output
    assert (project / "app.py").exists()
    assert "app.py" in result.stdout


def test_continue_resumes_with_same_root(model, project, tmp_path, monkeypatch):
    model.script("remembered")
    assert run(base(project, "-p", "remember the number 42")).exit_code == 0
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    model.script(Step(tool_calls=[tool("list_files")]), "still here")
    # -c alone continues only this directory's sessions (tests/test_sessions_cli.py); --all reaches others.
    result = run(["-m", "scripted", "--sandbox", "off", "-c", "--all", "-p", "what number?"])
    assert result.exit_code == 0, result.output
    texts = [p.text for m in model.prompts[-2].messages for p in m.parts if hasattr(p, "text")]
    assert "remember the number 42" in texts and "remembered" in texts
    listing = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert any("app.py" in o for o in listing)  # tools ran in the original project root


def test_cid_resume(model, project):
    model.script("one")
    result = run(base(project, "-p", "first", "--json"))
    cid = json.loads(result.stdout.splitlines()[-1])["conversation_id"]
    model.script("two")
    run(base(project, "-p", "unrelated"))
    model.script("three")
    result = run(base(project, "--cid", cid, "-p", "second"))
    assert result.exit_code == 0
    texts = [p.text for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "text")]
    assert "first" in texts and "unrelated" not in texts


def test_logs_respect_logs_off(model, project, user_dir):
    (user_dir / "logs-off").write_text("")
    model.script("fine")
    assert run(base(project, "-p", "hi")).exit_code == 0
    assert not (user_dir / "logs.db").exists() or "turns" not in __import__("sqlite_utils").Database(user_dir / "logs.db").table_names()
    result = run(base(project, "-c", "-p", "hi"))
    assert result.exit_code == 1 and "logging is off" in result.stderr


def test_llm_logs_shows_session(model, project):
    model.script(Step(tool_calls=[tool("read_file", path="README.md")]), "read it")
    run(base(project, "-p", "read readme"))
    result = CliRunner().invoke(cli, ["logs", "-c"])
    assert "CodingTools_read_file" in result.output and "read it" in result.output


def test_system_and_no_tool_options(model, project):
    model.script("ok")
    run(base(project, "-p", "hi", "-s", "Answer in French.", "--no-tool", "execute_command"))
    prompt = model.prompts[-1]
    system = [p.text for m in prompt.messages if m.role == "system" for p in m.parts]
    assert "Answer in French." in system[0]
    assert "CodingTools_execute_command" not in [t.name for t in prompt.tools]


def test_functions_option_adds_tool(model, project, tmp_path):
    fn = tmp_path / "fns.py"
    fn.write_text('def double(n: int) -> int:\n    "Double n."\n    return n * 2\n')
    model.script(Step(tool_calls=[("double", {"n": 21})]), "42")
    result = run(base(project, "-p", "double 21", "--functions", str(fn), "--yolo"))
    assert result.exit_code == 0
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert "42" in outputs


def test_option_passthrough_rejects_bad_option(model, project):
    result = run(base(project, "-p", "hi", "-o", "temperature", "0.5"))
    # The scripted model has no options: llm's validation error is reported in one line.
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_untrusted_project_allow_rules_inactive_headless(model, project):
    settings = project / ".llm-code"
    settings.mkdir()
    (settings / "settings.json").write_text(json.dumps({"allow": ["echo*"]}))
    model.script(Step(tool_calls=[tool("execute_command", command="echo sneaky")]), "ok")
    result = run(base(project, "-p", "run"))
    assert result.exit_code == 0
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert all("sneaky" not in o for o in outputs)
    assert "inactive until you trust it" in result.stderr


def test_trusting_project_file_activates_allow_rules(model, project):
    settings = project / ".llm-code"
    settings.mkdir()
    (settings / "settings.json").write_text(json.dumps({"allow": ["echo*"]}))
    model.script(Step(tool_calls=[tool("execute_command", command="echo trusted-run")]), "ok")
    result = run(base(project), input="y\nrun\n!quit\n")
    assert result.exit_code == 0, result.output
    outputs = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert any("trusted-run" in o for o in outputs)
    assert "[y]es" not in result.stdout


def test_headless_continue_of_paused_conversation_declines_pending(model, project):
    import sqlite_utils
    from llm.cli import logs_db_path
    from llm.migrations import migrate

    from llm_coding_agent import CodingAgent

    db = sqlite_utils.Database(logs_db_path())
    migrate(db)
    model.script(Step(tool_calls=[tool("write_file", path="p.txt", content="p")]))
    agent = CodingAgent(model=model, root=str(project), db=db, undo=False, sandbox="off")
    assert agent.run("write p").paused
    model.script("moved on")
    result = run(["-m", "scripted", "--sandbox", "off", "-d", str(project), "-c", "-p", "forget it"])
    assert result.exit_code == 0, result.output
    assert "moved on" in result.stdout and not (project / "p.txt").exists()


def test_command_summary_finds_the_exit_line_before_a_note():
    import llm

    from llm_coding_agent.tools.shell import NO_TESTS_NOTE
    from llm_coding_agent.cli.ui import tool_summary

    call = llm.ToolCall(name="CodingTools_execute_command", arguments={"command": "python -m unittest"})
    for output, outcome in [("Ran 0 tests in 0.000s\n\nOK\nExit code: 0" + NO_TESTS_NOTE, "exit 0"),
                            ("boom\nExit code: 1", "exit 1"), ("(no output)", "done")]:
        result = llm.ToolResult(name=call.name, output=output)
        assert tool_summary(call, result)[2] == outcome
