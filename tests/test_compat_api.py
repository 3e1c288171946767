"""The published llm-coding-agent 0.1a0 API, as its users' code relies on it: import paths,
``CodingAgent``'s positional arguments, ``resume()``'s ``ValueError``, and ``chain_limit``."""

from __future__ import annotations

import pytest

from conftest import Step, tool
from llm_coding_agent import AgentStateError, CodingAgent


def test_old_import_paths_still_work():
    from llm_coding_agent.agent import AgentResult, CodingAgent as FromAgent
    from llm_coding_agent.tools import CodingTools as FromTools

    import llm_coding_agent

    assert FromAgent is llm_coding_agent.CodingAgent
    assert FromTools is llm_coding_agent.CodingTools
    assert AgentResult is llm_coding_agent.AgentResult


def test_positional_arguments_are_those_of_0_1a0(model, project):
    # 0.1a0: CodingAgent(model, root, approve, chain_limit, system, key, options, disabled_tools,
    #                    on_text, on_tool, conversation, db)
    seen_text, seen_tools = [], []
    model.script(Step(tool_calls=[tool("list_files")]), "done")
    agent = CodingAgent(
        model, str(project), True, 5, "be brief", None, {}, ["execute_command"],
        seen_text.append, lambda call, result: seen_tools.append(call.name), None, None,
        undo=False, sandbox="off",
    )
    assert agent.chain_limit == 5 and agent.config.system == "be brief"
    assert "CodingTools_execute_command" not in {t.name for t in agent.tools}
    result = agent.run("list")
    assert result.text == "done" and "".join(seen_text).endswith("done")
    assert seen_tools == ["CodingTools_list_files"]


def test_resume_with_nothing_paused_raises_a_value_error(model, project):
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off")
    with pytest.raises(ValueError):
        agent.resume()
    with pytest.raises(AgentStateError):
        agent.resume()
    assert issubclass(AgentStateError, ValueError)


def test_chain_limit_one_allows_one_round_then_the_answer(model, project):
    model.script(Step(tool_calls=[tool("list_files")]), "one round was enough")
    agent = CodingAgent(model=model, root=str(project), approve=True, chain_limit=1, undo=False, sandbox="off")
    result = agent.run("list the files")
    assert not result.hit_limit and result.stop_reason == "done"
    assert result.text == "one round was enough" and len(result.tool_calls) == 1


def test_chain_limit_stops_when_the_model_wants_more_after_the_last_round(model, project):
    model.script(Step(tool_calls=[tool("list_files")]), Step(tool_calls=[tool("list_files")]), "unused")
    agent = CodingAgent(model=model, root=str(project), approve=True, chain_limit=1, undo=False, sandbox="off")
    result = agent.run("list the files")
    assert result.hit_limit and result.stop_reason == "limit" and len(result.tool_calls) == 1


def test_unknown_keyword_argument_is_a_type_error(model, project):
    with pytest.raises(TypeError, match="no_such_option"):
        CodingAgent(model=model, root=str(project), no_such_option=1)
