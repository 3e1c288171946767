"""Shared fixtures: an isolated llm user directory and a scripted model registered through llm's
plugin hook, the way llm's own test-suite does it."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import llm
import pytest
from llm.plugins import pm

# Stops plugins installed in the environment from loading during tests (llm's own convention).
sys._called_from_test = True  # type: ignore[attr-defined]


@dataclass
class Step:
    """One scripted model response: text chunks and/or tool calls, and usage."""

    text: str = ""
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)
    usage: tuple[int, int] | None = (10, 5)
    raise_exc: BaseException | None = None
    raw_tool_args: list[tuple[str, str]] = field(default_factory=list)


class ScriptedModel(llm.Model):
    """A model that replays :class:`Step` objects, one per response, and records each prompt."""

    model_id = "scripted"
    supports_tools = True
    can_stream = True

    def __init__(self):
        self.steps: list[Step] = []
        self.prompts: list[llm.Prompt] = []

    def script(self, *steps: Step | str) -> "ScriptedModel":
        self.steps.extend(Step(text=s) if isinstance(s, str) else s for s in steps)
        return self

    def execute(self, prompt, stream, response, conversation):
        self.prompts.append(prompt)
        step = self.steps.pop(0) if self.steps else Step(text="(script exhausted)")
        if step.text:
            # Several chunks, so streaming is exercised.
            for i in range(0, len(step.text), 7):
                yield step.text[i : i + 7]
        if step.raise_exc is not None:
            raise step.raise_exc
        for name, arguments in step.tool_calls:
            response.add_tool_call(llm.ToolCall(name=name, arguments=arguments))
        if step.raw_tool_args:
            from llm.parts import StreamEvent

            for i, (name, raw) in enumerate(step.raw_tool_args):
                call_id = f"call_raw_{i}"
                yield StreamEvent(type="tool_call_name", chunk=name, tool_call_id=call_id)
                yield StreamEvent(type="tool_call_args", chunk=raw, tool_call_id=call_id)
            # What llm's OpenAI plugin does with malformed arguments: json.loads raises.
            json.loads(step.raw_tool_args[0][1])
        if step.usage:
            response.set_usage(input=step.usage[0], output=step.usage[1])


class NoToolsModel(llm.Model):
    model_id = "no-tools"
    supports_tools = False

    def execute(self, prompt, stream, response, conversation):
        yield "hi"


class KeyedModel(llm.KeyModel):
    model_id = "keyed"
    needs_key = "keyedprovider"
    key_env_var = "KEYED_API_KEY"
    supports_tools = True

    def execute(self, prompt, stream, response, conversation, key):
        yield "ok"


SCRIPTED = ScriptedModel()


class _Plugin:
    __name__ = "ScriptedModelPlugin"

    @llm.hookimpl
    def register_models(self, register):
        register(SCRIPTED)
        register(NoToolsModel())
        register(KeyedModel())


#: The real weights of the built-in model, when the environment names them (CI: serve.sh's file).
REAL_LOCAL_WEIGHTS = os.environ.get("LLM_CODE_LOCAL_MODEL")


@pytest.fixture(autouse=True)
def user_dir(tmp_path_factory, monkeypatch):
    path = tmp_path_factory.mktemp("llm-user")
    monkeypatch.setenv("LLM_USER_PATH", str(path))
    # The user's own ~/.claude (skills, commands, settings) must not reach a test's agent.
    home = path / "home"
    home.mkdir()
    # ...and git, which reads ~/.gitconfig, still knows who commits in the tests that commit.
    (home / ".gitconfig").write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KEYED_API_KEY", raising=False)
    # The built-in model never fetches 1 GB of weights in a test, and sees no weights unless a
    # test gives them.
    monkeypatch.delenv("LLM_CODE_LOCAL_MODEL", raising=False)
    monkeypatch.setenv("LLM_CODE_LOCAL_FETCH", "0")
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL_DIR", str(path / "models"))
    return path


@pytest.fixture(autouse=True)
def _register_plugins():
    from llm.cli import cli

    from llm_coding_agent import plugin

    pm.register(_Plugin(), name="scripted-model-plugin")
    if not pm.is_registered(plugin):
        pm.register(plugin, name="llm_coding_agent")
    if "code" not in cli.commands:
        # llm.cli ran register_commands at import, before this plugin was registered.
        plugin.register_commands(cli)
    try:
        yield
    finally:
        pm.unregister(name="scripted-model-plugin")


@pytest.fixture
def model() -> ScriptedModel:
    SCRIPTED.steps = []
    SCRIPTED.prompts = []
    return SCRIPTED


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "README.md").write_text("# Demo\n")
    (root / "app.py").write_text("def add(a, b):\n    return a - b\n")
    return root


def tool(name: str, **arguments: Any) -> tuple[str, dict]:
    """A scripted call to one of CodingTools' tools."""
    return (f"CodingTools_{name}", arguments)
