"""What the ``small`` profile does beyond the prompt: lenient edit matching, a syntax check on
edits, the write_file nudge, repair of broken text-form call JSON, and running the tests once.
Each is tested on, and off (the ``default`` profile behaves exactly as before)."""

from __future__ import annotations

import dataclasses
import json

import llm
import pytest
from click.testing import CliRunner
from conftest import ScriptedModel, Step, tool
from llm.cli import cli

from llm_coding_agent import CodingAgent, CodingTools
from llm_coding_agent.agent.profiles import CHANGED_STEP_HINT, CHECK_STEP_HINT, NEXT_STEP_HINT, PROFILES, next_step_hint
from llm_coding_agent.agent.textcalls import parse_text_tool_calls
from llm_coding_agent.agent.verify import (
    TESTS_FAIL_PROMPT,
    VERIFY_CALL_ID,
    command_for_tests,
    is_test_command,
    last_test_outcome,
    outcome_of_test_run,
)

SMALL_FIELDS = [
    "lenient_edits", "check_edits", "prefer_whole_file", "repair_call_json", "verify_with_tests", "locate_definitions",
    "catch_echoed_answers",
]
NUDGE = "For a file this small, you can also call write_file with the complete new content."


def small_tools(project, **overrides) -> CodingTools:
    options = {**PROFILES["small"].toolbox_options(), **overrides}
    return CodingTools(str(project), sandbox="off", **options)


#: The small profile with edit_file offered: what its edit behaviours do when a model has the tool
#: (a profile of one's own, or a model that writes edit_file calls as text).
SMALL_WITH_EDITS = dataclasses.replace(PROFILES["small"], offers_edit_file=True)


def agent(project, **kwargs) -> CodingAgent:
    if kwargs.get("profile") == "small":
        kwargs["profile"] = SMALL_WITH_EDITS
    kwargs.setdefault("approve", True)
    kwargs.setdefault("undo", False)
    kwargs.setdefault("sandbox", "off")
    return CodingAgent(model="scripted", root=str(project), **kwargs)


# -- the profile --------------------------------------------------------------------------------


def test_every_small_model_behaviour_is_on_in_small_and_off_in_default():
    small, default = PROFILES["small"], PROFILES["default"]
    for name in SMALL_FIELDS:
        assert getattr(small, name) is True, name
        assert getattr(default, name) is False, name
    documented = {f.name for f in dataclasses.fields(small)}
    assert set(SMALL_FIELDS) <= documented


def test_the_agent_hands_the_profile_to_the_toolbox_and_again_on_a_model_switch(model, project):
    default = agent(project)
    assert (default.coding_tools.lenient_edits, default.coding_tools.check_edits) == (False, False)
    small = agent(project, profile="small")
    assert small.coding_tools.lenient_edits and small.coding_tools.check_edits and small.coding_tools.prefer_whole_file
    default.config.profile = "small"
    default.set_model("scripted")
    assert default.coding_tools.lenient_edits and default.coding_tools.check_edits
    default.config.profile = "default"
    default.set_model("scripted")
    assert not default.coding_tools.lenient_edits and not default.coding_tools.prefer_whole_file


# -- 1. lenient edit matching -------------------------------------------------------------------


def test_line_numbers_copied_from_read_file_are_removed_from_old_and_new(project):
    tools = small_tools(project)
    numbered = tools.read_file("app.py")
    assert numbered.splitlines()[1] == "     2\t    return a - b"
    out = tools.edit_file("app.py", numbered, numbered.replace("a - b", "a + b"))
    assert "matched after removing copied line numbers" in out, out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize("prefix", ["{n}: ", "{n} | ", "{n}| "])
def test_other_line_number_forms_are_removed_too(project, prefix):
    old = "".join(prefix.format(n=n) + line + "\n" for n, line in [(1, "def add(a, b):"), (2, "    return a - b")])
    out = small_tools(project).edit_file("app.py", old, "def add(a, b):\n    return a + b\n")
    assert "matched after removing copied line numbers" in out, out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_numbers_in_new_string_only_go_when_they_are_read_file_prefixes(project):
    tools = small_tools(project)
    # old numbered, new partly numbered with read_file's "N<TAB>" form: those prefixes go.
    out = tools.edit_file("app.py", "     2\t    return a - b", "     2\t    c = a + b\n    return c")
    assert "Edited app.py" in out, out
    assert (project / "app.py").read_text() == "def add(a, b):\n    c = a + b\n    return c\n"


def test_trailing_whitespace_is_tolerated(project):
    out = small_tools(project).edit_file("app.py", "    return a - b   \n", "    return a + b\n")
    assert "matched after ignoring trailing whitespace" in out, out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_a_uniform_indentation_difference_is_tolerated_and_new_string_reindented(project):
    (project / "shapes.py").write_text(
        "class Square:\n    def area(self):\n        return self.side * 2\n\n    def name(self):\n        return 'square'\n"
    )
    tools = small_tools(project)
    # The model dropped the method's indentation (old and new both at column 0).
    out = tools.edit_file(
        "shapes.py", "def area(self):\n    return self.side * 2\n", "def area(self):\n    return self.side ** 2\n"
    )
    assert "matched after adjusting the indentation" in out, out
    assert "        return self.side ** 2\n" in (project / "shapes.py").read_text()
    # ...and too much indentation is taken off the same way.
    out = tools.edit_file("shapes.py", "        def name(self):\n            return 'square'", "        def name(self):\n            return 'SQUARE'")
    assert "adjusting the indentation" in out, out
    assert "    def name(self):\n        return 'SQUARE'\n" in (project / "shapes.py").read_text()


def test_lenient_match_keeps_crlf_line_endings(project):
    (project / "win.py").write_bytes(b"x = 1\r\ny = 2\r\n")
    out = small_tools(project).edit_file("win.py", "y = 2  \n", "y = 3\n")
    assert "trailing whitespace" in out, out
    assert (project / "win.py").read_bytes() == b"x = 1\r\ny = 3\r\n"


def test_several_lenient_matches_are_the_usual_ambiguity_error(project):
    (project / "twice.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 1\n")
    out = small_tools(project).edit_file("twice.py", "    return 1   \n", "    return 2\n")
    assert out.startswith("Error: old_string is not in twice.py exactly") and "matches 2 places (lines 2, 6)" in out, out
    out = small_tools(project).edit_file("twice.py", "        return 1\n", "        return 2\n")
    assert "after adjusting the indentation it matches 2 places" in out, out
    assert (project / "twice.py").read_text() == "def f():\n    return 1\n\n\ndef g():\n    return 1\n"


def test_a_real_digit_leading_line_is_not_mangled(project):
    (project / "steps.txt").write_text("1: unpack\n2: build\n3: ship\n")
    out = small_tools(project).edit_file("steps.txt", "2: build\n", "2: build and test\n")
    assert "Edited" in out and "matched after" not in out, out
    assert (project / "steps.txt").read_text() == "1: unpack\n2: build and test\n3: ship\n"
    # Numbers that do not count up are not line numbers: nothing is stripped, nothing matches.
    out = small_tools(project).edit_file("steps.txt", "1: unpack\n3: build", "x")
    assert out.startswith("Error: old_string was not found in steps.txt"), out


def test_no_match_still_gives_todays_closest_region_error(project):
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(80))  # > 150 lines
    (project / "big.py").write_text(body)
    old = "     1\tdef f7(x):\n     2\t    return x * 7\n"
    lenient = small_tools(project).edit_file("big.py", old, "y")
    today = CodingTools(str(project), sandbox="off").edit_file("big.py", old, "y")
    assert lenient == today and "The closest region is" in today, lenient


def test_default_toolbox_matches_exactly_as_before(project):
    out = CodingTools(str(project), sandbox="off").edit_file("app.py", "     2\t    return a - b", "     2\t    return a + b")
    assert out.startswith("Error: old_string was not found in app.py"), out
    assert NUDGE not in out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"


def test_the_approval_preview_shows_the_lenient_edit(model, project):
    asked = []

    def approver(tool_, call):
        asked.append(agent_.coding_tools._preview("edit_file", call.arguments))
        return True

    model.script(
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="     2\t    return a - b", new_string="     2\t    return a + b")]),
        "Fixed.",
    )
    agent_ = agent(project, approve=approver, profile="small")
    result = agent_.run("fix add")
    assert "+    return a + b" in asked[0]
    assert "matched after removing copied line numbers" in result.tool_calls[0][1].output


# -- 2. syntax check on edits -------------------------------------------------------------------


def test_an_edit_that_breaks_python_is_refused_with_the_lines_around_it(project):
    out = small_tools(project).edit_file("app.py", "return a - b", "return (a + b")
    assert out.startswith("Error: the edit would leave app.py with a SyntaxError at line 2: "), out
    assert "The file is unchanged" in out and "     2\t    return (a + b" in out
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a - b\n"


def test_a_write_that_breaks_python_is_refused_and_nothing_is_created(project):
    out = small_tools(project).write_file("new.py", "def f(:\n    pass\n")
    assert out.startswith("Error: the write would leave new.py with a SyntaxError at line 1"), out
    assert not (project / "new.py").exists()


def test_an_accepted_edit_reports_that_it_compiles(project):
    out = small_tools(project).edit_file("app.py", "a - b", "a + b")
    assert out.endswith("Check: compiles; no undefined names."), out
    out = small_tools(project).write_file("new.py", "import os\n\nprint(os.sep)\n")
    assert out == "Created new.py (25 bytes)\nCheck: compiles; no undefined names."


def test_undefined_names_and_redefinitions_are_reported_but_written(project):
    out = small_tools(project).edit_file("app.py", "return a - b", "return a + c\n\n\ndef add(a, b):\n    return 0")
    assert "Check: compiles, but line 2: undefined name 'c'; line 5: redefinition of unused 'add' from line 1" in out, out
    assert "return a + c" in (project / "app.py").read_text()


def test_problems_the_file_had_before_are_not_repeated(project):
    (project / "old.py").write_text("def f():\n    return missing\n")
    out = small_tools(project).edit_file("old.py", "def f():", "def f():  # looked up later")
    assert out.endswith("Check: compiles; no new undefined names."), out


def test_a_file_that_did_not_compile_before_may_be_written(project):
    (project / "broken.py").write_text("def f(:\n    pass\n")
    out = small_tools(project).edit_file("broken.py", "pass", "return 1")
    assert "Edited broken.py" in out, out
    assert "Check: still does not compile (SyntaxError at line 1" in out and "did not compile before" in out
    # ...and fixed:
    out = small_tools(project).edit_file("broken.py", "def f(:", "def f():")
    assert out.endswith("Check: compiles; no undefined names."), out


def test_other_files_and_the_default_toolbox_are_not_checked(project):
    out = small_tools(project).write_file("notes.txt", "def f(:\n")
    assert out == "Created notes.txt (8 bytes)"
    out = CodingTools(str(project), sandbox="off").edit_file("app.py", "return a - b", "return (a + b")
    assert out.startswith("Edited app.py") and "Check:" not in out
    assert "return (a + b" in (project / "app.py").read_text()


def test_a_rename_in_one_file_says_where_the_old_name_is_still_used(project):
    (project / "shop").mkdir()
    (project / "shop" / "cart.py").write_text("def calc_total(items):\n    return sum(items)\n")
    (project / "shop" / "report.py").write_text("from shop.cart import calc_total\n\nprint(calc_total([1]))\n")
    (project / "notes.txt").write_text("calc_total is documented here\n")  # not Python: not a use
    out = small_tools(project).edit_file("shop/cart.py", "calc_total", "compute_total")
    assert out.endswith("Check: compiles, but calc_total (now compute_total) is no longer defined in shop/cart.py "
                        "but is still used at shop/report.py:1 `from shop.cart import calc_total`, "
                        "shop/report.py:3 `print(calc_total([1]))`. Update those uses too."), out
    assert next_step_hint([llm.ToolResult(name="CodingTools_edit_file", output=out)]) == CHECK_STEP_HINT
    # Once the callers are updated too, the check is clean again.
    small_tools(project).write_file("shop/report.py", "from shop.cart import compute_total\n\nprint(compute_total([1]))\n")
    out = small_tools(project).edit_file("shop/cart.py", "return sum(items)", "return sum(items, 0)")
    assert out.endswith("Check: compiles; no undefined names."), out


def test_a_removed_name_that_is_not_a_rename_gets_no_new_name(project):
    (project / "lib.py").write_text("def old():\n    return 1\n\n\ndef other():\n    return 2\n")
    (project / "use.py").write_text("from lib import old, other\n")
    tools = small_tools(project, lenient_edits=False)  # the small profile would keep old in the file
    for _ in range(2):  # a write that drops a definition is taken when sent again (tools/wholefile.py)
        out = tools.write_file("lib.py", "def other():\n    return 2\n")  # deleted, not renamed
    assert "old is no longer defined in lib.py but is still used at use.py:1 `from lib import old, other`" in out
    assert "(now" not in out
    out = tools.write_file("lib.py", "def first():\n    return 1\n\n\ndef second():\n    return 2\n")
    if out.startswith("Error:"):
        out = tools.write_file("lib.py", "def first():\n    return 1\n\n\ndef second():\n    return 2\n")
    assert "(now" not in out and "other is no longer defined" in out  # two added: which one is unknown


def test_no_stale_use_report_for_private_or_kept_names_or_the_default_toolbox(project):
    (project / "lib.py").write_text("def _helper():\n    return 1\n\n\ndef api():\n    return _helper()\n")
    (project / "use.py").write_text("from lib import api, _helper\n")
    out = small_tools(project).edit_file("lib.py", "def _helper():\n    return 1\n\n\n", "")
    assert "no longer defined" not in out  # private names are the module's own business
    out = CodingTools(str(project), sandbox="off").edit_file("lib.py", "def api():", "def api2():")
    assert "Check:" not in out


def test_a_refused_edit_is_not_put_to_the_user(model, project):
    asked = []
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="(a + b")]), "Sorry.")
    result = agent(project, approve=lambda t, c: asked.append(c) or True, profile="small").run("fix add")
    assert asked == []
    assert "SyntaxError" in result.tool_calls[0][1].output


# -- 4. the whole-file nudge ----------------------------------------------------------------------


def test_a_failed_edit_of_a_small_file_suggests_write_file(project):
    out = small_tools(project).edit_file("app.py", "return a * b", "return a + b")
    assert out.startswith("Error: old_string was not found") and out.endswith(NUDGE), out


def test_no_whole_file_nudge_for_a_large_file_or_the_default_toolbox(project):
    (project / "big.py").write_text("".join(f"x{i} = {i}\n" for i in range(200)))
    assert NUDGE not in small_tools(project).edit_file("big.py", "y = 1", "y = 2")
    assert NUDGE not in CodingTools(str(project), sandbox="off").edit_file("app.py", "return a * b", "x")


# -- 3. repair of broken text-form call JSON -------------------------------------------------------


def resolve(name):
    return {"write_file": "CodingTools_write_file", "read_file": "CodingTools_read_file"}.get(
        name.removeprefix("CodingTools_")
    )


RAW_NEWLINES = '```json\n{"name": "write_file", "arguments": {"path": "a.py", "content": "def f():\n    return 1\n"}}\n```'
BARE_QUOTES = '```json\n{"name": "write_file", "arguments": {"path": "a.py", "content": "print("hi")"}}\n```'


def test_broken_call_json_is_repaired_only_with_repair_on():
    assert parse_text_tool_calls(RAW_NEWLINES, resolve) == []
    assert parse_text_tool_calls(RAW_NEWLINES, resolve, repair=True) == [
        ("CodingTools_write_file", {"path": "a.py", "content": "def f():\n    return 1\n"})
    ]
    assert parse_text_tool_calls(BARE_QUOTES, resolve) == []
    assert parse_text_tool_calls(BARE_QUOTES, resolve, repair=True) == [
        ("CodingTools_write_file", {"path": "a.py", "content": 'print("hi")'})
    ]
    tagged = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}\n</tool_call>'
    assert parse_text_tool_calls(tagged, resolve, repair=True) == [("CodingTools_read_file", {"path": "a.py"})]


@pytest.mark.parametrize(
    "text",
    [
        # Prose with two (broken) JSON examples: examples, not calls.
        'Call it like this:\n```json\n{"name": "read_file", "arguments": {"path": "a.py"}\n```\n'
        'or this:\n```json\n{"name": "write_file", "arguments": {"path": "b", "content": "x"y"}}\n```',
        # Code that contains an object is not an object.
        '```\ncall = {"name": "read_file", "arguments": {"path": "a.py"}\n```',
        '```python\n{"name": "read_file", "arguments": {"path": "a.py"}\n```',
        # Repaired, but not a call of a tool that exists, or not only name and arguments.
        '```json\n{"name": "delete_everything", "arguments": {"path": "a.py"}\n```',
        '```json\n{"name": "read_file", "arguments": {"path": "a.py"}, "why": "look"\n```',
        "I would read a.py first {maybe} and then decide.",
    ],
)
def test_repair_keeps_the_rules_for_what_is_a_call(text):
    assert parse_text_tool_calls(text, resolve, repair=True) == []


# Measured in the native-template run: a file's code written into the JSON string with its own
# quotes unescaped (a docstring), or as a Python triple-quoted string. json_repair made the rest of
# the code into argument names; the last argument is read as the string it plainly is instead.
DOCSTRING_QUOTES = (
    '```json\n{\n  "name": "CodingTools_write_file",\n  "arguments": {\n    "path": "bank.py",\n'
    '    "content": "class Account:\\n    """A bank account."""\\n    def __init__(self):\\n'
    '        self.owner = \\"me\\"\\n"\n  }\n}\n```'
)
TRIPLE_QUOTED = (
    '```json\n{\n  "name": "write_file",\n  "arguments": {\n    "path": "series.py",\n'
    '    "content": """\n    def mean(values):\n        """Average of values."""\n'
    '        return sum(values) / len(values)\n    """\n  }\n}\n```'
)
RAW_CODE = (
    '```json\n{"name": "write_file", "arguments": {"path": "j.py", "content": "def join(parts):\n'
    '    return "\\n".join(parts)\n"}}\n```'
)


def test_code_with_unescaped_quotes_is_read_as_the_content_it_is():
    assert parse_text_tool_calls(DOCSTRING_QUOTES, resolve, repair=True) == [
        ("CodingTools_write_file", {
            "path": "bank.py",
            "content": 'class Account:\n    """A bank account."""\n    def __init__(self):\n        self.owner = "me"\n',
        })
    ]
    assert parse_text_tool_calls(TRIPLE_QUOTED, resolve, repair=True) == [
        ("CodingTools_write_file", {
            "path": "series.py",
            "content": 'def mean(values):\n    """Average of values."""\n    return sum(values) / len(values)\n',
        })
    ]
    # Code typed with raw newlines keeps its backslashes: "\n".join stays "\n".join.
    assert parse_text_tool_calls(RAW_CODE, resolve, repair=True) == [
        ("CodingTools_write_file", {"path": "j.py", "content": 'def join(parts):\n    return "\\n".join(parts)\n'})
    ]
    # Without repair none of them is a call.
    for text in (DOCSTRING_QUOTES, TRIPLE_QUOTED, RAW_CODE):
        assert parse_text_tool_calls(text, resolve) == []


@pytest.mark.parametrize(
    "text",
    [
        # The same call among prose is an example, not a call (two blocks with prose around them).
        "First:\n" + DOCSTRING_QUOTES + "\nthen:\n" + TRIPLE_QUOTED,
        # Not a tool that exists.
        DOCSTRING_QUOTES.replace("CodingTools_write_file", "CodingTools_format_disk"),
        # A Python block holding the same text is code, not a call.
        DOCSTRING_QUOTES.replace("```json", "```python"),
        # An extra key beside name and arguments.
        TRIPLE_QUOTED.replace('"name": "write_file",', '"name": "write_file", "why": "x",'),
    ],
)
def test_reading_the_last_argument_keeps_the_rules_for_what_is_a_call(text):
    assert parse_text_tool_calls(text, resolve, repair=True) == []


def test_the_small_profile_writes_code_sent_with_unescaped_docstring_quotes(model, project):
    model.script(DOCSTRING_QUOTES, "Done.")
    result = agent(project, profile="small").run("make bank.py")
    assert (project / "bank.py").read_text() == (
        'class Account:\n    """A bank account."""\n    def __init__(self):\n        self.owner = "me"\n'
    )
    assert result.text == "Done."


def test_the_small_profile_runs_a_repaired_call_and_the_default_does_not(model, project):
    model.script(RAW_NEWLINES.replace("a.py", "made.py"), "Done.")
    result = agent(project, profile="small").run("make made.py")
    assert (project / "made.py").read_text() == "def f():\n    return 1\n"
    assert result.text == "Done."
    model.script(RAW_NEWLINES.replace("a.py", "other.py"))
    result = agent(project).run("make other.py")
    assert not (project / "other.py").exists() and result.tool_calls == []


# -- 5. running the tests once -------------------------------------------------------------------


@pytest.fixture
def tested(project):
    (project / "tests").mkdir()
    (project / "tests" / "test_app.py").write_text("from app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    return project


def commands(result):
    return [(c.arguments["command"], c.tool_call_id) for c, _ in result.tool_calls if c.name.endswith("execute_command")]


FIX = tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")
WRONG_FIX = tool("edit_file", path="app.py", old_string="a - b", new_string="a * b")


def test_passing_tests_are_run_once_and_recorded(model, tested):
    model.script(Step(tool_calls=[FIX]), "Fixed.")
    result = agent(tested, profile="small").run("fix add")
    assert commands(result) == [("python -m pytest -q", VERIFY_CALL_ID)]
    assert result.tests_passed is True and result.stop_reason == "done"
    assert len(model.prompts) == 2  # nothing more was asked of the model


def test_failing_tests_go_back_to_the_model_and_its_fix_is_checked_too(model, tested):
    model.script(Step(tool_calls=[WRONG_FIX]), "Fixed.", Step(tool_calls=[tool("edit_file", path="app.py", old_string="a * b", new_string="a + b")]), "Now fixed.")
    result = agent(tested, profile="small").run("fix add")
    feedback = model.prompts[2].prompt
    assert feedback.startswith(TESTS_FAIL_PROMPT) and "$ python -m pytest -q" in feedback and "assert 6 == 5" in feedback
    # The model ends again without running them after its second change: they run once more,
    # pass, and nothing more is sent.
    assert len(commands(result)) == 2 and result.text == "Now fixed." and len(model.prompts) == 4
    assert result.tests_passed is True
    assert (tested / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_a_run_ending_right_after_failing_tests_reports_them_failed(model, tested):
    model.script(Step(tool_calls=[WRONG_FIX]), "Fixed.", "It is fixed, trust me.")
    result = agent(tested, profile="small").run("fix add")
    assert result.tests_passed is False and result.text == "It is fixed, trust me."


def test_tests_the_model_ran_after_its_change_are_not_run_again(model, tested):
    model.script(Step(tool_calls=[FIX]), Step(tool_calls=[tool("execute_command", command="python -m pytest -q tests")]), "Fixed.")
    result = agent(tested, profile="small").run("fix add")
    assert [c for c, _ in commands(result)] == ["python -m pytest -q tests"]
    assert result.tests_passed is True


@pytest.mark.parametrize("profile, script, has_tests", [
    ("small", [Step(tool_calls=[tool("read_file", path="app.py")]), "It subtracts."], True),  # no change
    ("small", [Step(tool_calls=[FIX]), "Fixed."], False),  # no tests in the project
    ("default", [Step(tool_calls=[FIX]), "Fixed."], True),  # not the small profile
])
def test_no_test_run_without_a_change_tests_or_the_small_profile(model, project, profile, script, has_tests):
    if has_tests:
        (project / "test_app.py").write_text("def test_nothing():\n    pass\n")
    model.script(*script)
    result = agent(project, profile=profile).run("look at add")
    assert commands(result) == [] and result.tests_passed is None


def test_no_test_run_when_commands_are_disabled(model, tested):
    model.script(Step(tool_calls=[FIX]), "Fixed.")
    result = agent(tested, profile="small", disabled_tools=["execute_command"]).run("fix add")
    assert commands(result) == [] and len(model.prompts) == 2


def test_a_declined_test_run_is_skipped(model, tested):
    def approver(tool_, call):
        return not tool_.name.endswith("execute_command")

    model.script(Step(tool_calls=[WRONG_FIX]), "Fixed.")
    result = agent(tested, approve=approver, profile="small").run("fix add")
    assert result.text == "Fixed." and len(model.prompts) == 2
    assert result.tests_passed is None
    assert result.tool_calls[-1][1].output.startswith("Cancelled")


def test_the_test_command_the_request_names_is_the_one_run(model, tested):
    model.script(Step(tool_calls=[FIX]), "Fixed.")
    result = agent(tested, profile="small").run("The suite fails when I run `python -m pytest tests`; fix it.")
    assert [c for c, _ in commands(result)] == ["python -m pytest tests"]
    assert command_for_tests(tested, "no command named") == "python -m pytest -q"


def test_tests_passed_records_the_models_own_test_runs_in_any_profile(model, tested):
    model.script(Step(tool_calls=[tool("execute_command", command="python -m pytest -q")]), "They fail.")
    assert agent(tested).run("run the tests").tests_passed is False


@pytest.mark.parametrize("command, expected", [
    ("python -m pytest -q", True), ("pytest tests/test_x.py", True), ("cd sub && python3 -m unittest", True),
    ("uv run pytest", True), ("npm test", True), ("npm run test", True), ("go test ./...", True),
    ("cargo test", True), ("make check", True), ("tox -e py311", True), ("python tests/test_app.py", True),
    ("pip install pytest", False), ("cat pytest.ini", False), ("echo test", False), ("python app.py", False),
    ("git status", False), ("npm install", False),
])
def test_which_commands_are_test_runs(command, expected):
    assert is_test_command(command) is expected


@pytest.mark.parametrize("output, expected", [
    ("1 passed in 0.01s\nExit code: 0", True),
    ("1 failed in 0.01s\nExit code: 1", False),
    ("no tests ran in 0.01s\nExit code: 5", None),
    ("Ran 0 tests in 0.000s\n\nOK\nExit code: 0\nNote: no tests ran, so nothing was verified.", None),
    ("Cancelled: the user declined this call.", None),
    ("Error: command timed out after 120 s; the process tree was killed. Output so far:\n...", False),
])
def test_how_a_test_run_ended(output, expected):
    assert outcome_of_test_run(output) is expected


def test_the_last_test_run_decides(project):
    def run(command, output):
        return (llm.ToolCall(name="CodingTools_execute_command", arguments={"command": command}),
                llm.ToolResult(name="CodingTools_execute_command", output=output))

    calls = [run("pytest", "Exit code: 1"), run("ls", "Exit code: 0"), run("pytest -q", "Exit code: 0")]
    assert last_test_outcome(calls) is True
    assert last_test_outcome(calls[:2]) is False
    assert last_test_outcome(calls[1:2]) is None
    edit = (llm.ToolCall(name="CodingTools_write_file", arguments={"path": "a.py", "content": "x"}),
            llm.ToolResult(name="CodingTools_write_file", output="Overwrote a.py (1 bytes)"))
    assert last_test_outcome(calls[:1] + [edit]) is None          # out of date after a change
    assert last_test_outcome(calls[:1] + [edit] + calls[2:]) is True


def test_json_final_event_says_whether_the_tests_passed(model, tested):
    # The CLI's small profile has no edit_file: the fix is a whole-file write.
    model.script(Step(tool_calls=[tool("write_file", path="app.py", content="def add(a, b):\n    return a + b\n")]),
                 "Fixed.")
    args = ["code", "-m", "scripted", "-d", str(tested), "--sandbox", "off", "--profile", "small",
            "-p", "fix add", "--yolo", "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert events[-1]["type"] == "final" and events[-1]["tests_passed"] is True
    ran = [e for e in events if e["type"] == "tool_call" and e["id"] == VERIFY_CALL_ID]
    assert ran and ran[0]["arguments"] == {"command": "python -m pytest -q"}


# -- an answer that only repeats the instructions ---------------------------------------------------

ECHO_REQUEST = "Make add() in app.py add instead of subtract, and add a docstring to it."


def echo_script(model, *answers):
    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + b")]), *answers)


def test_an_answer_repeating_the_step_line_is_sent_back_once_with_the_request(model, project):
    echo_script(model, CHANGED_STEP_HINT,
                Step(tool_calls=[tool("edit_file", path="app.py", old_string="def add(a, b):\n",
                                      new_string='def add(a, b):\n    """The sum."""\n')]),
                "Fixed the operator and added a docstring.")
    result = agent(project, profile="small").run(ECHO_REQUEST)
    sent = model.prompts[2].prompt
    assert sent.startswith("[Note from the system: your reply repeated the instructions") and ECHO_REQUEST in sent
    assert result.text == "Fixed the operator and added a docstring."
    assert (project / "app.py").read_text() == 'def add(a, b):\n    """The sum."""\n    return a + b\n'


def test_the_request_repeated_counts_too_but_only_once_per_run(model, project):
    echo = "Make add() in app.py add instead of subtract, and add a docstring to it. " + CHANGED_STEP_HINT
    echo_script(model, echo, echo)
    result = agent(project, profile="small").run(ECHO_REQUEST)
    assert len(model.prompts) == 3 and result.stop_reason == "done"
    # The echo is not passed off as the model's answer: the user reads what the run changed.
    assert result.text == "(The model's answer only repeated the agent's instructions.) Files changed in this run: app.py."


def test_an_echo_after_a_run_that_changed_nothing_says_so(model, project):
    model.script(CHANGED_STEP_HINT + " " + NEXT_STEP_HINT, CHANGED_STEP_HINT + " " + NEXT_STEP_HINT)
    result = agent(project, profile="small").run(ECHO_REQUEST)
    assert len(model.prompts) == 2
    assert result.text == "(The model's answer only repeated the agent's instructions.) No file was changed in this run."


@pytest.mark.parametrize("profile, answer", [
    ("small", "I made add() in app.py add instead of subtract; the docstring is still missing."),
    ("small", "Done."),
    ("small", "No change is needed."),  # short: an answer (right or wrong), never an echo
    ("default", CHANGED_STEP_HINT),
])
def test_own_words_or_the_default_profile_end_the_run(model, project, profile, answer):
    echo_script(model, answer)
    result = agent(project, profile=profile).run(ECHO_REQUEST)
    assert len(model.prompts) == 2 and result.text == answer


class _CappedModel(ScriptedModel):
    """A scripted model that takes a ``max_tokens`` option, as llm's OpenAI models do."""

    model_id = "scripted-capped"

    class Options(llm.Options):
        max_tokens: int | None = None


@pytest.mark.parametrize("profile, options, sent", [
    ("small", {}, 1024),                      # the small profile's cap
    ("small", {"max_tokens": 4096}, 4096),    # the user's own value wins
    ("default", {}, None),                    # other models: the model's own default
])
def test_small_models_answers_are_capped_unless_the_user_says_otherwise(project, profile, options, sent):
    model = _CappedModel().script("ok")
    CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile=profile,
                options=options).run("hi")
    assert model.prompts[0].options.max_tokens == sent


def test_no_cap_is_sent_to_a_model_without_a_max_tokens_option(model, project):
    model.script("ok")
    CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile="small").run("hi")
    assert "max_tokens" not in model.prompts[0].options.model_dump()
