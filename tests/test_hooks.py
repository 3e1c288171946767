"""Hooks: real hook scripts at PreToolUse, PostToolUse, UserPromptSubmit and Stop, through the
API and the real CLI, in the real sandbox when bubblewrap can run here."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.integrations.hooks import HookCommand, HookConfigError, parse_hooks
from llm_coding_agent.safety.settings import project_settings_path, trust_file, user_settings_path
from llm_coding_agent.tools.sandbox import bwrap_problem

PYTHON = shlex.quote(sys.executable)

#: A formatter: rewrites the edited file with tabs expanded and trailing spaces removed.
FORMATTER = """
import json, sys
event = json.load(sys.stdin)
path = event["tool_input"]["file_path"]
text = open(path).read()
formatted = "\\n".join(line.expandtabs(4).rstrip() for line in text.split("\\n"))
open(path, "w").write(formatted)
with open(".hooks/ran.log", "a") as log:
    log.write(event["hook_event_name"] + " " + event["tool_name"] + "\\n")
"""

#: Refuses file changes under migrations/.
MIGRATIONS_GUARD = """
import json, sys
event = json.load(sys.stdin)
if event["tool_input"].get("path", "").startswith("migrations/"):
    print("migrations are generated; change the models and run makemigrations instead", file=sys.stderr)
    sys.exit(2)
"""

#: Records its input, for the tests to read back.
RECORDER = """
import json, sys
event = json.load(sys.stdin)
with open(".hooks/events.jsonl", "a") as log:
    log.write(json.dumps(event) + "\\n")
"""


@pytest.fixture
def bwrap():
    problem = bwrap_problem()
    if problem is not None:
        pytest.skip(problem)


def script(project: Path, name: str, source: str) -> str:
    """Write a hook script into the project; the command that runs it."""
    folder = project / ".hooks"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(source)
    return f"{PYTHON} .hooks/{name}"


def hook(event: str, command: str, matcher: str = "", timeout: float | None = None) -> dict:
    entry: dict = {"type": "command", "command": command}
    if timeout is not None:
        entry["timeout"] = timeout
    return {event: [{"matcher": matcher, "hooks": [entry]}]}


def agent_for(project, hooks: dict, *, sandbox: str = "off", approve=True, notices=None, **kwargs) -> CodingAgent:
    return CodingAgent(
        "scripted", root=project, approve=approve, sandbox=sandbox, hooks=hooks, undo=False,
        on_notice=(notices.append if notices is not None else None), **kwargs,
    )


def tool_outputs(model) -> list[str]:
    """The tool results the model was sent, in order (the last request holds the whole history)."""
    return [
        p.output for m in model.prompts[-1].messages for p in m.parts
        if hasattr(p, "output") and p.output is not None
    ]


def events(project: Path) -> list[dict]:
    log = project / ".hooks" / "events.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# -- typical uses, in the real sandbox ----------------------------------------------------------


def test_formatter_after_every_edit_rewrites_the_file_in_the_sandbox(bwrap, model, project):
    fmt = script(project, "fmt.py", FORMATTER)
    model.script(
        Step(tool_calls=[tool("write_file", path="util.py", content="def f():\n\treturn 1   \n")]),
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b   ")]),
        "formatted",
    )
    agent = agent_for(project, hook("PostToolUse", fmt, "write_file|edit_file"), sandbox="on")
    result = agent.run("write util.py and fix add")
    assert result.stop_reason == "done"
    assert (project / "util.py").read_text() == "def f():\n    return 1\n"
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (project / ".hooks" / "ran.log").read_text() == "PostToolUse write_file\nPostToolUse edit_file\n"
    # The model learns that the file it wrote is not what is on disk now.
    outputs = tool_outputs(model)
    assert any("a PostToolUse hook changed util.py" in o and "+    return 1" in o for o in outputs)


def test_refuse_edits_under_migrations(bwrap, model, project):
    guard = script(project, "guard.py", MIGRATIONS_GUARD)
    (project / "migrations").mkdir()
    asked = []

    def approve(tool_, call):
        asked.append(call.arguments.get("path"))
        return True

    model.script(
        Step(tool_calls=[tool("write_file", path="migrations/0002_add.py", content="# changed\n")]),
        Step(tool_calls=[tool("write_file", path="models.py", content="x = 1\n")]),
        "ok",
    )
    notices: list[str] = []
    agent = agent_for(project, hook("PreToolUse", guard, "write_file|edit_file"), sandbox="on",
                      approve=approve, notices=notices)
    agent.run("add a field")
    assert not (project / "migrations" / "0002_add.py").exists()
    assert (project / "models.py").read_text() == "x = 1\n"
    outputs = tool_outputs(model)
    assert outputs[0] == (
        "Error: blocked by hook: migrations are generated; change the models and run makemigrations instead"
    )
    assert asked == ["models.py"]  # the blocked call never reached the user
    assert any("PreToolUse hook blocked write_file" in n for n in notices)


def test_hooks_cannot_write_outside_the_project_in_the_sandbox(bwrap, model, project, tmp_path):
    outside = tmp_path / "outside.txt"
    command = f"{PYTHON} -c \"open({str(outside)!r}, 'w').write('x')\"; echo done > inside.txt"
    model.script("hello")
    notices: list[str] = []
    agent_for(project, hook("UserPromptSubmit", command), sandbox="on", notices=notices).run("hi")
    assert not outside.exists()
    assert (project / "inside.txt").read_text() == "done\n"


# -- the events ---------------------------------------------------------------------------------


def test_hook_input_holds_session_root_event_and_tool(model, project):
    recorder = script(project, "rec.py", RECORDER)
    hooks = {**hook("PreToolUse", recorder, "edit_file"), **hook("PostToolUse", recorder, "edit_file")}
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), "ok")
    agent = agent_for(project, hooks)
    agent.run("fix")
    pre, post = events(project)
    assert pre["hook_event_name"] == "PreToolUse" and post["hook_event_name"] == "PostToolUse"
    assert pre["session_id"] == agent.conversation_id
    assert pre["cwd"] == pre["root"] == str(agent.root)
    assert pre["tool_name"] == "edit_file"
    assert pre["tool_input"]["path"] == "app.py"
    assert pre["tool_input"]["file_path"] == str(agent.root / "app.py")
    assert "tool_response" not in pre and "a + b" in post["tool_response"]


def test_post_tool_hook_exit_2_sends_its_stderr_to_the_model(model, project):
    lint = script(project, "lint.py", "import sys\nprint('line 2: unused import os', file=sys.stderr)\nsys.exit(2)\n")
    model.script(Step(tool_calls=[tool("write_file", path="x.py", content="import os\n")]), "ok")
    agent_for(project, hook("PostToolUse", lint, "write_file")).run("write")
    assert (project / "x.py").exists()  # PostToolUse cannot undo the call, only report
    output = tool_outputs(model)[0]
    assert output.startswith("Created x.py")
    assert "[PostToolUse hook feedback:\nline 2: unused import os]" in output


def test_post_tool_hooks_skip_calls_that_failed(model, project):
    recorder = script(project, "rec.py", RECORDER)
    model.script(Step(tool_calls=[tool("read_file", path="missing.py")]), "ok")
    agent_for(project, hook("PostToolUse", recorder)).run("read")
    assert events(project) == []


def test_user_prompt_submit_blocks_the_request(model, project):
    guard = script(project, "prompt.py", (
        "import json, sys\nevent = json.load(sys.stdin)\n"
        "if 'password' in event['prompt']:\n"
        "    print('requests must not contain passwords', file=sys.stderr)\n    sys.exit(2)\n"
        "print('Ticket: PROJ-12')\n"
    ))
    notices: list[str] = []
    agent = agent_for(project, hook("UserPromptSubmit", guard), notices=notices)
    result = agent.run("the password is hunter2, log in")
    assert result.stop_reason == "prompt_blocked"
    assert model.prompts == []  # nothing was sent
    assert any("requests must not contain passwords" in n for n in notices)
    model.script("ok")
    agent.run("fix the bug")
    # A passing hook's output goes along as context.
    assert "Ticket: PROJ-12" in model.prompts[0].prompt and "fix the bug" in model.prompts[0].prompt


def test_stop_hook_sends_the_model_back_once(model, project):
    gate = script(project, "stop.py", (
        "import json, sys\nevent = json.load(sys.stdin)\n"
        "if not event['stop_hook_active']:\n"
        "    print('run the tests before you finish', file=sys.stderr)\n    sys.exit(2)\n"
    ))
    model.script("all done", "ran them: all pass")
    notices: list[str] = []
    result = agent_for(project, hook("Stop", gate), notices=notices).run("fix")
    assert result.stop_reason == "done" and result.text == "ran them: all pass"
    assert len(model.prompts) == 2
    assert "run the tests before you finish" in model.prompts[1].prompt
    assert any("Stop hook sent the model back" in n for n in notices)


def test_a_stop_hook_that_always_objects_cannot_loop_forever(model, project):
    model.script(*["done"] * 10)
    notices: list[str] = []
    result = agent_for(project, hook("Stop", "echo never >&2; exit 2"), notices=notices).run("fix")
    assert result.stop_reason == "done"
    assert len(model.prompts) == 4  # the answer, then three times sent back
    assert any("3 times" in n for n in notices)


# -- failures are warnings, never blocks --------------------------------------------------------


@pytest.mark.parametrize("command, expected", [
    ("definitely-not-a-hook-program-xyz --check", "could not be run"),
    ("echo broken >&2; exit 1", "failed (exit 1): broken"),
])
def test_a_missing_or_failing_hook_warns_and_does_not_block(model, project, command, expected):
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "ok")
    notices: list[str] = []
    agent_for(project, hook("PreToolUse", command), notices=notices).run("write")
    assert (project / "x.txt").read_text() == "x"
    assert any(n.startswith("warning: PreToolUse hook") and expected in n for n in notices), notices


def test_a_hanging_hook_is_stopped_at_its_timeout(model, project):
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "ok")
    notices: list[str] = []
    agent_for(project, hook("PreToolUse", "sleep 60", timeout=1), notices=notices).run("write")
    assert (project / "x.txt").read_text() == "x"
    assert any("timed out after 1 s" in n for n in notices), notices


# -- matchers and the setting's shape ------------------------------------------------------------


@pytest.mark.parametrize("matcher, tool_name, matches", [
    ("write_file|edit_file", "CodingTools_write_file", True),
    ("write_file|edit_file", "write_file", True),
    ("write_file|edit_file", "CodingTools_read_file", False),
    ("CodingTools_edit_file", "CodingTools_edit_file", True),
    ("edit", "CodingTools_edit_file", False),  # the whole name must match
    ("Edit|Write", "CodingTools_edit_file", True),  # Claude Code's names
    ("Bash", "CodingTools_execute_command", True),
    ("mcp__dt__.*", "mcp__dt__now", True),
    ("mcp__dt__.*", "mcp__other__now", False),
    ("", "anything", True),
    ("*", "anything", True),
])
def test_matcher_forms(matcher, tool_name, matches):
    assert HookCommand("PreToolUse", "true", matcher).matches(tool_name) is matches


def test_only_matching_hooks_run(model, project):
    recorder = script(project, "rec.py", RECORDER)
    model.script(
        Step(tool_calls=[tool("read_file", path="app.py"), tool("write_file", path="x.txt", content="x")]), "ok",
    )
    agent_for(project, hook("PreToolUse", recorder, "write_file|edit_file")).run("go")
    assert [e["tool_name"] for e in events(project)] == ["write_file"]


@pytest.mark.parametrize("config, problem", [
    ({"PreToolUse": {"matcher": "x"}}, "must be a list"),
    ({"PreToolUse": [{"matcher": "(", "hooks": []}]}, "not a valid pattern"),
    ({"PreToolUse": [{"hooks": [{"type": "command"}]}]}, "command must be a non-empty string"),
    ({"Stop": [{"hooks": [{"command": "x", "timeout": "soon"}]}]}, "timeout must be a positive number"),
])
def test_a_badly_shaped_setting_says_where(config, problem):
    with pytest.raises(HookConfigError, match=problem):
        parse_hooks(config)


def test_unsupported_events_and_types_are_reported_not_fatal(project):
    commands, ignored = parse_hooks({
        "SessionStart": [{"hooks": [{"type": "command", "command": "x"}]}],
        "Stop": [{"hooks": [{"type": "prompt", "prompt": "x"}, {"type": "command", "command": "y"}]}],
    })
    assert [c.command for c in commands] == ["y"]
    assert len(ignored) == 2 and "SessionStart" in ignored[0]


# -- through the CLI, with trust -------------------------------------------------------------------


def run_cli(project, *args, input=None):
    return CliRunner().invoke(
        cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", *args], input=input,
        catch_exceptions=False,
    )


def write_settings(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_cli_runs_the_users_hooks(model, project):
    guard = script(project, "guard.py", MIGRATIONS_GUARD)
    write_settings(user_settings_path(), {"hooks": hook("PreToolUse", guard, "write_file")})
    model.script(Step(tool_calls=[tool("write_file", path="migrations/0003.py", content="x")]), "blocked")
    result = run_cli(project, "-p", "change the migration", "--yolo")
    assert result.exit_code == 0, result.output
    assert not (project / "migrations" / "0003.py").exists()
    assert tool_outputs(model)[0].startswith("Error: blocked by hook: migrations are generated")


def test_untrusted_project_hooks_do_not_run(model, project):
    recorder = script(project, "rec.py", RECORDER)
    path = project_settings_path(project)
    write_settings(path, {"hooks": hook("UserPromptSubmit", recorder)})
    model.script("hello")
    result = run_cli(project, "-p", "hi")
    assert result.exit_code == 0
    assert events(project) == []
    assert "hooks" in result.stderr and "inactive until you trust it" in result.stderr
    trust_file(path)
    model.script("hello again")
    assert run_cli(project, "-p", "hi again").exit_code == 0
    assert [e["prompt"] for e in events(project)] == ["hi again"]


def test_cli_blocked_prompt_exits_1(model, project):
    write_settings(user_settings_path(), {"hooks": hook("UserPromptSubmit", "echo 'not today' >&2; exit 2")})
    result = run_cli(project, "-p", "anything")
    assert result.exit_code == 1
    assert "not today" in result.stderr and "Not sent" in result.stderr
    assert model.prompts == []


def test_cli_reports_a_bad_hooks_setting_in_one_line(model, project):
    write_settings(user_settings_path(), {"hooks": {"PreToolUse": [{"matcher": "(", "hooks": []}]}})
    result = run_cli(project, "-p", "anything")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("Error: hooks.PreToolUse[0].matcher")
    assert "Traceback" not in result.output


def test_trusted_project_hooks_run_after_the_users(project):
    from llm_coding_agent.safety.settings import load_settings

    write_settings(user_settings_path(), {"hooks": hook("Stop", "echo user")})
    path = project_settings_path(project)
    write_settings(path, {"hooks": {**hook("Stop", "echo project"), **hook("PreToolUse", "echo pre", "Bash")}})
    untrusted = load_settings(project)
    assert untrusted.hooks == hook("Stop", "echo user") and "hooks" in untrusted.project_pending
    trust_file(path)
    trusted = load_settings(project)
    assert [e["hooks"][0]["command"] for e in trusted.hooks["Stop"]] == ["echo user", "echo project"]
    assert trusted.hooks["PreToolUse"][0]["matcher"] == "Bash"


def test_hooks_command_lists_them(model, project):
    write_settings(user_settings_path(), {"hooks": hook("PostToolUse", "ruff format .", "write_file|edit_file", 30)})
    result = run_cli(project, input="!hooks\n!quit\n")
    assert result.exit_code == 0, result.output
    assert "PostToolUse [write_file|edit_file]: ruff format .  (timeout 30 s)" in result.stdout


@pytest.mark.parametrize("answer", [
    {"decision": "block", "reason": "no edits on Fridays"},
    {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                            "permissionDecisionReason": "no edits on Fridays"}},
])
def test_claude_codes_json_answers_block_too(model, project, answer):
    command = f"echo {shlex.quote(json.dumps(answer))}"
    model.script(Step(tool_calls=[tool("write_file", path="x.txt", content="x")]), "ok")
    agent_for(project, hook("PreToolUse", command, "Write")).run("write")
    assert not (project / "x.txt").exists()
    assert tool_outputs(model)[0] == "Error: blocked by hook: no edits on Fridays"


def test_json_additional_context_goes_with_the_request(model, project):
    answer = {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "branch: main"}}
    model.script("ok")
    agent_for(project, hook("UserPromptSubmit", f"echo {shlex.quote(json.dumps(answer))}")).run("hi")
    assert "branch: main" in model.prompts[0].prompt and "hookSpecificOutput" not in model.prompts[0].prompt
