"""The request's own examples as the check of a project with no tests (small profile): extraction
of ``call -> expected`` pairs, and the run that sends a failing example back to the model."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import Step, tool

from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.examples import EXAMPLES_FAIL_PROMPT, request_examples
from llm_coding_agent.agent.profiles import PROFILES
from llm_coding_agent.agent.verify import MAX_TEST_CHECKS, VERIFY_CALL_ID


def pairs(text):
    return [(e.call, e.expected) for e in request_examples(text)]


@pytest.mark.parametrize("text, expected", [
    ("apply_discount(200, 25) returns 250.0 but a 25% discount on 200 should give 150.0. Please fix it.",
     [("apply_discount(200, 25)", "150.0")]),
    ('grade(90) returns "B", but a score of 90 should be an "A".\nThe others too (80 should be "B").',
     [("grade(90)", '"A"')]),
    ("paginate() skips a page: paginate(list(range(10)), 1, 3) should return [0, 1, 2], but it returns [3, 4, 5].",
     [("paginate(list(range(10)), 1, 3)", "[0, 1, 2]")]),
    ('For example greet("Bo", greeting="Hi", shout=True) returns "HI, BO!".',
     [('greet("Bo", greeting="Hi", shout=True)', '"HI, BO!"')]),
    ('```\n>>> top_words("the cat", 1)\nKeyError: \'the\'\n```\n\nIt should return [("the", 1)]. Fix it?',
     [('top_words("the cat", 1)', '[("the", 1)]')]),
])
def test_the_examples_a_request_states(text, expected):
    assert pairs(text) == expected


@pytest.mark.parametrize("text", [
    "days_in_month(2024, 2) returns 28, but 2024 is a leap year.",  # the bug, no expected value
    "count(text) should return 3 for the sample.",  # an argument that is not a literal
    "What does paginate([1, 2], 1, 1) return?",
    "os.remove('x') should return None",  # not a plain function call
])
def test_no_example_where_the_request_states_none(text):
    assert pairs(text) == []


@pytest.fixture
def pager(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pager.py").write_text(
        "def paginate(items, page, per_page):\n    start = page * per_page\n    return items[start:start + per_page]\n"
    )
    return root


REQUEST = "paginate() skips the first page: paginate(list(range(10)), 1, 3) should return [0, 1, 2]."


def agent(root, **kwargs):
    # The small profile with edit_file offered: the scripted fixes below are edits.
    kwargs.setdefault("profile", dataclasses.replace(PROFILES["small"], offers_edit_file=True))
    return CodingAgent(model="scripted", root=str(root), approve=True, undo=False, sandbox="off", **kwargs)


def edit(old, new):
    return Step(tool_calls=[tool("edit_file", path="pager.py", old_string=old, new_string=new)])


def test_a_wrong_fix_is_sent_back_with_what_the_call_returned(model, pager):
    model.script(
        edit("start = page * per_page", "start = page * per_page - 1"), "Fixed.",
        edit("start = page * per_page - 1", "start = (page - 1) * per_page"), "Fixed now.",
    )
    result = agent(pager).run(REQUEST)
    sent = model.prompts[2].prompt
    assert sent.startswith(EXAMPLES_FAIL_PROMPT)
    assert "paginate(list(range(10)), 1, 3) returned [2, 3, 4]; the request expects [0, 1, 2]" in sent
    assert "import doctest" not in sent  # the check's script is not shown to the model
    assert result.text == "Fixed now."
    assert "(page - 1) * per_page" in (pager / "pager.py").read_text()
    assert len(model.prompts) == 4  # the fix after the failed check was checked too, and holds
    checks = [r.output for c, r in result.tool_calls if c.tool_call_id == VERIFY_CALL_ID]
    assert len(checks) == 2 and "examples: FAILED" in checks[0] and "examples: all hold" in checks[1]
    assert result.tests_passed is None  # an example that holds is not a test suite that passed


def test_a_second_wrong_fix_is_sent_back_and_a_third_change_is_not_checked(model, pager):
    model.script(
        edit("start = page * per_page", "start = page * per_page - 1"), "Fixed.",
        edit("start = page * per_page - 1", "start = page * per_page - 2"), "Fixed now.",
        edit("start = page * per_page - 2", "start = (page - 1) * per_page"), "Surely fixed.",
    )
    result = agent(pager).run(REQUEST)
    assert model.prompts[2].prompt.startswith(EXAMPLES_FAIL_PROMPT)
    assert model.prompts[4].prompt.startswith(EXAMPLES_FAIL_PROMPT)
    assert "returned [1, 2, 3]" in model.prompts[4].prompt
    assert len(model.prompts) == 6 and result.text == "Surely fixed."
    assert [c.tool_call_id for c, _ in result.tool_calls].count(VERIFY_CALL_ID) == MAX_TEST_CHECKS == 2
    assert result.tests_passed is None  # changed after the last check: out of date, not "passed"


def test_no_second_check_without_a_change_after_the_first(model, pager):
    model.script(edit("start = page * per_page", "start = page * per_page - 1"), "Fixed.", "It is fixed.")
    result = agent(pager).run(REQUEST)
    assert [c.tool_call_id for c, _ in result.tool_calls].count(VERIFY_CALL_ID) == 1
    assert result.tests_passed is False


def test_a_run_that_ends_with_its_examples_failing_reports_tests_failed(model, pager):
    model.script(edit("start = page * per_page", "start = page * per_page - 1"), "Fixed.", "It is fixed.")
    result = agent(pager).run(REQUEST)
    assert model.prompts[2].prompt.startswith(EXAMPLES_FAIL_PROMPT)
    assert result.text == "It is fixed." and result.tests_passed is False


def test_a_right_fix_is_checked_and_nothing_is_sent(model, pager):
    model.script(edit("start = page * per_page", "start = (page - 1) * per_page"), "Fixed.")
    result = agent(pager).run(REQUEST)
    assert len(model.prompts) == 2 and result.text == "Fixed."
    check = result.tool_calls[-1][1].output
    assert "== [0, 1, 2]: ok" in check and "examples: all hold" in check
    assert result.tests_passed is None  # an example that holds is not a test suite that passed


def test_no_change_is_needed_is_checked_against_the_example(model, pager):
    model.script("No change is needed.", edit("start = page * per_page", "start = (page - 1) * per_page"), "Done.")
    agent(pager).run(REQUEST)
    assert model.prompts[1].prompt.startswith(EXAMPLES_FAIL_PROMPT)
    assert "returned [3, 4, 5]" in model.prompts[1].prompt


def test_a_question_without_an_expected_value_runs_nothing(model, pager):
    model.script("It returns items from page * per_page.")
    result = agent(pager).run("What does paginate(list(range(10)), 1, 3) return?")
    assert len(model.prompts) == 1 and result.tool_calls == []


def test_doctests_of_the_named_function_check_an_implementation(model, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "text_utils.py").write_text(
        'def slugify(text):\n    """A slug.\n\n    >>> slugify("Hello, World!")\n    \'hello-world\'\n    """\n'
        "    raise NotImplementedError\n"
    )
    model.script(
        Step(tool_calls=[tool("edit_file", path="text_utils.py", old_string="raise NotImplementedError",
                              new_string="return text.lower()")]),
        "Implemented.", "ok",
    )
    agent(root).run("Implement slugify() in text_utils.py according to its docstring.")
    assert model.prompts[2].prompt.startswith(EXAMPLES_FAIL_PROMPT)
    assert "'hello, world!'" in model.prompts[2].prompt and "1 failed" in model.prompts[2].prompt.replace("***Test Failed*** 1 failures.", "1 failed")


def test_the_default_profile_checks_nothing(model, pager):
    model.script(edit("start = page * per_page", "start = page * per_page - 1"), "Fixed.")
    agent(pager, profile="default").run(REQUEST)
    assert len(model.prompts) == 2



def test_an_answer_that_echoes_the_failure_it_was_sent_is_sent_back(model, pager):
    echo = EXAMPLES_FAIL_PROMPT + "\npaginate(list(range(10)), 1, 3) returned [2, 3, 4]; the request expects [0, 1, 2]"
    model.script(edit("start = page * per_page", "start = page * per_page - 1"), "Fixed.", echo, "I could not fix it.")
    result = agent(pager).run(REQUEST)
    assert model.prompts[2].prompt.startswith(EXAMPLES_FAIL_PROMPT)
    assert "your reply repeated the instructions" in model.prompts[3].prompt
    assert result.text == "I could not fix it." and len(model.prompts) == 4
