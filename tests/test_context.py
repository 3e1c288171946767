"""Context management: budgets, compaction that keeps long sessions inside the window, hard limits."""

from __future__ import annotations

import llm
import pytest
import sqlite_utils
from llm.migrations import migrate
from llm.parts import Message, TextPart, ToolCallPart, ToolResultPart

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.agent.context import (
    SUMMARY_INSTRUCTIONS,
    ContextBudget,
    context_window,
    estimate_tokens,
)


class LongSessionModel(llm.Model):
    """Each user turn: one read of a big file, then a short answer. Answers summary requests."""

    model_id = "long-session"
    supports_tools = True
    can_stream = True

    def __init__(self):
        self.request_tokens: list[int] = []
        self.summaries = 0
        self.last_messages = None

    def execute(self, prompt, stream, response, conversation):
        text = prompt.prompt or ""
        if text.startswith(SUMMARY_INSTRUCTIONS[:40]):
            self.summaries += 1
            yield "## Task\nRead the big files one by one.\n## Remaining\nKeep going."
            return
        messages = prompt.messages
        self.last_messages = messages
        overhead = sum(len(t.name) + len(t.description or "") + len(str(t.input_schema)) for t in prompt.tools) // 4
        self.request_tokens.append(estimate_tokens(messages) + overhead)
        last = messages[-1]
        if last.role == "user":
            n = sum(1 for m in messages if m.role == "user")
            response.add_tool_call(llm.ToolCall(name="CodingTools_read_file", arguments={"path": f"big{n % 5}.txt"}))
            yield "Reading."
        else:
            yield "Read it; the file has many lines."


def big_project(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    for i in range(5):
        (root / f"big{i}.txt").write_text("".join(f"file {i} line {j}: " + "lorem ipsum " * 8 + "\n" for j in range(400)))
    return root


def test_200_turns_stay_under_8k_budget(tmp_path):
    model = LongSessionModel()
    root = big_project(tmp_path)
    notices = []
    agent = CodingAgent(model=model, root=str(root), approve=True, undo=False, sandbox="off",
                        context_window=8000, on_notice=notices.append)
    for turn in range(200):
        result = agent.run(f"turn {turn}: read the next file and tell me about it")
        assert result.stop_reason == "done"
    assert len(model.request_tokens) == 400
    assert max(model.request_tokens) <= 8000, max(model.request_tokens)
    assert model.summaries >= 1
    assert any("compacted context" in n for n in notices)
    texts = [p.text for m in model.last_messages for p in m.parts if isinstance(p, TextPart)]
    # The latest request, the summary and the system prompt are all still there.
    assert any("turn 199: read the next file" in t for t in texts)
    assert any(t.startswith("[Summary of the earlier part") for t in texts)
    assert model.last_messages[0].role == "system"
    assert agent.context.compactions and agent.context.compactions[-1].saved > 0


def test_calls_and_results_never_split():
    budget = ContextBudget(window=3000, keep_rounds=2)
    messages = [Message(role="system", parts=[TextPart(text="sys")]),
                Message(role="user", parts=[TextPart(text="do it")])]
    for i in range(30):
        messages.append(Message(role="assistant", parts=[ToolCallPart(name="t", arguments={"i": i}, tool_call_id=f"c{i}")]))
        messages.append(Message(role="tool", parts=[ToolResultPart(name="t", output="x" * 2000, tool_call_id=f"c{i}")]))
    compacted, report = budget.compact(messages, 0, lambda text: "summary")
    assert report is not None and budget.fits(compacted)
    call_ids = {p.tool_call_id for m in compacted for p in m.parts if isinstance(p, ToolCallPart)}
    result_ids = {p.tool_call_id for m in compacted for p in m.parts if isinstance(p, ToolResultPart)}
    assert call_ids == result_ids
    roles = [m.role for m in compacted]
    assert roles[0] == "system" and roles[1] == "user"
    for i, role in enumerate(roles):
        if role == "tool":
            assert roles[i - 1] == "assistant"


def test_old_tool_results_shortened_first_with_recovery_hint():
    budget = ContextBudget(window=6000, keep_rounds=1)
    messages = [Message(role="system", parts=[TextPart(text="sys")]), Message(role="user", parts=[TextPart(text="go")])]
    for i in range(4):
        messages.append(Message(role="assistant", parts=[ToolCallPart(name="CodingTools_read_file", arguments={"path": f"f{i}"}, tool_call_id=f"c{i}")]))
        messages.append(Message(role="tool", parts=[ToolResultPart(name="CodingTools_read_file", output="y" * 4000, tool_call_id=f"c{i}")]))
    called = []
    compacted, report = budget.compact(messages, 0, lambda t: called.append(t) or "s")
    assert report.results_shortened == 3 and called == []  # no summary needed
    old = compacted[3].parts[0].output
    assert 'call CodingTools_read_file with {"path": "f0"} again' in old
    assert compacted[-1].parts[0].output == "y" * 4000  # the latest round is verbatim


def test_known_windows():
    assert context_window("local-qwen") == 16_384
    assert context_window("gpt-4o-mini") == 128_000
    assert context_window("claude-3-5-sonnet-latest") == 200_000
    assert context_window("some-unknown-model") == 16_384
    assert context_window("gpt-4o", override=5000) == 5000


def test_reported_usage_calibrates(model, project):
    model.script(Step(text="hi", usage=(5000, 5)))
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off")
    agent.run("hello")
    count, how = agent.context_tokens()
    assert (count, how) == (5000, "reported")
    assert agent.context.ratio > 1.0


def test_compact_on_demand_and_resume_does_not_regrow(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    (project / "long.txt").write_text("z" * 20000)
    steps = []
    for i in range(4):
        steps += [Step(tool_calls=[tool("read_file", path="long.txt")]), Step(text=f"answer {i}")]
    model.script(*steps)
    agent = CodingAgent(model=model, root=str(project), approve=True, undo=False, sandbox="off", db=db)
    for i in range(4):
        agent.run(f"question {i}")
    before = estimate_tokens(agent.history())
    model.script("## Task\nquestions about long.txt", "after compaction")
    report = agent.compact("the questions")
    assert report is not None and report.tokens_after < report.tokens_before
    assert "the questions" in model.prompts[-1].prompt  # focus passed to the summariser
    agent.run("question 5")
    sent = model.prompts[-1].messages
    assert estimate_tokens(sent) < before / 2
    # The compacted history is what was logged, so a reload continues from it.
    reloaded = CodingAgent.load(agent.conversation_id, db=db, model=model, undo=False, sandbox="off")
    assert estimate_tokens(reloaded.history()) < before / 2
    assert any("question 5" in getattr(p, "text", "") for m in reloaded.history() for p in m.parts)


def test_max_turns_budget(model, project):
    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(5)])
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", max_turns=2)
    result = agent.run("go")
    assert result.stop_reason == "max_turns" and result.model_calls == 2


def test_max_tokens_budget_with_warning(model, project):
    notices = []
    model.script(*[Step(tool_calls=[tool("list_files")], usage=(300, 100)) for _ in range(5)])
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", max_tokens=1000,
                        on_notice=notices.append)
    result = agent.run("go")
    assert result.stop_reason == "max_tokens"
    assert any("80%" in n for n in notices)
    again = agent.run("more")
    assert again.stop_reason == "max_tokens" and again.model_calls == 0


def test_cli_compact_and_tokens(model, project):
    from click.testing import CliRunner
    from llm.cli import cli

    (project / "long.txt").write_text("q" * 8000)
    model.script(Step(tool_calls=[tool("read_file", path="long.txt")], usage=(900, 10)), Step(text="ok", usage=(3000, 10)),
                 "## Task\nsummary")
    result = CliRunner().invoke(
        cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off"],
        input="read long\n!tokens\n!compact\n!tokens\n!quit\n",
    )
    assert result.exit_code == 0, result.output
    assert "context: 3,000 tokens (reported)" in result.output
    assert "compacted context" in result.output
    assert "compactions: 1" in result.output


def test_cli_max_turns_exit_status(model, project):
    from click.testing import CliRunner
    from llm.cli import cli

    model.script(*[Step(tool_calls=[tool("list_files")]) for _ in range(3)])
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "--sandbox", "off",
                                      "-p", "go", "--max-turns", "1"])
    assert result.exit_code == 3
