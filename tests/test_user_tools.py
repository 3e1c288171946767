"""Tools the agent writes: create_tool through the API and the real CLI, the tool files of later
sessions and their trust, and the separate (sandboxed, where bwrap runs) process they run in."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.integrations import usertools
from llm_coding_agent.integrations.usertools import analyse_code
from llm_coding_agent.safety.settings import is_trusted, trust_file, user_settings_path
from llm_coding_agent.tools.sandbox import bwrap_problem

COUNT_LINES = '''import pathlib

def count_lines(path: str, skip_blank: bool = False) -> int:
    """Lines of a text file."""
    lines = pathlib.Path(path).read_text().splitlines()
    return len([l for l in lines if l.strip()] if skip_blank else lines)
'''


def create(name="count_lines", code=COUNT_LINES, description="Count the lines of a text file."):
    return ("create_tool", {"name": name, "description": description, "code": code})


@pytest.fixture
def bwrap():
    problem = bwrap_problem()
    if problem is not None:
        pytest.skip(problem)


class Approver:
    """Approves everything, recording what it was asked about."""

    def __init__(self):
        self.asked: list[str] = []

    def __call__(self, tool_, call):
        self.asked.append(tool_.name)
        return True


def make_agent(project, approve=None, notices=None, sandbox="off", **kwargs) -> CodingAgent:
    return CodingAgent(
        "scripted", root=project, approve=approve if approve is not None else Approver(), sandbox=sandbox,
        undo=False, on_notice=notices.append if notices is not None else None, **kwargs,
    )


def tool_outputs(model) -> list[str]:
    return [
        p.output for m in model.prompts[-1].messages for p in m.parts
        if hasattr(p, "output") and p.output is not None
    ]


def tool_file(project: Path, name: str = "count_lines") -> Path:
    return project / ".llm-code" / "tools" / f"{name}.py"


# -- creating a tool and using it -------------------------------------------------------------------


def test_created_tool_is_saved_and_callable_in_the_same_session(model, project):
    model.script(
        Step(tool_calls=[create()]),
        Step(tool_calls=[("count_lines", {"path": "app.py"})]),
        Step(tool_calls=[("count_lines", {"path": "README.md", "skip_blank": True})]),
        "app.py has 2 lines",
    )
    approver = Approver()
    agent = make_agent(project, approver)
    result = agent.run("count the lines of app.py")
    assert result.stop_reason == "done"
    outputs = tool_outputs(model)
    assert outputs[0].startswith("Created the tool count_lines (.llm-code/tools/count_lines.py)")
    assert outputs[1:] == ["2", "1"]
    # Saved with its header; trusted, since the user approved exactly this.
    text = tool_file(project).read_text()
    assert text.startswith("# llm-code tool: count_lines\n# description: Count the lines of a text file.\n")
    assert COUNT_LINES in text
    assert is_trusted(tool_file(project))
    # Offered to the model from the next request on, with parameters from the signature.
    offered = {t.name: t for t in model.prompts[1].tools}
    assert "count_lines" in offered and "count_lines" not in {t.name for t in model.prompts[0].tools}
    assert offered["count_lines"].input_schema == {
        "type": "object",
        "properties": {"path": {"type": "string"}, "skip_blank": {"type": "boolean", "default": False}},
        "required": ["path"],
    }
    # create_tool asks like a file write; the new tool asks before each call (it may change things).
    assert approver.asked == ["create_tool", "count_lines", "count_lines"]


def test_the_tool_runs_in_a_separate_process(model, project):
    code = "import os\n\ndef where() -> dict:\n    return {'pid': os.getpid(), 'cwd': os.getcwd()}\n"
    model.script(Step(tool_calls=[create("where", code, "Where it runs.")]), Step(tool_calls=[("where", {})]), "ok")
    agent = make_agent(project)
    agent.run("where")
    ran = json.loads(tool_outputs(model)[1])
    assert ran["pid"] != os.getpid()
    assert ran["cwd"] == str(agent.root)


def test_later_sessions_load_the_tool_and_a_changed_file_waits_for_trust(model, project):
    model.script(Step(tool_calls=[create()]), "created")
    make_agent(project).run("make a line counter")
    model.prompts.clear()
    model.script(Step(tool_calls=[("count_lines", {"path": "app.py"})]), "2 lines")
    make_agent(project).run("count app.py")
    assert tool_outputs(model) == ["2"]

    tool_file(project).write_text(tool_file(project).read_text() + "\n# changed behind the user's back\n")
    notices: list[str] = []
    agent = make_agent(project, notices=notices)
    assert "count_lines" not in {t.name for t in agent.tools}
    assert any("not trusted" in n and "count_lines.py" in n for n in notices)
    trust_file(tool_file(project))
    assert "count_lines" in {t.name for t in make_agent(project).tools}


def test_a_tool_the_user_marks_read_only_never_asks_and_cannot_write_in_the_sandbox(bwrap, model, project):
    code = "def touch(name: str) -> str:\n    open(name, 'w').write('x')\n    return 'wrote ' + name\n"
    model.script(Step(tool_calls=[create("touch", code, "Create a file.")]), "ok")
    make_agent(project, sandbox="on").run("make touch")
    path = tool_file(project, "touch")
    path.write_text(path.read_text().replace("# description:", "# llm-code: read-only\n# description:", 1))
    trust_file(path)  # the user's own edit, trusted as `llm code` would ask

    approver = Approver()
    model.script(Step(tool_calls=[("touch", {"name": "made.txt"})]), "done")
    make_agent(project, approver, sandbox="on").run("touch")
    assert approver.asked == []  # read-only: no question
    assert not (project / "made.txt").exists()  # ...and the project is read-only for it
    assert "Read-only file system" in tool_outputs(model)[-1]


def test_the_sandbox_keeps_a_tool_inside_the_project(bwrap, model, project, tmp_path):
    outside = tmp_path / "outside.txt"
    code = f"def escape() -> str:\n    open({str(outside)!r}, 'w').write('x')\n    open('inside.txt', 'w').write('y')\n    return 'ok'\n"
    model.script(Step(tool_calls=[create("escape", code, "Write two files.")]), Step(tool_calls=[("escape", {})]), "ok")
    make_agent(project, sandbox="on").run("go")
    assert not outside.exists()
    assert (project / "inside.txt").read_text() == "y"


# -- what the model is told when it cannot work --------------------------------------------------------


@pytest.mark.parametrize("name, code, problem", [
    ("2lines", COUNT_LINES, "must be a Python identifier"),
    ("read_file", "def read_file(path: str) -> str:\n    return ''\n", "exists already"),
    ("count_lines", "def count_lines(path: str)\n    return 1\n", "does not compile"),
    ("count_lines", "def lines(path: str) -> int:\n    return 1\n", "must define a function named count_lines"),
    ("count_lines", "def count_lines(*paths):\n    return 1\n", "remove '/' and *args"),
    ("count_lines", "# llm-code: read-only\n" + COUNT_LINES, "only the user marks a tool read-only"),
])
def test_invalid_tools_are_refused_before_the_user_is_asked(model, project, name, code, problem):
    model.script(Step(tool_calls=[create(name, code)]), "ok")
    approver = Approver()
    make_agent(project, approver).run("make a tool")
    output = tool_outputs(model)[0]
    assert output.startswith("Error: ") and problem in output, output
    assert approver.asked == []
    assert not (project / ".llm-code").exists()


def test_a_failing_or_hanging_tool_returns_an_error(model, project, monkeypatch):
    monkeypatch.setattr(usertools, "TOOL_TIMEOUT", 1)
    model.script(
        Step(tool_calls=[create("boom", "def boom() -> int:\n    return 1 // 0\n", "Fails.")]),
        Step(tool_calls=[create("spin", "def spin() -> None:\n    while True:\n        pass\n", "Hangs.")]),
        Step(tool_calls=[("boom", {}), ("spin", {})]),
        "ok",
    )
    make_agent(project).run("go")
    boom, spin = tool_outputs(model)[2:]
    assert boom.startswith("Error: the tool boom failed:") and "ZeroDivisionError" in boom
    assert spin == "Error: the tool spin did not finish in 1 s and was stopped"


def test_parameters_come_from_the_signature():
    schema = analyse_code("f", "def f(a: str, b: int = 3, *, c: list[str], d: 'float' = 0.5, e=None):\n    pass\n")
    assert schema == {
        "type": "object",
        "properties": {
            "a": {"type": "string"}, "b": {"type": "integer", "default": 3}, "c": {"type": "array"},
            "d": {"type": "number", "default": 0.5}, "e": {"default": None},
        },
        "required": ["a", "c"],
    }


# -- turning it off, and the CLI -----------------------------------------------------------------------


def run_cli(project, *args, input=None):
    return CliRunner().invoke(
        cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off", *args], input=input,
        catch_exceptions=False,
    )


def test_no_tool_flag_and_setting_turn_create_tool_off(model, project):
    model.script("ok")
    assert run_cli(project, "-p", "hi", "--no-tool", "create_tool").exit_code == 0
    assert "create_tool" not in {t.name for t in model.prompts[-1].tools}
    user_settings_path().parent.mkdir(parents=True, exist_ok=True)
    user_settings_path().write_text(json.dumps({"create_tool": False}))
    model.script("ok")
    assert run_cli(project, "-p", "hi").exit_code == 0
    assert "create_tool" not in {t.name for t in model.prompts[-1].tools}
    user_settings_path().write_text("{}")
    model.script("ok")
    assert run_cli(project, "-p", "hi").exit_code == 0
    assert "create_tool" in {t.name for t in model.prompts[-1].tools}


def test_the_small_profile_does_not_offer_create_tool(model, project):
    model.script("ok")
    assert run_cli(project, "-p", "hi", "--profile", "small").exit_code == 0
    assert "create_tool" not in {t.name for t in model.prompts[-1].tools}
    model.script("ok")
    assert run_cli(project, "-p", "hi", "--profile", "default").exit_code == 0
    assert "create_tool" in {t.name for t in model.prompts[-1].tools}


def test_cli_approval_shows_the_new_file_and_creates_the_tool(model, project):
    model.script(
        Step(tool_calls=[create()]),
        Step(tool_calls=[("count_lines", {"path": "app.py"})]),
        "2 lines",
    )
    result = run_cli(project, input="count the lines\ny\ny\n!quit\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Create the tool count_lines (.llm-code/tools/count_lines.py)?" in out
    assert out.index("+# llm-code tool: count_lines") < out.index("[y]es")
    assert "+def count_lines(path: str, skip_blank: bool = False) -> int:" in out
    assert tool_outputs(model)[1] == "2"


def test_cli_headless_skips_untrusted_tool_files_and_interactive_asks(model, project):
    folder = project / ".llm-code" / "tools"
    folder.mkdir(parents=True)
    (folder / "count_lines.py").write_text(COUNT_LINES)  # came with the repository
    model.script("ok")
    result = run_cli(project, "-p", "hi")
    assert result.exit_code == 0
    assert "not trusted" in result.stderr and "count_lines.py" in result.stderr
    assert "count_lines" not in {t.name for t in model.prompts[-1].tools}

    model.script("ok")
    result = run_cli(project, input="y\nhi\n!quit\n")
    assert result.exit_code == 0, result.output
    assert "+def count_lines(path: str" in result.stdout  # the code was shown before trusting it
    assert "count_lines" in {t.name for t in model.prompts[-1].tools}
    assert is_trusted(folder / "count_lines.py")


def test_an_untrusted_project_file_can_still_turn_create_tool_off(model, project):
    from llm_coding_agent.safety.settings import load_settings, project_settings_path

    path = project_settings_path(project)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"create_tool": False}))
    assert load_settings(project).create_tool is False  # tightening: applies untrusted
    model.script("ok")
    assert run_cli(project, "-p", "hi").exit_code == 0
    assert "create_tool" not in {t.name for t in model.prompts[-1].tools}
