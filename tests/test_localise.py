"""The localisation step of the small profile: a request that names no file but names a function
or class gets the files defining it attached (found by one search), so a small model starts from
the right code instead of a guessed file."""

from __future__ import annotations

import pytest

from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.mentions import defining_paths, named_symbols, request_text
from llm_coding_agent.tools import CodingTools


@pytest.fixture
def words_project(tmp_path):
    root = tmp_path / "proj"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "wordfreq.py").write_text(
        "def word_frequencies(text):\n    return {}\n\n\ndef top_words(text, n):\n    return word_frequencies(text)[:n]\n"
    )
    (root / "lib" / "other.py").write_text("# mentions top_words only in a comment\nx = 1\n")
    (root / "app.js").write_text("export function parseDuration(text) {\n  return 0;\n}\n")
    (root / "notes.md").write_text("def top_words is documented here too\n")
    return root


def agent(root, **kwargs) -> CodingAgent:
    return CodingAgent(model="scripted", root=str(root), approve=True, undo=False, sandbox="off", **kwargs)


def test_named_symbols_are_the_words_that_look_like_code():
    text = ("top_words crashes when TodoList.add gets parseDuration's result; apply(x) fails. "
            "Please fix It, The Code and __init__ now")
    assert named_symbols(text) == ["top_words", "add", "parseDuration", "apply", "__init__"]
    assert named_symbols("Please fix the bug in the report, it is Broken.") == []


def test_defining_paths_finds_definitions_not_mentions(words_project):
    tools = CodingTools(str(words_project), sandbox="off")
    assert defining_paths("top_words returns nothing useful", tools.search_files) == ["lib/wordfreq.py"]
    assert defining_paths("parseDuration('1h') is 0", tools.search_files) == ["app.js"]
    assert defining_paths("nothing_defines_this breaks", tools.search_files) == []
    assert defining_paths("no code words here", tools.search_files) == []


def test_a_small_model_gets_the_defining_file_with_a_request_that_names_none(model, words_project):
    model.script("Found it.")
    notices = []
    agent(words_project, profile="small", on_notice=notices.append).run("top_words crashes with TypeError, fix it")
    sent = model.prompts[0].prompt
    assert '<file path="lib/wordfreq.py">' in sent and "def top_words(text, n):" in sent
    assert "other.py" not in sent and "notes.md" not in sent
    assert "files that define what it names" in sent
    assert any("lib/wordfreq.py (they define what the request names)" in n for n in notices)
    # The logged request still reads as the user's own words.
    assert request_text(sent) == "top_words crashes with TypeError, fix it"


def test_a_named_file_wins_over_the_search(model, words_project):
    model.script("ok")
    agent(words_project, profile="small").run("top_words in lib/other.py is wrong")
    sent = model.prompts[0].prompt
    assert '<file path="lib/other.py">' in sent and "lib/wordfreq.py" not in sent


def test_the_default_profile_does_not_search(model, words_project):
    model.script("ok")
    agent(words_project, profile="default").run("top_words crashes with TypeError, fix it")
    assert "<file" not in model.prompts[0].prompt


def test_attachment_can_be_turned_off(model, words_project):
    model.script("ok")
    agent(words_project, profile="small", attach_files=False).run("top_words crashes, fix it")
    assert "<file" not in model.prompts[0].prompt
