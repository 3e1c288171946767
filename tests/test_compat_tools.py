"""Tool results as the published llm-coding-agent 0.1a0 gave them (its users' code parses them)."""

from __future__ import annotations

import pytest

from llm_coding_agent import CodingTools
from llm_coding_agent.tools import files, sandbox as sandbox_module, search, shell


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


def test_cut_off_command_output_says_truncated(project):
    out = CodingTools(str(project), sandbox="off").execute_command("seq 1 100000")
    assert "truncated" in out and "bytes omitted" in out
    assert out.startswith("1\n2\n") and out.endswith("100000\nExit code: 0")


# --------------------------------------------------------------------------------------------------
# Every error result begins with "Error:" (0.1a0's callers test for that prefix)

LONG_NAME = "n" * 300

#: (tool, arguments) pairs that must fail, one per error path of the six tools.
ERROR_CALLS = [
    # read_file
    ("read_file", {"path": 5}),
    ("read_file", {"path": ""}),
    ("read_file", {"path": "a\x00b"}),
    ("read_file", {"path": "missing.py"}),
    ("read_file", {"path": "app.py/below"}),
    ("read_file", {"path": "pkg"}),
    ("read_file", {"path": "../outside.txt"}),
    ("read_file", {"path": "/etc/passwd"}),
    ("read_file", {"path": "~/notes.txt"}),
    ("read_file", {"path": "escape"}),
    ("read_file", {"path": "dangling"}),
    ("read_file", {"path": LONG_NAME}),
    ("read_file", {"path": "blob.bin"}),
    ("read_file", {"path": "app.py", "offset": -1}),
    ("read_file", {"path": "app.py", "offset": "-3"}),
    ("read_file", {"path": "app.py", "offset": 99}),
    ("read_file", {"path": "app.py", "offset": "x"}),
    ("read_file", {"path": "app.py", "offset": 1.5}),
    ("read_file", {"path": "app.py", "offset": None}),
    ("read_file", {"path": "app.py", "offset": True}),
    ("read_file", {"path": "app.py", "offset": "--1"}),
    ("read_file", {"path": "app.py", "limit": 0}),
    ("read_file", {"path": "app.py", "limit": -5}),
    ("read_file", {"path": "app.py", "limit": [10]}),
    ("read_file", {"path": "app.py", "bogus": 1}),
    ("read_file", {}),
    # write_file
    ("write_file", {"path": "pkg", "content": "x"}),
    ("write_file", {"path": "new.py", "content": 5}),
    ("write_file", {"path": "new.py"}),
    ("write_file", {"path": None, "content": "x"}),
    ("write_file", {"path": "app.py/below", "content": "x"}),
    ("write_file", {"path": "../outside.txt", "content": "x"}),
    ("write_file", {"path": "escape", "content": "x"}),
    ("write_file", {"path": ".llm-code/settings.json", "content": "{}"}),
    ("write_file", {"path": ".git/config", "content": "x"}),
    ("write_file", {"path": ".git/hooks/pre-commit", "content": "x"}),
    ("write_file", {"path": LONG_NAME, "content": "x"}),
    ("write_file", {"path": "latin1.txt", "content": "snowman \u2603"}),
    # edit_file
    ("edit_file", {"path": "missing.py", "old_string": "a", "new_string": "b"}),
    ("edit_file", {"path": "pkg", "old_string": "a", "new_string": "b"}),
    ("edit_file", {"path": "blob.bin", "old_string": "a", "new_string": "b"}),
    ("edit_file", {"path": "../outside.txt", "old_string": "a", "new_string": "b"}),
    ("edit_file", {"path": "app.py", "old_string": "not in the file", "new_string": "b"}),
    ("edit_file", {"path": "app.py", "old_string": "", "new_string": "b"}),
    ("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a - b"}),
    ("edit_file", {"path": "app.py", "old_string": "a", "new_string": "b"}),  # several matches
    ("edit_file", {"path": "app.py", "old_string": 1, "new_string": "b"}),
    ("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": None}),
    ("edit_file", {"path": "app.py", "old_string": "a - b"}),
    ("edit_file", {"path": ".git/config", "old_string": "a", "new_string": "b"}),
    # list_files
    ("list_files", {"path": "missing"}),
    ("list_files", {"path": "app.py"}),
    ("list_files", {"path": ".."}),
    ("list_files", {"path": 7}),
    ("list_files", {"pattern": 5}),
    ("list_files", {"pattern": "!*.py"}),
    ("list_files", {"pattern": "src/"}),
    ("list_files", {"pattern": "[a-"}),
    ("list_files", {"pattern": "{a,b"}),
    # search_files
    ("search_files", {"pattern": "("}),
    ("search_files", {"pattern": "a{99999}{99999}"}),
    ("search_files", {"pattern": ""}),
    ("search_files", {"pattern": 5}),
    ("search_files", {"pattern": "one\ntwo"}),
    ("search_files", {"pattern": r"one\ntwo"}),
    ("search_files", {"pattern": "x", "path": "missing"}),
    ("search_files", {"pattern": "x", "path": ".."}),
    ("search_files", {"pattern": "x", "glob": 5}),
    ("search_files", {"pattern": "x", "glob": "[a-"}),
    ("search_files", {"pattern": "x", "glob": "!*.py"}),
    ("search_files", {"pattern": "x", "max_results": 0}),
    ("search_files", {"pattern": "x", "max_results": -1}),
    ("search_files", {"pattern": "x", "max_results": "many"}),
    ("search_files", {}),
    # execute_command
    ("execute_command", {"command": ""}),
    ("execute_command", {"command": "   "}),
    ("execute_command", {"command": 5}),
    ("execute_command", {"command": "echo a\x00b"}),
    ("execute_command", {"command": "true", "timeout": 0}),
    ("execute_command", {"command": "true", "timeout": -5}),
    ("execute_command", {"command": "true", "timeout": "soon"}),
    ("execute_command", {"command": "true", "timeout": 1.5}),
    ("execute_command", {"command": "true", "timeout": float("nan")}),
    ("execute_command", {"command": "true", "timeout": float("inf")}),
    ("execute_command", {"command": "true", "timeout": None}),
    ("execute_command", {"command": "true", "timeout": True}),
    ("execute_command", {"command": "sleep 5", "timeout": 1}),
    ("execute_command", {}),
]


@pytest.fixture
def error_project(project):
    (project / "app.py").write_text("def add(a, b):\n    return a - b\n")
    (project / "pkg").mkdir()
    (project / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    (project / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (project / "escape").symlink_to("/etc/passwd")
    (project / "dangling").symlink_to("nowhere")
    (project.parent / "outside.txt").write_text("outside\n")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("[core]\n")
    return project


def call_tool(root, name: str, arguments: dict) -> str:
    out = getattr(CodingTools(str(root), sandbox="off"), name)(**arguments)
    assert isinstance(out, str)
    return out


@pytest.mark.parametrize(
    "name, arguments", ERROR_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ERROR_CALLS)]
)
def test_every_error_result_begins_with_error(error_project, name, arguments):
    out = call_tool(error_project, name, arguments)
    assert out.startswith("Error:") and "Traceback" not in out, out


SEARCH_ERRORS = [arguments for name, arguments in ERROR_CALLS if name == "search_files"]


@pytest.mark.parametrize("arguments", SEARCH_ERRORS, ids=[str(i) for i in range(len(SEARCH_ERRORS))])
def test_search_errors_begin_with_error_without_ripgrep(error_project, monkeypatch, arguments):
    monkeypatch.setattr(search, "find_rg", lambda: None)
    out = call_tool(error_project, "search_files", arguments)
    assert out.startswith("Error:") and "Traceback" not in out, out


def test_sandbox_unavailable_is_an_error_result(project, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_PROBLEMS", {})
    monkeypatch.setattr(sandbox_module, "find_bwrap", lambda: None)
    out = CodingTools(str(project), sandbox="on").execute_command("touch ran")
    assert out.startswith("Error: sandbox unavailable") and "bubblewrap" in out
    assert not (project / "ran").exists()


@pytest.mark.parametrize(
    "name, arguments, target",
    [
        ("read_file", {"path": "app.py"}, (files, "read_page")),
        ("write_file", {"path": "new.py", "content": "x"}, (files, "atomic_write")),
        ("edit_file", {"path": "app.py", "old_string": "a - b", "new_string": "a + b"},
         (files, "plan_edit")),
        ("list_files", {}, (search, "list_files")),
        ("search_files", {"pattern": "add"}, (search, "search_files")),
        ("execute_command", {"command": "true"}, (shell, "run_command")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_unexpected_exception_still_answers_error(project, monkeypatch, name, arguments, target):
    def broken(*args, **kwargs):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(*target, broken)
    out = call_tool(project, name, arguments)
    assert out.startswith("Error:") and "RuntimeError: engine bug" in out
