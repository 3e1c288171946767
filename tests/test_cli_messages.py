"""What `llm code` says: stop notices and how to go on, declined-call advice, --json endings,
destructive warnings, option validation, one-line summaries, echo/recap/resume hint, approval
choices, help, exit 130 and `/` commands. CliRunner with the scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import llm
import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step, tool


def run(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


def failing_reads(n):
    return [Step(tool_calls=[tool("read_file", path="missing.txt")]) for _ in range(n)]


# -- 5: a loop stop is said once -----------------------------------------------------------------


def test_repeated_failing_call_stop_is_said_once(model, project):
    model.script(*failing_reads(4))
    result = run(base(project, "-p", "read missing"))
    assert result.exit_code == 3, result.output
    assert result.stderr.count("repeat") == 1, result.stderr
    assert "Stopped: the model kept repeating a failing call" in result.stderr


def test_api_users_still_hear_why_the_run_stopped(model, project):
    from llm_coding_agent import CodingAgent

    notices = []
    model.script(*failing_reads(4))
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", on_notice=notices.append)
    assert agent.run("read missing").stop_reason == "repeated_failures"
    assert any("repeated the same failing call" in n for n in notices)


# -- 6: how to go on after a stop; what headless runs declined ------------------------------------


@pytest.mark.parametrize(
    "steps, extra, why",
    [
        ([Step(tool_calls=[tool("list_files")])] * 3, ["--chain-limit", "2"], "chain limit of 2"),
        ([Step(tool_calls=[tool("list_files")])] * 2, ["--max-turns", "1"], "--max-turns budget of 1"),
        ([Step(tool_calls=[tool("list_files")], usage=(900, 200))] * 2, ["--max-tokens", "1000"],
         "--max-tokens budget of 1,000"),
        (failing_reads(4), [], "kept repeating a failing call"),
    ],
)
def test_headless_stops_say_the_command_that_goes_on(model, project, steps, extra, why):
    model.script(*steps)
    result = run(base(project, "-p", "loop", *extra))
    assert result.exit_code == 3, result.output
    stop = [line for line in result.stderr.splitlines() if line.startswith("Stopped:")]
    assert len(stop) == 1 and why in stop[0] and "`llm code -c -p continue`" in stop[0], result.stderr
    assert "say 'continue'" not in result.stderr


@pytest.mark.parametrize(
    "steps, extra",
    [
        ([Step(tool_calls=[tool("list_files")])] * 3, ["--chain-limit", "2"]),
        ([Step(tool_calls=[tool("list_files")])] * 2, ["--max-turns", "1"]),
        (failing_reads(4), []),
    ],
)
def test_interactive_stops_say_continue(model, project, steps, extra):
    model.script(*steps)
    result = run(base(project, *extra), input="loop\n")
    assert result.exit_code == 0, result.output
    stop = [line for line in result.stdout.splitlines() if line.startswith("Stopped:")]
    assert len(stop) == 1 and "say 'continue' to go on" in stop[0], result.stdout
    assert "-p continue" not in result.stdout


def test_headless_declined_calls_tell_the_user_which_option_allows_them(model, project):
    model.script(
        Step(tool_calls=[tool("execute_command", command="ls -la"),
                         tool("execute_command", command="ls")]),
        "could not list",
    )
    result = run(base(project, "-p", "list it"))
    assert result.exit_code == 0, result.output
    assert '2 calls were declined (headless): rerun with --yolo or --allow "ls*"' in result.stderr
    # The advice works: with it nothing is declined.
    model.script(
        Step(tool_calls=[tool("execute_command", command="ls -la"),
                         tool("execute_command", command="ls")]),
        "listed",
    )
    result = run(base(project, "-p", "list it", "--allow", "ls*"))
    assert "declined" not in result.stderr
    assert any("README.md" in p.output for m in model.prompts[-1].messages for p in m.parts
               if hasattr(p, "output"))


def test_headless_declined_edit_needs_yolo(model, project):
    model.script(
        Step(tool_calls=[tool("write_file", path="x.txt", content="x"),
                         tool("execute_command", command="pytest -q")]),
        "no",
    )
    result = run(base(project, "-p", "write and test"))
    line = next(l for l in result.stderr.splitlines() if "declined (headless)" in l)
    assert line == ('2 calls were declined (headless): rerun with --yolo '
                    '(--allow "pytest*" would allow only the commands)')
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "no")
    result = run(base(project, "-p", "write"))
    assert "1 call was declined (headless): rerun with --yolo\n" in result.stderr


# -- 7: --json always ends with one final event ---------------------------------------------------


def json_lines(result):
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "args, message, status",
    [
        (["-m", "does-not-exist"], "unknown model", 1),
        (["-m", "no-tools"], "does not support tools", 1),
        (["-m", "keyed"], "llm keys set keyedprovider", 1),
        (["-m", "scripted", "-d", "/no/such/dir"], "directory does not exist", 1),
        (["-m", "scripted", "--cid", "01nonexistent"], "No conversation found", 1),
        (["-m", "scripted", "--no-tool", "nosuch"], "execute_command", 1),
        (["-m", "scripted", "--max-turns", "0"], "--max-turns", 2),
    ],
)
def test_json_errors_end_with_a_final_error_event(args, message, status, project):
    if "-d" not in args:
        args = [*args, "-d", str(project)]
    result = run([*args, "-p", "hi", "--json"])
    assert result.exit_code == status, result.output
    events = json_lines(result)
    assert [e["type"] for e in events].count("final") == 1
    assert events[-1]["type"] == "final" and events[-1]["status"] == "error"
    assert message in events[-1]["error"]
    assert "Traceback" not in result.output


def test_model_error_mid_run_is_one_final_event(model, project):
    model.script(Step(text="partial", raise_exc=RuntimeError("connection reset")))
    result = run(base(project, "-p", "hi", "--json"))
    assert result.exit_code == 1
    events = json_lines(result)
    assert [e["type"] for e in events].count("final") == 1
    assert events[-1]["status"] == "error" and "connection reset" in events[-1]["error"]


def test_ctrl_c_during_a_response_exits_130_with_an_interrupted_event(model, project):
    model.script(Step(text="working...", raise_exc=KeyboardInterrupt()))
    result = run(base(project, "-p", "hi", "--json"))
    assert result.exit_code == 130, result.output
    assert json_lines(result)[-1]["type"] == "final"
    assert json_lines(result)[-1]["status"] == "interrupted"
    model.script(Step(text="working...", raise_exc=KeyboardInterrupt()))
    assert run(base(project, "-p", "hi")).exit_code == 130


def test_ctrl_c_outside_a_response_exits_130_with_an_interrupted_event(model, project, monkeypatch):
    from llm_coding_agent import CodingAgent

    def interrupted(self, prompt):
        raise KeyboardInterrupt

    monkeypatch.setattr(CodingAgent, "run", interrupted)
    result = run(base(project, "-p", "hi", "--json"))
    assert result.exit_code == 130, result.output
    assert json_lines(result) == [{"type": "final", "status": "interrupted"}]
    result = run(base(project, "-p", "hi"))
    assert result.exit_code == 130 and "Aborted" not in result.output


# -- 8: a destructive command is called destructive once, and each one is named --------------------


def test_destructive_warning_names_each_command_once(model, project):
    command = "rm -rf adir && git reset --hard && git clean -fd && echo done"
    model.script(Step(tool_calls=[tool("execute_command", command=command)]), "ok")
    result = run(base(project), input="clean up\nn\n")
    title = next(line for line in result.stdout.splitlines() if line.startswith("? Run"))
    assert title.count("destructive") == 1, title
    assert "more)" not in title
    for part in ("`rm -rf adir` deletes directories recursively",
                 "`git reset --hard` discards uncommitted changes",
                 "`git clean -fd` deletes untracked files"):
        assert part in title, title


def test_destructive_reason_keeps_other_problems_and_drops_allow_rule_noise(project):
    from llm_coding_agent.safety.rules import CommandRules

    decision = CommandRules().decide("rm -rf build > /etc/motd", project)
    assert decision.destructive
    assert decision.reason == ("destructive: `rm -rf build` deletes directories recursively; "
                               "also `rm -rf build` writes to /etc/motd, outside the project root")


# -- 9: bad option values are refused -----------------------------------------------------------


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--max-turns", "0"], "--max-turns"),
        (["--chain-limit", "-5"], "--chain-limit"),
        (["--max-tokens", "-1"], "--max-tokens"),
        (["--context-window", "10"], "--context-window"),
    ],
)
def test_out_of_range_options_are_usage_errors(args, flag, model, project):
    result = run(base(project, "-p", "hi", *args))
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and "Traceback" not in result.output
    assert not model.prompts


def test_unknown_tool_to_disable_names_the_tools(model, project):
    result = run(base(project, "-p", "hi", "--no-tool", "nosuch"))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nosuch" in result.stderr
    for name in ("read_file", "list_files", "search_files", "write_file", "edit_file", "execute_command"):
        assert name in result.stderr


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"max_turns": 0}, "max_turns"),
        ({"chain_limit": -5}, "chain_limit"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"context_window": 10}, "context_window"),
        ({"disabled_tools": ["nosuch"]}, "nosuch"),
    ],
)
def test_coding_agent_refuses_values_that_cannot_work(kwargs, name, model, project):
    from llm_coding_agent import CodingAgent

    with pytest.raises(ValueError, match=name):
        CodingAgent(model=model, root=str(project), undo=False, sandbox="off", **kwargs)


# -- 11: one-line summaries ----------------------------------------------------------------------


def summary(name, output, **arguments):
    from llm_coding_agent.cli.ui import tool_summary

    call = llm.ToolCall(name=f"CodingTools_{name}", arguments=arguments)
    return tool_summary(call, llm.ToolResult(name=call.name, output=output))[2]


def test_summaries_say_when_they_are_cut():
    outcome = summary("edit_file", "Error: " + "x" * 300, path="a.py")
    assert outcome.endswith("…") and len(outcome) == len("error: ") + 100
    assert summary("edit_file", "Error: short", path="a.py") == "error: short"


def test_summaries_pluralise():
    assert summary("search_files", "a.py:1: hit", pattern="hit") == "1 match"
    assert summary("search_files", "a.py:1: hit\nb.py:2: hit", pattern="hit") == "2 matches"
    assert summary("list_files", "a.py") == "1 file"
    assert summary("list_files", "a.py\nb.py") == "2 files"
    assert summary("read_file", "     1\tx", path="a.py") == "1 line"
    assert summary("read_file", "     1\tx\n     2\ty", path="a.py") == "2 lines"


# -- 12: echo, resume hint, recap ----------------------------------------------------------------


def test_argument_and_piped_tasks_are_echoed(model, project):
    model.script("first answer", "second answer")
    result = run(base(project, "do the first thing"), input="then the second\n")
    out = result.stdout
    assert "› do the first thing" in out and "› then the second" in out
    assert out.index("› do the first thing") < out.index("first answer") < out.index("› then the second")


def test_exit_prints_how_to_resume(model, project, monkeypatch):
    model.script("hello")
    result = run(base(project), input="hi\n")
    cid = [e for e in result.stdout.split() if e.startswith("01")][0]
    assert result.stdout.rstrip().endswith(f"resume with: llm code --cid {cid}")
    monkeypatch.chdir(project)
    model.script("hello")
    result = run(base(project), input="hi\n!quit\n")
    assert result.stdout.rstrip().endswith("resume with: llm code -c")


def test_no_resume_hint_without_a_turn(model, project):
    result = run(base(project), input="!help\n")
    assert "resume with" not in result.stdout


def test_continue_shows_a_recap(model, project):
    model.script("Remembered: 42.\nAnything else?")
    assert run(base(project, "-p", "remember the number 42 in app.py")).exit_code == 0
    model.script("second answer")
    assert run(base(project, "-c", "-p", "and now?")).exit_code == 0
    result = run(base(project, "-c"), input="")
    out = result.stdout
    assert "2 earlier turns" in out
    assert "first request: remember the number 42 in app.py" in out
    assert "last answer: second answer" in out
    assert "<file" not in out


# -- 13: approval choices fit 64 columns; help path; / commands -----------------------------------


def test_approval_choices_fit_in_64_columns(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="git status --short")]), "ok")
    result = run(base(project), input="status\nn\n")
    lines = result.stdout.splitlines()
    choices = next(line for line in lines if "[y]es" in line)
    assert len(choices.split(" › ")[0]) + len(" › ") <= 64, choices
    assert "[a]lways" in choices
    assert any("always" in line and "git status*" in line for line in lines)


def test_help_shows_the_real_settings_path(user_dir):
    result = run(["--help"])
    assert result.exit_code == 0
    assert str(Path(user_dir) / "llm-code" / "settings.json") in result.output
    assert "~/..." not in result.output


def test_slash_commands_are_session_commands(model, project):
    model.script(Step(text="first", usage=(100, 20)), "about python")
    result = run(base(project), input="hello\n/tokens\n/help\n/usr/bin/python is broken\n/quit\nnot sent\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "input 100" in out and "/help" in out
    users = [p.prompt for p in model.prompts]
    assert users == ["hello", "/usr/bin/python is broken"]


@pytest.mark.parametrize(
    "output, outcome",
    [
        ("Overwrote calc.py (66 bytes)\nCheck: compiles; no undefined names.", "overwrote 66 bytes"),
        ("Created notes/todo.md (1,010 bytes)", "created 1,010 bytes"),
        ("Unchanged: notes.txt already has exactly this content (52 bytes); nothing was written", "unchanged 52 bytes"),
    ],
)
def test_write_summary_reads_only_the_first_line(output, outcome):
    import llm

    from llm_coding_agent.cli.ui import tool_summary

    call = llm.ToolCall(name="CodingTools_write_file", arguments={"path": "calc.py", "content": "x"})
    assert tool_summary(call, llm.ToolResult(name="CodingTools_write_file", output=output))[2] == outcome
