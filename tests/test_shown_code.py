"""Code an answer shows but no tool wrote: the ready-made write_file call (agent/shown_code.py)."""

from __future__ import annotations

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.shown_code import merged_content, shown_definitions, suggested_write

PRICES = '''"""Prices."""
import math


def apply_discount(price, percent):
    """Return price reduced by percent."""
    return round(price * (1 + percent / 100), 2)


def tax(price):
    return price * 0.2
'''

FIXED = '''Here's the updated code:

```python
def apply_discount(price, percent):
    """Return price reduced by percent."""
    return round(price * (1 - percent / 100), 2)
```

No change is needed.'''


def make_agent(model, project, **kwargs):
    kwargs.setdefault("undo", False)
    kwargs.setdefault("sandbox", "off")
    kwargs.setdefault("profile", "small")
    kwargs.setdefault("nudge_unapplied", True)
    kwargs.setdefault("approve", True)
    return CodingAgent(model=model, root=str(project), **kwargs)


def test_definitions_come_from_python_blocks_that_parse_and_are_not_sketches():
    text = (
        "```python\nimport re\n\n@cache\ndef a(x):\n    return x\n\nprint(a(1))\n```\n"
        "```\ndef b(:\n```\n"
        "```python\ndef c():\n    ...\n\nclass D:\n    def m(self):\n        pass\n```\n"
        "```bash\npython a.py\n```"
    )
    shown, imports = shown_definitions(text)
    assert shown == {"a": "@cache\ndef a(x):\n    return x"}
    assert imports == ["import re"]


def test_merge_replaces_what_the_file_defines_and_adds_new_helpers_and_imports():
    shown = {"apply_discount": "def apply_discount(price, percent):\n    return _clamp(price - price * percent / 100)",
             "_clamp": "def _clamp(value):\n    return max(0.0, round(value, 2))"}
    merged = merged_content(PRICES, shown, ["import math", "from decimal import Decimal"])
    assert merged == '''"""Prices."""
import math
from decimal import Decimal


def apply_discount(price, percent):
    return _clamp(price - price * percent / 100)


def _clamp(value):
    return max(0.0, round(value, 2))


def tax(price):
    return price * 0.2
'''
    assert merged_content(PRICES, {"tax": "def tax(price):\n    return price * 0.2"}, []) is None  # same
    assert merged_content(PRICES, {"other": "def other():\n    return 1"}, []) is None            # not here
    assert merged_content("def f(:\n", {"f": "def f():\n    return 1"}, []) is None               # unparsable
    marker = {"tax": "def tax(price):\n    # ... rest of the code unchanged\n    return price"}
    assert merged_content(PRICES, marker, []) is None


def test_the_one_file_defining_the_names_gets_the_write(project):
    (project / "prices.py").write_text(PRICES)
    (project / "report.py").write_text("from prices import apply_discount\n\nprint(apply_discount(1, 2))\n")
    suggestion = suggested_write(FIXED, project)
    assert suggestion.path == "prices.py" and suggestion.names == ("apply_discount",)
    assert suggestion.content == PRICES.replace("(1 + percent", "(1 - percent")
    nudge = suggestion.nudge()
    assert 'write_file with path "prices.py"' in nudge and suggestion.content in nudge


def test_no_write_when_two_files_define_it_none_does_or_the_file_is_large(project):
    assert suggested_write(FIXED, project) is None                        # defined nowhere
    (project / "prices.py").write_text(PRICES)
    (project / "old_prices.py").write_text(PRICES)
    assert suggested_write(FIXED, project) is None                        # which one?
    (project / "old_prices.py").unlink()
    (project / "prices.py").write_text(PRICES + "\n# padding\n" * 700)
    assert suggested_write(FIXED, project) is None                        # too large to hand over
    (project / "prices.py").write_text(PRICES.replace("(1 + percent", "(1 - percent"))
    assert suggested_write(FIXED, project) is None                        # already there
    assert suggested_write("Use `apply_discount(1, 2)`.", project) is None


def test_a_definition_another_file_has_is_not_pasted_into_this_one(project):
    (project / "prices.py").write_text(PRICES)
    (project / "shop.py").write_text("def checkout(cart):\n    return sum(cart)\n")
    text = FIXED.replace("```\n\nNo", "\n\ndef tax(price):\n    return price * 0.25\n\n"
                         "def checkout(cart):\n    return 0\n```\n\nNo")
    suggestion = suggested_write(text, project)
    assert suggestion.path == "prices.py" and suggestion.names == ("apply_discount", "tax")
    assert "checkout" not in suggestion.content and "price * 0.25" in suggestion.content


def test_the_model_gets_the_call_and_only_its_own_call_writes(model, project):
    (project / "prices.py").write_text(PRICES)
    fixed = PRICES.replace("(1 + percent", "(1 - percent")
    model.script(FIXED, Step(tool_calls=[tool("write_file", path="prices.py", content=fixed)]), "Applied the fix.")
    notices = []
    result = make_agent(model, project, on_notice=notices.append).run("apply_discount adds instead of subtracting")
    nudge = model.prompts[1].prompt
    assert 'write_file with path "prices.py"' in nudge and fixed in nudge
    assert (project / "prices.py").read_text() == fixed
    assert result.text == "Applied the fix." and any("handing the model the write_file call" in n for n in notices)


def test_declining_leaves_the_file_as_it_was_and_the_same_write_is_not_offered_twice(model, project):
    (project / "prices.py").write_text(PRICES)
    model.script(FIXED, FIXED, "No change is needed.")
    result = make_agent(model, project).run("apply_discount adds instead of subtracting")
    assert (project / "prices.py").read_text() == PRICES
    assert result.model_calls == 2 and result.stop_reason == "done"
    assert "nobody will copy it over" in model.prompts[1].prompt


def test_a_second_different_version_is_offered_then_no_more(model, project):
    (project / "prices.py").write_text(PRICES)
    second = FIXED.replace("round(price", "round(1.0 * price")
    third = FIXED.replace("round(price", "round(2.0 * price")
    model.script(FIXED, second, third, "done")
    result = make_agent(model, project).run("apply_discount adds instead of subtracting")
    assert result.model_calls == 3
    assert "1.0 * price" in model.prompts[2].prompt
    assert (project / "prices.py").read_text() == PRICES


def test_the_nudge_ends_with_the_call_and_offers_no_words_to_copy(model, project):
    (project / "prices.py").write_text(PRICES)
    model.script(FIXED, "No change is needed.")
    make_agent(model, project).run("apply_discount adds instead of subtracting")
    nudge = model.prompts[1].prompt
    assert nudge.endswith("    return price * 0.2\n```]")  # the file's last line, then the end
    assert "no change is needed" not in nudge.lower()


EXAMPLE_REQUEST = "apply_discount adds instead of subtracting: apply_discount(200, 25) should return 150.0."


def test_after_a_failed_check_the_same_version_is_offered_once_more(model, project):
    (project / "prices.py").write_text(PRICES)
    fixed = PRICES.replace("(1 + percent", "(1 - percent")
    model.script(
        FIXED, "No change is needed.",  # the right fix shown, then declined
        FIXED,  # the check failed (250.0): the same fix shown again
        Step(tool_calls=[tool("write_file", path="prices.py", content=fixed)]), "Applied.",
    )
    result = make_agent(model, project).run(EXAMPLE_REQUEST)
    sent = [p.prompt for p in model.prompts]
    assert 'write_file with path "prices.py"' in sent[1]
    assert "returned 250.0" in sent[2]                       # the examples' failure
    assert 'write_file with path "prices.py"' in sent[3] and fixed in sent[3]  # offered again
    assert (project / "prices.py").read_text() == fixed
    assert result.text == "Applied." and "examples: all hold" in result.tool_calls[-1][1].output


def test_a_declined_version_is_offered_again_only_after_a_check_failed(model, project):
    (project / "prices.py").write_text(PRICES)
    model.script(FIXED, "No change is needed.", FIXED, "Still no change.")
    result = make_agent(model, project).run(EXAMPLE_REQUEST)
    offers = [p.prompt for p in model.prompts if 'write_file with path "prices.py"' in (p.prompt or "")]
    assert len(offers) == 2  # once before the check, once after it failed; never a third time
    assert (project / "prices.py").read_text() == PRICES and result.tests_passed is False


def test_other_profiles_and_interactive_runs_keep_the_generic_nudge_or_none(model, project):
    (project / "prices.py").write_text(PRICES)
    model.script(FIXED, "No change is needed.")
    make_agent(model, project, profile="default").run("apply_discount adds instead of subtracting")
    assert "no file in the project was changed" in model.prompts[1].prompt
    assert 'write_file with path "prices.py"' not in model.prompts[1].prompt
    model.script(FIXED)
    assert make_agent(model, project, nudge_unapplied=False).run("fix it").model_calls == 1


def test_a_sketch_gets_the_generic_nudge_not_a_write(model, project):
    (project / "prices.py").write_text(PRICES)
    model.script("```python\ndef apply_discount(price, percent):\n    ...\n```", "No change is needed.")
    make_agent(model, project).run("apply_discount adds instead of subtracting")
    assert "no file in the project was changed" in model.prompts[1].prompt
    assert (project / "prices.py").read_text() == PRICES


def test_no_change_is_needed_after_the_call_is_an_answer_not_an_echo(model, project):
    (project / "prices.py").write_text(PRICES)
    model.script(FIXED, "No change is needed.")
    result = make_agent(model, project).run("apply_discount adds instead of subtracting")
    assert result.model_calls == 2 and result.text == "No change is needed."
    assert (project / "prices.py").read_text() == PRICES
