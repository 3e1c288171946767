"""Model profiles: small models get a short prompt, one-sentence tools and a next-step line; every
other model is talked to exactly as before."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import Step, tool
from llm.cli import cli

from llm_coding_agent import CodingAgent, CodingTools
from llm_coding_agent.agent.profiles import NEXT_STEP_HINT, SMALL_TOOL_DESCRIPTIONS, profile_for


@pytest.mark.parametrize(
    "model_id, expected",
    [
        ("code-local", "small"),
        ("local-qwen", "small"),
        ("qwen2.5-coder:1.5b", "small"),
        ("ollama/llama3.2:3b", "small"),
        ("Qwen2.5-Coder-1.5B-Instruct", "small"),
        ("phi-3.8b", "small"),
        ("gpt-4.1-mini", "default"),
        ("gpt-4o", "default"),
        ("claude-sonnet-4.5", "default"),
        ("gemini-2.5-flash", "default"),
        ("qwen2.5-coder:32b", "default"),
        ("llama3.1:8b", "default"),
        ("deepseek-v3.1", "default"),
        ("scripted", "default"),
    ],
)
def test_auto_profile_by_model_id(model_id, expected):
    assert profile_for(model_id).name == expected


def test_a_setting_overrides_the_model_id():
    assert profile_for("gpt-4o", "small").name == "small"
    assert profile_for("code-local", "default").name == "default"
    with pytest.raises(ValueError, match="unknown profile 'tiny'"):
        profile_for("gpt-4o", "tiny")


def _descriptions(prompt) -> dict[str, str]:
    return {t.name.split("_", 1)[1]: t.description for t in prompt.tools if t.name.startswith("CodingTools_")}


def test_default_profile_sends_the_full_prompt_tools_and_no_hint(model, project):
    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), "It subtracts.")
    CodingAgent(model="scripted", root=str(project), approve=True, undo=False).run("what does app.py do?")
    first, second = model.prompts
    assert "Explore before changing anything" in first.system
    assert _descriptions(first)["edit_file"] == CodingTools.edit_file.__doc__
    assert NEXT_STEP_HINT not in (second.prompt or "")


def test_small_profile_changes_only_what_the_model_is_told(model, project):
    model.script(Step(tool_calls=[tool("read_file", path="app.py")]), "It subtracts.")
    agent = CodingAgent(model="scripted", root=str(project), approve=True, undo=False, profile="small")
    result = agent.run("what does app.py do?")
    first, second = model.prompts
    assert "Use one tool at a time" in first.system and len(first.system) < 1200
    assert "Top level of the project: README.md, app.py" in first.system
    # Every coding tool but edit_file (small models change files with whole-file writes).
    assert _descriptions(first) == {k: v for k, v in SMALL_TOOL_DESCRIPTIONS.items() if k != "edit_file"}
    # The tools themselves are unchanged: the call ran and its result went back.
    assert "return a - b" in result.tool_calls[0][1].output
    assert second.prompt == NEXT_STEP_HINT
    assert result.text == "It subtracts."


def test_switching_models_switches_the_profile(model, project):
    agent = CodingAgent(model="scripted", root=str(project), approve=True, undo=False)
    assert agent.profile.name == "default"
    agent.config.profile = "small"
    agent.set_model("scripted")
    assert agent.profile.name == "small"
    assert {t.description for t in agent.tools} >= {v for k, v in SMALL_TOOL_DESCRIPTIONS.items() if k != "edit_file"}
    agent.config.profile = "auto"
    agent.set_model("scripted")
    assert agent.tools[0].description == getattr(CodingTools, agent.tools[0].name.split("_", 1)[1]).__doc__


def test_profile_option_and_user_setting(model, project, user_dir):
    model.script("done")
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "--profile", "small", "-p", "hi"])
    assert result.exit_code == 0, result.output
    assert "Use one tool at a time" in model.prompts[-1].system
    settings = user_dir / "llm-code" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"profile": "small"}))
    model.script("done")
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "-p", "hi"])
    assert result.exit_code == 0, result.output
    assert "Use one tool at a time" in model.prompts[-1].system
    settings.write_text(json.dumps({"profile": "tiny"}))
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "-p", "hi"])
    assert result.exit_code == 1
    assert "'profile' must be one of auto, default, small" in result.stderr


def test_a_project_profile_counts_only_once_trusted(model, project):
    (project / ".llm-code").mkdir()
    (project / ".llm-code" / "settings.json").write_text(json.dumps({"profile": "small"}))
    model.script("done")
    # Headless: nobody to ask, so the untrusted file changes nothing.
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "-p", "hi"])
    assert result.exit_code == 0, result.output
    assert "Explore before changing anything" in model.prompts[-1].system
    from llm_coding_agent.safety.settings import project_settings_path, trust_file

    trust_file(project_settings_path(project))
    model.script("done")
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "-p", "hi"])
    assert "Use one tool at a time" in model.prompts[-1].system


def test_after_a_failed_call_the_hint_asks_for_a_corrected_call_not_an_answer(model, project):
    from llm_coding_agent.agent.profiles import ERROR_STEP_HINT

    model.script(
        Step(tool_calls=[tool("edit_file", path="app.py", old_string="not there", new_string="x")]),
        Step(tool_calls=[tool("read_file", path="app.py")]),
        "It subtracts.",
    )
    agent = CodingAgent(model="scripted", root=str(project), approve=True, undo=False, profile="small")
    agent.run("fix app.py")
    assert model.prompts[1].prompt == ERROR_STEP_HINT
    assert model.prompts[2].prompt == NEXT_STEP_HINT


def test_the_hint_after_a_change_asks_for_the_rest_of_the_request(model, project):
    from llm_coding_agent.agent.profiles import CHANGED_STEP_HINT

    model.script(
        Step(tool_calls=[tool("write_file", path="app.py", content="def add(a, b):\n    return a + b\n")]),
        Step(tool_calls=[tool("read_file", path="app.py")]),
        "Fixed.",
    )
    agent = CodingAgent(model="scripted", root=str(project), approve=True, undo=False, profile="small")
    agent.run("fix app.py")
    assert model.prompts[1].prompt == CHANGED_STEP_HINT
    assert model.prompts[2].prompt == NEXT_STEP_HINT


def test_a_change_whose_check_finds_undefined_names_asks_for_a_fix(model, project):
    from llm_coding_agent.agent.profiles import CHANGED_STEP_HINT, CHECK_STEP_HINT

    model.script(
        Step(tool_calls=[tool("write_file", path="app.py", content="def add(a, b):\n    return a + c\n")]),
        Step(tool_calls=[tool("write_file", path="app.py", content="def add(a, b):\n    return a + b\n")]),
        "Fixed.",
    )
    agent = CodingAgent(model="scripted", root=str(project), approve=True, undo=False, profile="small")
    agent.run("fix app.py")
    assert "undefined name 'c'" in model.prompts[1].tool_results[0].output
    assert model.prompts[1].prompt == CHECK_STEP_HINT
    assert model.prompts[2].prompt == CHANGED_STEP_HINT
    assert (project / "app.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_the_default_profile_gets_none_of_the_hints(model, project):
    from llm_coding_agent.agent.profiles import STEP_HINTS

    model.script(Step(tool_calls=[tool("edit_file", path="app.py", old_string="a - b", new_string="a + c")]), "ok")
    CodingAgent(model="scripted", root=str(project), approve=True, undo=False).run("fix app.py")
    assert all(hint not in (model.prompts[1].prompt or "") for hint in STEP_HINTS)
