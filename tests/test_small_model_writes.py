"""Whole-file writes of data files under the ``small`` profile: a JSON file that parsed before is
not left unparseable, and line numbers a model glued to every line (``1{``, ``2  "app"``) are
removed when only their removal makes the file compile or parse. Measured in the jsonfence run of
2026-12-06: ``edit_json_config`` wrote exactly the right settings with ``1`` to ``13`` glued to
its lines, and the broken file was written."""

from __future__ import annotations

import json

import pytest

from llm_coding_agent import CodingTools
from llm_coding_agent.agent.profiles import PROFILES
from llm_coding_agent.tools import checks, editmatch

CONFIG = '{\n  "app": {\n    "port": 5000,\n    "debug": true\n  },\n  "features": ["search"]\n}\n'
WANTED = '{\n  "app": {\n    "port": 8080,\n    "debug": false\n  },\n  "features": ["search", "sync"]\n}\n'


def small_tools(project) -> CodingTools:
    return CodingTools(str(project), sandbox="off", **PROFILES["small"].toolbox_options())


@pytest.fixture
def configured(project):
    (project / "config.json").write_text(CONFIG)
    return project


def glued(text: str) -> str:
    return "".join(f"{n}{line}" for n, line in enumerate(text.splitlines(keepends=True), start=1))


def test_a_write_that_breaks_a_json_file_is_refused_with_the_lines_around_it(configured):
    out = small_tools(configured).write_file("config.json", WANTED.replace('"debug": false', '"debug": false,'))
    assert out.startswith("Error: the write would leave config.json as invalid JSON ("), out
    assert "at line 5" in out and "The file is unchanged" in out and "     4\t" in out
    assert "send the complete content again" in out
    assert (configured / "config.json").read_text() == CONFIG


def test_an_edit_that_breaks_a_json_file_is_refused(configured):
    tools = CodingTools(str(configured), sandbox="off", **{**PROFILES["small"].toolbox_options()})
    out = tools.edit_file("config.json", '"port": 5000,', '"port": 5000')
    assert out.startswith("Error: the edit would leave config.json as invalid JSON"), out
    assert (configured / "config.json").read_text() == CONFIG


def test_a_valid_json_write_is_made(configured):
    out = small_tools(configured).write_file("config.json", WANTED)
    assert out.startswith("Overwrote config.json"), out
    assert json.loads((configured / "config.json").read_text())["app"]["port"] == 8080


@pytest.mark.parametrize("path", ["new.json", "tsconfig.json", ".vscode/settings.json", "broken.json"])
def test_new_files_json_with_comments_and_files_broken_before_are_written_as_sent(project, path):
    (project / "broken.json").write_text("{oops\n")
    (project / ".vscode").mkdir()
    (project / ".vscode" / "settings.json").write_text('{"a": 1}\n')
    (project / "tsconfig.json").write_text('{"compilerOptions": {}}\n')
    content = '{\n  // a comment, as tsconfig allows\n  "a": 1\n}\n'
    out = small_tools(project).write_file(path, content)
    assert out.startswith(("Created", "Overwrote")), out
    assert (project / path).read_text() == content


def test_the_default_toolbox_writes_invalid_json(configured):
    out = CodingTools(str(configured), sandbox="off").write_file("config.json", "{not json")
    assert out.startswith("Overwrote config.json"), out
    assert (configured / "config.json").read_text() == "{not json"


def test_line_numbers_glued_to_every_line_are_removed_when_that_makes_the_file_parse(configured):
    out = small_tools(configured).write_file("config.json", glued(WANTED))
    assert out.startswith("Overwrote config.json") and "line numbers at the start of every line were removed" in out, out
    assert (configured / "config.json").read_text() == WANTED
    code = "def add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n"
    out = small_tools(configured).write_file("app.py", glued(code))
    assert "line numbers at the start of every line were removed" in out, out
    assert (configured / "app.py").read_text() == code


@pytest.mark.parametrize(
    "path, content",
    [
        # A numbered list is as regular as glued line numbers: other files keep their numbers.
        ("steps.txt", "1. install\n2. configure\n3. run\n"),
        # Python that compiles as sent keeps its digits (1 + 1 is code, not a line number).
        ("numbers.py", "1\n2 + 2\n3 * 3\n"),
        # JSON that parses as sent is not touched.
        ("list.json", "1\n"),
    ],
)
def test_content_that_checks_as_sent_or_is_not_code_keeps_its_numbers(project, path, content):
    out = small_tools(project).write_file(path, content)
    assert "line numbers" not in out, out
    assert (project / path).read_text() == content


def test_glued_numbers_must_count_from_one_on_every_line():
    assert editmatch.strip_glued_numbers("1a\n2b\n3c\n") == "a\nb\nc\n"
    assert editmatch.strip_glued_numbers("1a\n3b\n4c\n") is None  # a gap
    assert editmatch.strip_glued_numbers("1a\n2b\n") is None  # too short to tell
    assert editmatch.strip_glued_numbers("1a\n\n3c\n") is None  # a blank line keeps its number too
    assert editmatch.strip_glued_numbers("1a\n2\n3c") == "a\n\nc"


def test_which_files_count_as_json():
    assert checks.is_json("config.json") and checks.is_json("sub/package.json")
    assert not checks.is_json("tsconfig.json") and not checks.is_json("tsconfig.build.json")
    assert not checks.is_json(".vscode/launch.json") and not checks.is_json("config.yaml")
    assert checks.passes_check("a.json", "[1, 2]") and not checks.passes_check("a.json", "[1,")
    assert checks.passes_check("notes.txt", "[1,")


STUB = 'def parse(text):\n    """Parse text."""\n    raise NotImplementedError\n\n\ndef other():\n    return 1\n'


def test_a_write_that_leaves_a_stub_says_so(project):
    (project / "durations.py").write_text(STUB)
    out = small_tools(project).write_file("durations.py", STUB.replace("return 1", "return 2"))
    assert out.endswith("Check: compiles, but parse() still only raises NotImplementedError. "
                        "Fix these unless they are intended."), out
    out = small_tools(project).write_file("durations.py", STUB.replace("raise NotImplementedError", "return int(text)"))
    assert out.endswith("Check: compiles; no undefined names."), out


def test_abstract_methods_and_other_raises_are_not_stubs():
    text = (
        "class Base:\n    def run(self):\n        raise NotImplementedError\n\n\n"
        "def fail():\n    raise ValueError('no')\n\n\ndef todo():\n    raise NotImplementedError('later')\n"
    )
    assert checks.stub_functions(text, "m.py") == ["todo"]
    assert checks.stub_functions("def f(:\n", "m.py") == []


def test_the_default_toolbox_reports_no_stub(project):
    out = CodingTools(str(project), sandbox="off").write_file("durations.py", STUB)
    assert out == f"Created durations.py ({len(STUB)} bytes)"
