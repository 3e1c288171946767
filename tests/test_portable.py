"""Portable sessions: `llm code export` / `llm code import`, and the round trip that must send the
model exactly what continuing the original session sends."""

from __future__ import annotations

import json
import re

import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli, logs_db_path
from llm.migrations import migrate

from conftest import Step, tool

from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.portable import FORMAT_VERSION, export_session, import_session


def run(args, input=None, env=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, env=env, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


def sent(prompt) -> str:
    """Everything a request gives the model, as one string to compare byte for byte."""
    return json.dumps({
        "messages": [m.to_dict() for m in prompt.messages],
        "prompt": prompt.prompt, "system": prompt.system,
        "tools": [(t.name, t.description, t.input_schema) for t in prompt.tools],
        "options": dict(prompt.options),
    }, sort_keys=True)


def new_ids_blanked(requests: list[str]) -> str:
    """The last request with the tool call ids the first one does not hold replaced."""
    old = set(re.findall(r"tc_[0-9a-z]+", requests[0]))
    return re.sub(r"tc_[0-9a-z]+", lambda m: m.group() if m.group() in old else "NEW", requests[-1])


def a_session(model, project) -> str:
    """A logged session with a todo list, an edit, a command and an answer; returns its id."""
    todos = [{"step": "Fix add", "status": "completed"}, {"step": "Run the tests", "status": "in_progress"}]
    model.script(
        Step(tool_calls=[tool("update_todos", plan=todos)]),
        Step(text="Fixing.", tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]),
        Step(tool_calls=[tool("execute_command", command="echo checked")]),
        "Fixed add() and checked it.",
    )
    result = run(base(project, "-p", "fix add in app.py", "--yolo", "--json"))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])["conversation_id"]


def test_export_import_continue_sends_the_model_byte_identical_history(model, project, tmp_path):
    original = a_session(model, project)
    path = tmp_path / "session.json"
    assert run(["export", original, "-o", str(path)]).exit_code == 0
    imported = run(["import", str(path)])
    assert imported.exit_code == 0, imported.output
    copy = imported.stdout.strip()
    assert copy != original and f"llm code --cid {copy} (it works in {project.resolve()})" in imported.stderr

    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), "It adds.")
    assert run(base(project, "--cid", original, "-p", "what does add do now?")).exit_code == 0
    from_original = [sent(p) for p in model.prompts[-2:]]
    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), "It adds.")
    assert run(base(project, "--cid", copy, "-p", "what does add do now?")).exit_code == 0
    from_copy = [sent(p) for p in model.prompts[-2:]]
    assert from_copy[0] == from_original[0]
    assert "fix add in app.py" in from_copy[0] and "Fixed add() and checked it." in from_copy[0]
    # And the request after a tool round, but for the id llm gave the new call.
    assert new_ids_blanked(from_copy) == new_ids_blanked(from_original)


def test_the_json_export_is_lossless_and_says_what_it_holds(model, project, tmp_path):
    cid = a_session(model, project)
    result = run(["export", cid])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["format"] == "llm-code-session" and document["version"] == FORMAT_VERSION
    conversation = document["conversation"]
    assert conversation["id"] == cid and conversation["model"] == "scripted"
    assert conversation["root"] == str(project.resolve())
    assert "coding agent" in document["system"].lower()
    assert document["state"]["todos"] == [
        {"step": "Fix add", "status": "completed"}, {"step": "Run the tests", "status": "in_progress"}
    ]
    parts = [p for m in document["messages"] for p in m["parts"]]
    calls = {p["tool_call_id"]: p for p in parts if p["type"] == "tool_call"}
    results = {p["tool_call_id"]: p for p in parts if p["type"] == "tool_result"}
    assert set(calls) == set(results) and len(calls) == 3
    edit = next(c for c in calls.values() if c["name"] == "CodingTools_edit_file")
    assert edit["arguments"] == {"path": "app.py", "old_string": "a - b", "new_string": "a + b"}
    assert "checked" in next(r["output"] for r in results.values() if r["name"] == "CodingTools_execute_command")
    assert len(document["turns"]) == 4 and all(t["input_tokens"] == 10 for t in document["turns"])
    assert any(t["name"] == "CodingTools_read_file" for t in document["tools"])
    assert document["redacted"] == 0


def test_without_an_id_export_takes_this_directorys_latest_session(model, project, tmp_path, monkeypatch):
    cid = a_session(model, project)
    other = tmp_path / "other"
    other.mkdir()
    model.script("elsewhere")
    assert run(["-m", "scripted", "-d", str(other), "--sandbox", "off", "-p", "hi"]).exit_code == 0
    monkeypatch.chdir(project)
    assert json.loads(run(["export"]).stdout)["conversation"]["id"] == cid


def test_markdown_export_collapses_tool_calls_and_shows_diffs(model, project):
    cid = a_session(model, project)
    result = run(["export", cid, "--format", "markdown"])
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith(f"# Session {cid}")
    assert "## You\n\nfix add in app.py\n\n<details><summary>as sent to the model" in text and "## Assistant\n\nFixed add() and checked it." in text
    assert "<details><summary>edit_file app.py → ok</summary>" in text
    assert "```diff\n" in text and "-    return a - b" in text and "+    return a + b" in text
    assert "<details><summary>execute_command echo checked → ok</summary>" in text
    assert "- [~] Run the tests" in text


def test_exports_never_hold_api_keys_or_secret_values(model, project, user_dir, monkeypatch):
    (user_dir / "keys.json").write_text(json.dumps({"openai": "sk-stored-key-0123456789"}))
    monkeypatch.setenv("DEMO_API_KEY", "demo-secret-value-98765")
    model.script("The keys are sk-stored-key-0123456789 and demo-secret-value-98765.")
    result = run(base(project, "-p", "what are the keys? demo-secret-value-98765", "--json"))
    cid = json.loads(result.stdout.splitlines()[-1])["conversation_id"]
    for format in ("json", "markdown"):
        text = run(["export", cid, "--format", format]).stdout
        assert "sk-stored-key-0123456789" not in text and "demo-secret-value-98765" not in text
        assert "[redacted]" in text
    assert json.loads(run(["export", cid]).stdout)["redacted"] == 2


@pytest.mark.parametrize("content, message", [
    ("{not json", "is damaged: not valid JSON"),
    ('{"format": "something else"}', "not an exported session"),
    (None, "written by a newer llm-coding-agent (session format 99"),
    ("MESSAGES", "message 1 is malformed"),
    ('[{"prompt": "hi", "response": "hello", "tool_calls": []}]', "is an llm-loop export"),
])
def test_a_damaged_or_newer_file_is_a_one_line_error(model, project, tmp_path, content, message):
    path = tmp_path / "bad.json"
    if content is None or content == "MESSAGES":
        cid = a_session(model, project)
        document = json.loads(run(["export", cid]).stdout)
        if content is None:
            document["version"] = 99
        else:
            document["messages"][1]["parent"] = 5
        content = json.dumps(document)
    path.write_text(content)
    result = run(["import", str(path)])
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_import_into_another_directory(model, project, tmp_path):
    cid = a_session(model, project)
    path = tmp_path / "s.json"
    run(["export", cid, "-o", str(path)])
    document = json.loads(path.read_text())
    for entry in document["tools"]:
        if entry["instance"]:
            entry["instance"]["arguments"]["root"] = str(tmp_path / "on-another-machine")
    path.write_text(json.dumps(document))
    assert "its directory does not exist here: add -d DIR" in run(["import", str(path)]).stderr
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "only_here.txt").write_text("x")
    copy = run(["import", str(path), "-d", str(moved)]).stdout.strip()
    model.script(Step(tool_calls=[tool("list_files")]), "listed")
    assert run(["-m", "scripted", "--sandbox", "off", "--cid", copy, "-p", "list"]).exit_code == 0
    listing = [p.output for m in model.prompts[-1].messages for p in m.parts if hasattr(p, "output")]
    assert "only_here.txt" in listing[-1]


def test_auto_exports_and_imports_conversations(model, project, tmp_path):
    path = tmp_path / "run.json"
    model.script(Step(tool_calls=[("task_complete", {"summary": "first part done"})]))
    result = run(base(project, "--auto", "do the first part", "--export-conversation", str(path)))
    assert result.exit_code == 0, result.output
    document = json.loads(path.read_text())
    assert any(p.get("name") == "task_complete" for m in document["messages"] for p in m["parts"])
    model.script(Step(tool_calls=[("task_complete", {"summary": "second part done"})]))
    result = run(base(project, "--auto", "now the second part", "--import-conversation", str(path), "--json"))
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["summary"] == "second part done" and final["conversation_id"] != document["conversation"]["id"]
    history = [p.text for m in model.prompts[-1].messages for p in m.parts if getattr(p, "text", None)]
    assert any("do the first part" in t for t in history)


def test_compaction_summaries_and_earlier_turns_survive_the_round_trip(model, project):
    db = sqlite_utils.Database(logs_db_path())
    migrate(db)
    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), "read", "second answer",
                 "SUMMARY: the user asked about app.py", "after compaction")
    agent = CodingAgent(model=model, root=str(project), approve=True, db=db, sandbox="off", undo=False)
    agent.run("read app.py")
    agent.run("and then?")
    agent.compact()
    agent.run("go on")
    document = export_session(db, agent.conversation_id)
    texts = [p.get("text", "") for m in document["messages"] for p in m["parts"]]
    assert any("SUMMARY: the user asked about app.py" in t for t in texts)
    assert any(t.endswith("\n\nread app.py") for t in texts)  # the turns before the summary are kept too
    copy = import_session(db, json.loads(json.dumps(document)))

    prompts = []
    for cid in (agent.conversation_id, copy):
        model.script("next")
        CodingAgent.load(cid, db=db, approve=True, sandbox="off", undo=False).run("one more")
        prompts.append(sent(model.prompts[-1]))
    assert prompts[0] == prompts[1] and "SUMMARY: the user asked about app.py" in prompts[0]
