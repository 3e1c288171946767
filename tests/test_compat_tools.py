"""Tool results as the published llm-coding-agent 0.1a0 gave them (its users' code parses them)."""

from __future__ import annotations

from llm_coding_agent import CodingTools


def test_missing_file_error_says_not_found(project):
    tools = CodingTools(str(project), sandbox="off")
    out = tools.read_file("no_such.py")
    assert out.startswith("Error:") and "not found" in out and "list_files" in out
    out = tools.edit_file("no_such.py", "a", "b")
    assert out.startswith("Error:") and "not found" in out


def test_replace_all_reports_the_count(project):
    (project / "m.py").write_text("x = 1\nx = 1\n")
    out = CodingTools(str(project), sandbox="off").edit_file("m.py", "x = 1", "x = 2", replace_all=True)
    assert "2 replacements" in out


def test_timed_out_command_result_begins_with_error(project):
    out = CodingTools(str(project), sandbox="off").execute_command("echo early; sleep 5", timeout=1)
    assert out.startswith("Error:") and "timed out" in out and "early" in out
