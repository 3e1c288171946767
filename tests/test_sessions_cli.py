"""`llm code sessions` and `llm code -c` bound to the directory: continuing never picks another
project's session (the top complaint about "continue" in other agents)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step, tool


def run(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


@pytest.fixture
def two_projects(model, tmp_path):
    """Project B's session first, then project A's, newer; returns (a, b, a_id, b_id)."""
    ids = {}
    for name, words in (("b", "remember banana"), ("a", "remember apple")):
        root = tmp_path / name
        root.mkdir()
        model.script(Step(tool_calls=[tool("list_files")], usage=(100, 20)), f"ok {name}")
        result = run(["-m", "scripted", "-d", str(root), "--sandbox", "off", "-p", words, "--json"])
        assert result.exit_code == 0, result.output
        ids[name] = json.loads(result.stdout.splitlines()[-1])["conversation_id"]
    return tmp_path / "a", tmp_path / "b", ids["a"], ids["b"]


def sent_texts(prompt) -> list[str]:
    return [p.text for m in prompt.messages for p in m.parts if getattr(p, "text", None)]


def test_continue_in_b_does_not_pick_a_newer_session_of_a(model, two_projects, monkeypatch):
    a, b, a_id, b_id = two_projects
    monkeypatch.chdir(b)
    model.script("banana it was")
    result = run(["-m", "scripted", "--sandbox", "off", "-c", "-p", "what did I ask you to remember?", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["conversation_id"] == b_id
    texts = sent_texts(model.prompts[-1])
    assert "remember banana" in texts and "remember apple" not in texts


def test_continue_with_all_takes_the_newest_session_anywhere(model, two_projects, monkeypatch):
    a, b, a_id, b_id = two_projects
    monkeypatch.chdir(b)
    model.script("apple")
    result = run(["-m", "scripted", "--sandbox", "off", "-c", "--all", "-p", "and?", "--json"])
    assert json.loads(result.stdout.splitlines()[-1])["conversation_id"] == a_id


def test_continue_where_there_is_no_session_is_a_one_line_error(model, two_projects, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    result = run(["-m", "scripted", "--sandbox", "off", "-c", "-p", "hi"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"Error: no earlier session in {empty.resolve()} to continue")
    assert "--all" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert model.prompts[-1].prompt != "hi"  # nothing was sent


def test_sessions_lists_this_directorys_sessions(model, two_projects, monkeypatch):
    a, b, a_id, b_id = two_projects
    model.script("more banana")
    assert run(["-m", "scripted", "-d", str(b), "--sandbox", "off", "--cid", b_id, "-p", "and a pear"]).exit_code == 0
    monkeypatch.chdir(b)
    result = run(["sessions"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"recent sessions in {b.resolve()}:"
    assert len(lines) == 2 and lines[1].startswith(b_id)
    assert "scripted" in lines[1] and "2 turns" in lines[1] and "150 tokens" in lines[1]
    assert lines[1].endswith("remember banana")
    assert a_id not in result.stdout


def test_sessions_all_and_directory_and_json(model, two_projects):
    a, b, a_id, b_id = two_projects
    everything = run(["sessions", "--all"]).stdout.splitlines()
    assert everything[1].startswith(a_id) and everything[2].startswith(b_id)  # newest first
    assert everything[1].endswith(f"[{a.resolve()}]")
    rows = [json.loads(line) for line in run(["sessions", "-d", str(a), "--json"]).stdout.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == a_id and row["root"] == str(a.resolve()) and row["model"] == "scripted"
    assert row["turns"] == 1 and row["tokens"] == 135 and row["first_request"] == "remember apple"
    assert row["started"]


def test_sessions_with_nothing_logged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(["sessions"])
    assert result.exit_code == 0 and "no sessions in" in result.stderr and result.stdout == ""
