"""`llm code`'s prompt and session conveniences: Tab completion, picking a recent session to
resume (-r, !resume), editing a proposed file change in $EDITOR, and multi-line input."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from llm.cli import cli
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from conftest import Step, tool
from llm_coding_agent.cli.completion import MAX_PATH_CANDIDATES, SessionCompleter, tool_model_ids
from llm_coding_agent.cli.session import Session


def run(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


def sent_texts(prompt) -> list[str]:
    return [p.text for m in prompt.messages for p in m.parts if hasattr(p, "text")]


def tool_outputs(prompt) -> list[str]:
    return [p.output for m in prompt.messages for p in m.parts if hasattr(p, "output")]


# -- Tab completion -----------------------------------------------------------------------------


def completions(completer, text):
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


@pytest.fixture
def tree(project):
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "app.py").write_text("")
    (project / "src" / "api.py").write_text("")
    for skipped in (".git", "node_modules", "__pycache__", ".venv", "build"):
        (project / skipped).mkdir()
        (project / skipped / "inside.txt").write_text("")
    (project / ".gitignore").write_text("build/\n*.log\n")
    (project / "debug.log").write_text("")
    (project / ".env.example").write_text("")
    (project / "linked").symlink_to(project / "src")
    return project


def completer_for(root, models=("scripted", "gpt-4.1", "gpt-4.1-mini")):
    return SessionCompleter([n for n in Session.builtin_command_names() if n != "q"], root=lambda: root, model_ids=lambda: list(models))


def test_tab_completes_session_commands_after_bang_or_slash(project):
    completer = completer_for(project)
    assert completions(completer, "!he") == ["!help"]
    assert completions(completer, "/he") == ["/help"]
    assert completions(completer, "!re") == ["!resume"]
    assert completions(completer, "!o") == ["!output"]
    assert set(completions(completer, "!")) >= {"!help", "!model", "!resume", "!undo", "!clear", "!quit"}
    assert completions(completer, "/usr/bin/python is broken") == []
    assert completions(completer, "say !he") == []


def test_tab_completes_model_ids_after_model_command(project):
    completer = completer_for(project)
    assert completions(completer, "!model gpt") == ["gpt-4.1", "gpt-4.1-mini"]
    assert completions(completer, "/model scr") == ["scripted"]
    assert completions(completer, "!model ") == ["scripted", "gpt-4.1", "gpt-4.1-mini"]
    document = Document("!model gpt-4.1-m")
    (only,) = completer.get_completions(document, CompleteEvent(completion_requested=True))
    assert only.start_position == -len("gpt-4.1-m")


def test_model_ids_are_llms_tool_capable_models_and_aliases():
    ids = tool_model_ids()
    assert "scripted" in ids and "keyed" in ids
    assert "no-tools" not in ids  # !model would refuse it


def test_tab_completes_project_paths_after_at(tree):
    completer = completer_for(tree)
    top = completions(completer, "look at @")
    assert top == ["@src/", "@README.md", "@app.py"]  # directories first; hidden, ignored, links left out
    assert completions(completer, "fix @src/a") == ["@src/api.py", "@src/app.py"]
    assert completions(completer, "@src/") == ["@src/pkg/", "@src/api.py", "@src/app.py"]
    assert completions(completer, "@.") == ["@.env.example", "@.gitignore"]  # hidden files when asked
    for outside in ("@../", "@/etc/", "@src/../../"):
        assert completions(completer, outside) == []
    for skipped in ("@node", "@build", "@__py", "@debug", "@linked"):
        assert completions(completer, skipped) == [], skipped
    assert completions(completer, "mail me@sr") == []  # not a mention
    (mention,) = completer.get_completions(Document("see @src/app"), CompleteEvent(completion_requested=True))
    assert mention.start_position == -len("@src/app") and mention.display_text == "app.py"


def test_path_candidates_are_capped(project):
    many = project / "many"
    many.mkdir()
    for n in range(MAX_PATH_CANDIDATES + 30):
        (many / f"f{n:03}.txt").write_text("")
    assert len(completions(completer_for(project), "@many/")) == MAX_PATH_CANDIDATES


# -- picking a recent session: -r, !resume --------------------------------------------------------


def test_resume_lists_this_directorys_sessions_newest_first_and_continues_the_pick(model, project, tmp_path):
    model.script("noted", "sure", "also noted", "elsewhere")
    assert run(base(project, "-p", "first task: remember 42")).exit_code == 0
    assert run(base(project, "-c", "-p", "and remember 43")).exit_code == 0
    assert run(base(project, "-p", "second task")).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    assert run(base(other, "-p", "work in another place")).exit_code == 0

    model.script("it was 42")
    result = run(base(project, "-r"), input="2\nwhich number?\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"recent sessions in {project}:" in out
    assert "  1. just now · 1 turn · scripted · second task" in out
    assert "  2. just now · 2 turns · scripted · first task: remember 42" in out
    assert "another place" not in out and "  3." not in out
    # The same recap as -c, then the conversation goes on from the picked session.
    assert "continuing conversation" in out and "first request: first task: remember 42" in out
    texts = sent_texts(model.prompts[-1])
    assert "first task: remember 42" in texts and "and remember 43" in texts
    assert "second task" not in texts
    assert "it was 42" in out


def test_resume_with_enter_starts_a_new_session(model, project):
    model.script("old", "fresh")
    run(base(project, "-p", "old task"))
    result = run(base(project, "-r"), input="\nnew task\n")
    assert result.exit_code == 0, result.output
    assert "old task" not in sent_texts(model.prompts[-1])
    assert "continuing conversation" not in result.output


def test_resume_without_sessions_here_says_so_in_one_line(model, project):
    model.script("hello")
    result = run(base(project, "-r"), input="hi\n")
    assert result.exit_code == 0, result.output
    assert f"no earlier sessions in {project}; starting a new one" in result.output
    assert "hello" in result.output


def test_resume_is_a_usage_error_headless_or_with_continue(project):
    result = run(base(project, "-r", "-p", "task"))
    assert result.exit_code == 2
    assert "-r needs an interactive terminal; use --cid ID" in result.output
    result = run(base(project, "-r", "-p", "task", "--json"))
    assert json.loads(result.stdout.splitlines()[-1])["error"] == "-r needs an interactive terminal; use --cid ID"
    result = run(base(project, "-r", "-c"))
    assert result.exit_code == 2 and "leave out -c and --cid" in result.output


def test_resume_needs_logging(project, user_dir):
    (user_dir / "logs-off").write_text("")
    result = run(base(project, "-r"), input="")
    assert result.exit_code == 1 and "logging is off" in result.output


def test_resume_command_switches_to_the_picked_conversation(model, project):
    model.script("remembered", "hello there", "it was 42")
    run(base(project, "-p", "remember 42"))
    result = run(base(project), input="hello\n/resume\n1\nwhich number?\n")
    assert result.exit_code == 0, result.output
    listed = result.output.split("recent sessions in")[1]
    assert "  1. just now · 1 turn · scripted · remember 42" in listed
    assert "hello" not in listed.splitlines()[1]  # the running conversation is not offered
    assert "first request: remember 42" in result.output
    texts = sent_texts(model.prompts[-1])
    assert "remember 42" in texts and "hello" not in texts


def test_resume_command_with_no_other_session_stays(model, project):
    model.script("hi")
    result = run(base(project), input="hello\n!resume\n!quit\n")
    assert result.exit_code == 0, result.output
    assert f"no other sessions in {project}; staying in this one" in result.output


def test_recent_sessions_limit_and_age(model, project):
    import sqlite_utils
    from llm.cli import logs_db_path

    from llm_coding_agent.cli.sessions import MAX_SESSIONS, age, recent_sessions

    model.script("a", "b", "c")
    for task in ("one", "two", "three"):
        run(base(project, "-p", task))
    db = sqlite_utils.Database(logs_db_path())
    assert [s.first_request for s in recent_sessions(db, project, limit=2)] == ["three", "two"]
    assert len(recent_sessions(db, project)) == 3 and MAX_SESSIONS == 20
    newest = recent_sessions(db, project)[0]
    assert [s.first_request for s in recent_sessions(db, project, exclude=newest.conversation_id)] == ["two", "one"]
    now = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert age(now - timedelta(seconds=20), now) == "just now"
    assert age(now - timedelta(minutes=5), now) == "5m ago"
    assert age(now - timedelta(hours=2, minutes=59), now) == "2h ago"
    assert age(now - timedelta(days=3), now) == "3d ago"
    assert age(now - timedelta(days=90), now)[:4] == "2025"


# -- e: edit the proposed change in $EDITOR --------------------------------------------------------


def editor_script(tmp_path, body: str, monkeypatch) -> None:
    script = tmp_path / "fake-editor.sh"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(script))


EDIT_ADD = Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")])


def test_edit_answer_writes_the_users_version_and_tells_the_model(model, project, tmp_path, monkeypatch):
    editor_script(tmp_path, "sed -i 's/a + b/a + b  # checked/' \"$1\"", monkeypatch)
    model.script(EDIT_ADD, "ok")
    result = run(base(project), input="fix add\ne\n")
    assert result.exit_code == 0, result.output
    assert "[e]dit" in result.output
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b  # checked\n"
    assert "edit_file app.py → +1 -1 (your edit)" in result.output
    (output,) = tool_outputs(model.prompts[-1])
    assert output.startswith("Edited app.py (+1 -1)")
    assert "the user edited your change before approving it" in output
    note = output.split("[Note from the system:")[1]
    assert "-    return a + b\n+    return a + b  # checked" in note  # proposed (-) vs written (+)


def test_edit_of_a_write_file_call(model, project, tmp_path, monkeypatch):
    editor_script(tmp_path, "sed -i 's/1/2/' \"$1\"", monkeypatch)
    model.script(Step(tool_calls=[tool("write_file", path="new.py", content="x = 1\n")]), "ok")
    result = run(base(project), input="make new.py\ne\n")
    assert result.exit_code == 0, result.output
    assert (project / "new.py").read_text() == "x = 2\n"
    (output,) = tool_outputs(model.prompts[-1])
    assert output.startswith("Created new.py") and "-x = 1\n+x = 2" in output


@pytest.mark.parametrize("body, said", [
    ("exit 3", "the editor exited with status 3"),
    ("exit 0", "the content was left unchanged"),
])
def test_failed_or_empty_edit_asks_again(model, project, tmp_path, monkeypatch, body, said):
    editor_script(tmp_path, body, monkeypatch)
    model.script(EDIT_ADD, "ok")
    result = run(base(project), input="fix add\ne\ny\n")
    assert result.exit_code == 0, result.output
    assert said in result.output
    assert result.output.count("[e]dit") == 2  # the question again
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"  # the proposal, on y
    assert "user edited" not in tool_outputs(model.prompts[-1])[0]


def test_edit_back_to_the_current_content_declines(model, project, tmp_path, monkeypatch):
    editor_script(tmp_path, "sed -i 's/a + b/a - b/' \"$1\"", monkeypatch)
    model.script(EDIT_ADD, "ok")
    result = run(base(project), input="fix add\ne\n")
    assert result.exit_code == 0, result.output
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"
    (output,) = tool_outputs(model.prompts[-1])
    assert output.startswith("Cancelled:") and "edited your change away" in output


def test_edit_is_offered_only_for_file_changes_and_fits_64_columns(model, project):
    model.script(Step(tool_calls=[tool("execute_command", command="echo hi")]), "ok")
    result = run(base(project), input="run it\nn\n")
    assert "[y]es" in result.output and "[e]dit" not in result.output
    model.script(EDIT_ADD, "ok")
    result = run(base(project), input="fix\nn\n")
    choices = next(line for line in result.output.splitlines() if "[e]dit" in line)
    assert len(choices.split(" › ")[0] + " › ") <= 64


def test_editor_is_visual_then_editor_then_vi(monkeypatch):
    from llm_coding_agent.cli.editor import editor_command

    monkeypatch.setenv("VISUAL", "code --wait")
    monkeypatch.setenv("EDITOR", "nano")
    assert editor_command() == ["code", "--wait"]
    monkeypatch.delenv("VISUAL")
    assert editor_command() == ["nano"]
    monkeypatch.delenv("EDITOR")
    assert editor_command() == ["vi"]


def test_agent_api_approves_with_edited_content(model, project):
    from llm_coding_agent import CodingAgent
    from llm_coding_agent.agent import EditedContent

    model.script(EDIT_ADD, "done")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off",
                        approve=lambda tool, call: EditedContent("def add(a, b):\n    return b + a\n"))
    result = agent.run("fix add")
    assert (project / "app.py").read_text() == "def add(a, b):\n    return b + a\n"
    (_, tool_result), = result.tool_calls
    assert "-    return a + b\n+    return b + a" in tool_result.output


# -- in a terminal -------------------------------------------------------------------------------

pexpect = pytest.importorskip("pexpect")


def _spawn(*args, **kwargs):
    from test_pty import spawn

    return spawn(*args, **kwargs)


def test_tab_completes_a_command_in_a_pty(project, tmp_path):
    child = _spawn(project, [], tmp_path)
    try:
        child.expect("›")
        child.send("!he")
        child.send("\t")
        child.send("\r")
        child.expect("In-session commands")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert "unknown command" not in child.before
    assert child.exitstatus == 0


@pytest.mark.parametrize("newline", ["\\\r", "\x1b[13;2u", "\x1b[27;2;13~", "\x1b\r"],
                         ids=["backslash-enter", "csi-u-shift-enter", "xterm-shift-enter", "esc-enter"])
def test_multi_line_message_in_a_pty(project, tmp_path, newline):
    child = _spawn(project, [{"echo": True, "text": "ok"}], tmp_path)
    try:
        child.expect("›")
        child.send("line one" + newline + "line two\r")
        child.expect("got: line one ⏎ line two")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_edit_answer_in_a_pty(project, tmp_path, monkeypatch):
    editor_script(tmp_path, "sed -i 's/a + b/a + b  # checked/' \"$1\"", monkeypatch)
    steps = [
        {"tool_calls": [["CodingTools_edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}]]},
        {"text": "Applied your version."},
    ]
    child = _spawn(project, steps, tmp_path)
    try:
        child.expect("›")
        child.sendline("fix add")
        child.expect(r"\[e\]dit")
        child.sendline("e")
        child.expect(r"your edit")
        child.expect("Applied your version")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b  # checked\n"
    assert os.environ["EDITOR"].endswith("fake-editor.sh")
