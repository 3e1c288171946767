"""The built-in model ``code-local``: the llm.Model adapter over llama.cpp's chat handler, and how
``llm code`` chooses it. llama.cpp itself is replaced by a runtime that replays chunks shaped
exactly like xllamacpp's (recorded from the real library); tests/test_localmodel.py runs the real
weights when they are available."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import llm
import pytest
from click.testing import CliRunner
from llm.cli import cli

from llm_coding_agent import CodingAgent
from llm_coding_agent.local import model as local_model
from llm_coding_agent.local import runtime as local_runtime
from llm_coding_agent.local.model import LocalModel, build_messages
from llm_coding_agent.local.runtime import RuntimeSettings


def _chunk(delta=None, finish=None, usage=None):
    chunk = {"choices": [], "object": "chat.completion.chunk", "id": "chatcmpl-x", "created": 1}
    if delta is not None or finish is not None:
        chunk["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage:
        chunk["usage"] = usage
        chunk["timings"] = {"prompt_per_second": 70.0, "predicted_per_second": 14.0}
    return chunk


def text_reply(text: str, prompt_tokens=40, completion_tokens=7, cached=0) -> list[dict]:
    chunks = [_chunk({"role": "assistant", "content": None})]
    chunks += [_chunk({"content": text[i : i + 5]}) for i in range(0, len(text), 5)]
    chunks.append(_chunk({}, finish="stop"))
    chunks.append(_chunk(usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                "total_tokens": prompt_tokens + completion_tokens,
                                "prompt_tokens_details": {"cached_tokens": cached}}))
    return chunks


def call_reply(name: str, arguments: str, call_id="Jx6xS809") -> list[dict]:
    """A tool call streamed as llama.cpp does: name and id first, then argument fragments."""
    chunks = [_chunk({"role": "assistant", "content": None})]
    chunks.append(_chunk({"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                          "function": {"name": name, "arguments": arguments[:3]}}]}))
    for i in range(3, len(arguments), 4):
        chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[i : i + 4]}}]}))
    chunks.append(_chunk({}, finish="tool_calls"))
    chunks.append(_chunk(usage={"prompt_tokens": 160, "completion_tokens": 22, "total_tokens": 182}))
    return chunks


class FakeRuntime:
    """Replays scripted replies; records every request it was sent."""

    def __init__(self, settings: RuntimeSettings):
        self.settings = settings
        self.replies: list[list[dict]] = []
        self.requests: list[dict] = []

    def stream(self, request):
        self.requests.append(request)
        yield from self.replies.pop(0)

    def complete(self, request):
        self.requests.append(request)
        chunks = self.replies.pop(0)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        usage = next(c["usage"] for c in chunks if "usage" in c)
        return {"choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}], "usage": usage}


@pytest.fixture
def weights_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL", str(path))
    return path


@pytest.fixture
def runtime(weights_file, monkeypatch) -> FakeRuntime:
    fake = FakeRuntime(RuntimeSettings(model_path=str(weights_file)))
    loads = []

    def runtime_for(settings):
        loads.append(settings)
        fake.settings = settings
        return fake

    monkeypatch.setattr(local_model, "runtime_for", runtime_for)
    monkeypatch.setattr(local_runtime, "runtime_for", runtime_for)
    monkeypatch.setattr(local_model, "runtime_loaded", lambda settings: settings in loads)
    fake.loads = loads
    return fake


def test_the_plugin_registers_code_local():
    model = llm.get_model("code-local")
    assert isinstance(model, LocalModel)
    assert model.supports_tools and model.can_stream


def test_streams_text_and_reports_usage(runtime):
    runtime.replies.append(text_reply("Hello there, friend!", prompt_tokens=34, completion_tokens=5, cached=11))
    response = llm.get_model("code-local").prompt("Say hello", system="Be brief.")
    chunks = list(response)
    assert "".join(chunks) == "Hello there, friend!"
    assert len(chunks) > 1  # streamed, not one piece
    usage = response.usage()
    assert (usage.input, usage.output) == (34, 5)
    assert usage.details == {"cached_tokens": 11}
    request = runtime.requests[0]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    # Without -o max_tokens a response is still bounded (a small model can loop inside a tool call).
    assert request["max_tokens"] == local_model.DEFAULT_MAX_TOKENS
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    assert response.response_json["timings"]["predicted_per_second"] == 14.0


def test_options_reach_the_request_and_the_runtime(runtime, tmp_path):
    runtime.replies.append(text_reply("ok"))
    template = tmp_path / "mine.jinja"
    template.write_text("{{ messages }}")
    model = llm.get_model("code-local")
    response = model.prompt("hi", temperature=0.3, max_tokens=12, top_p=0.9, seed=7, n_ctx=4096,
                            threads=1, chat_template=str(template))
    response.text()
    request = runtime.requests[0]
    assert (request["temperature"], request["max_tokens"], request["top_p"], request["seed"]) == (0.3, 12, 0.9, 7)
    settings = runtime.loads[0]
    assert (settings.n_ctx, settings.threads, settings.chat_template) == (4096, 1, str(template))


def test_bad_options_are_refused_before_anything_loads(runtime):
    model = llm.get_model("code-local")
    with pytest.raises(Exception, match="n_ctx"):
        model.prompt("hi", n_ctx=10).text()
    with pytest.raises(llm.ModelError, match="chat_template"):
        model.prompt("hi", chat_template="fancy").text()
    assert runtime.loads == []


def test_non_streaming(runtime):
    runtime.replies.append(text_reply("All good.", prompt_tokens=9, completion_tokens=3))
    response = llm.get_model("code-local").prompt("check", stream=False)
    assert response.text() == "All good."
    assert response.usage().input == 9
    assert runtime.requests[0]["stream"] is False


def test_tool_calls_come_back_as_real_calls(runtime):
    runtime.replies.append(call_reply("lookup", '{"path": "app.py"}'))
    runtime.replies.append(text_reply("It defines add."))
    seen = []

    def lookup(path: str) -> str:
        """Look a file up."""
        seen.append(path)
        return "def add(a, b): ..."

    chain = llm.get_model("code-local").chain("What is in app.py?", tools=[lookup])
    assert chain.text() == "It defines add."
    assert seen == ["app.py"]
    first, second = runtime.requests
    assert first["tools"][0]["function"]["name"] == "lookup"
    assert first["tools"][0]["function"]["parameters"]["properties"]["path"]["type"] == "string"
    assert first["parallel_tool_calls"] is False  # one call per answer: no runaway repeats
    # The second request carries the call and its result, as llama.cpp's templates expect.
    assistant = second["messages"][-2]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"path": "app.py"}'}
    assert second["messages"][-1] == {
        "role": "tool", "tool_call_id": assistant["tool_calls"][0]["id"], "content": "def add(a, b): ...",
    }


def test_a_call_with_broken_arguments_is_passed_on_as_text(runtime):
    runtime.replies.append(call_reply("lookup", '{"path": "app.py"'))
    response = llm.get_model("code-local").prompt("go")
    text = response.text()
    assert response.tool_calls() == []
    assert '```json\n{"name": "lookup", "arguments": {"path": "app.py"}\n```' in text


def test_llama_cpp_errors_become_model_errors(runtime):
    runtime.replies.append([{"code": 400, "message": "the request exceeds the available context size",
                             "type": "exceed_context_size_error"}])
    with pytest.raises(llm.ModelError, match="exceeds the available context size"):
        llm.get_model("code-local").prompt("x" * 10).text()


def test_build_messages_keeps_one_system_prompt_and_every_turn():
    model = llm.get_model("code-local")
    conversation = model.conversation()
    prompt = llm.Prompt("second", model=model, system="sys")
    from llm.parts import Message, TextPart

    prompt_messages = [
        Message(role="system", parts=[TextPart(text="sys")]),
        Message(role="user", parts=[TextPart(text="first")]),
        Message(role="assistant", parts=[TextPart(text="answer")]),
        Message(role="system", parts=[TextPart(text="sys")]),
        Message(role="user", parts=[TextPart(text="second")]),
    ]
    prompt = type("P", (), {"messages": prompt_messages})()
    assert build_messages(prompt) == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second"},
    ]
    assert conversation is not None


def test_the_agent_runs_on_the_built_in_model(runtime, tmp_path):
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a - b\n")
    runtime.replies.append(call_reply("CodingTools_read_file", '{"path": "app.py"}'))
    runtime.replies.append(text_reply("add subtracts: a bug."))
    agent = CodingAgent(model="code-local", root=str(tmp_path), approve=True, undo=False, sandbox="off",
                        attach_files=False)
    result = agent.run("What does app.py do?")
    assert result.text == "add subtracts: a bug."
    assert [c.name for c, _ in result.tool_calls] == ["CodingTools_read_file"]
    assert "return a - b" in result.tool_calls[0][1].output
    assert agent.context.window == 16_384


# -- choosing it in `llm code` -----------------------------------------------------------------------


def _set_default(user_dir: Path, model_id: str) -> None:
    (user_dir / "default_model.txt").write_text(model_id)


def test_llm_code_falls_back_to_the_built_in_model_without_a_key(runtime, user_dir, tmp_path):
    _set_default(user_dir, "keyed")
    runtime.replies.append(text_reply("This project adds numbers."))
    result = CliRunner().invoke(cli, ["code", "-d", str(tmp_path), "-p", "explain what this project does"])
    assert result.exit_code == 0, result.output
    assert "This project adds numbers." in result.stdout
    notice = [line for line in result.stderr.splitlines() if "built-in local model" in line]
    assert len(notice) == 1
    assert "No API key for keyed" in notice[0] and "llm keys set keyedprovider" in notice[0]
    assert "llm models default" in notice[0]


def test_a_named_model_without_a_key_keeps_its_error(runtime, tmp_path):
    result = CliRunner().invoke(cli, ["code", "-m", "keyed", "-d", str(tmp_path), "-p", "hi"])
    assert result.exit_code == 1
    assert "needs an API key" in result.stderr and "llm keys set keyedprovider" in result.stderr
    assert "--local" in result.stderr  # the way out
    assert runtime.requests == []


def test_local_flag_picks_it_and_sets_the_window_from_n_ctx(runtime, tmp_path):
    runtime.replies.append(text_reply("done"))
    result = CliRunner().invoke(
        cli, ["code", "--local", "-o", "n_ctx", "8192", "-d", str(tmp_path), "-p", "hi", "--json"]
    )
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert final["text"] == "done"
    assert runtime.loads[-1].n_ctx == 8192


def test_the_model_loads_with_the_first_message_not_before_the_prompt(runtime, tmp_path):
    # llama.cpp holds the interpreter while it loads: a load started at start-up (even in a
    # thread) would hold back the header, the prompt and the user's typing for seconds.
    from llm_coding_agent.cli.session import Session

    session = Session({"local": True, "root": str(tmp_path)})
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(10)
    assert session.agent.model.model_id == "code-local"
    assert runtime.loads == []


def test_the_first_request_says_it_loads_the_model_once(runtime, tmp_path):
    (tmp_path / "app.py").write_text("x = 1\n")
    runtime.replies.append(call_reply("CodingTools_read_file", '{"path": "app.py"}'))
    runtime.replies.append(text_reply("x is one."))
    runtime.replies.append(text_reply("Still one."))
    result = CliRunner().invoke(cli, ["code", "--local", "-d", str(tmp_path), "-p", "what is x?"])
    assert result.exit_code == 0, result.output
    loading = [line for line in result.stderr.splitlines() if line.startswith("loading code-local")]
    assert loading == ["loading code-local (tiny.gguf) into memory, once per session…"]
    assert len(runtime.requests) == 2  # the second request found the model loaded: no second line
    # Without llm code, nothing is said (llm -m code-local has no user interface of ours).
    assert LocalModel.on_load is None
    assert llm.get_model("code-local").prompt("again").text() == "Still one."


def test_missing_weights_is_one_line(user_dir, tmp_path):
    # No LLM_CODE_LOCAL_MODEL, nothing cached, fetching off (conftest): a clear error, no traceback.
    result = CliRunner().invoke(cli, ["code", "--local", "-d", str(tmp_path), "-p", "hi"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "LLM_CODE_LOCAL_MODEL" in lines[0]


def test_without_the_extra_the_key_error_says_how_to_get_the_built_in_model(monkeypatch, user_dir, tmp_path):
    from llm_coding_agent.cli import local as cli_local
    from llm_coding_agent.cli import session as cli_session

    monkeypatch.setattr(cli_local, "is_available", lambda: False)
    monkeypatch.setattr(cli_session, "is_available", lambda: False)
    _set_default(user_dir, "keyed")
    result = CliRunner().invoke(cli, ["code", "-d", str(tmp_path), "-p", "hi"])
    assert result.exit_code == 1
    assert "llm keys set keyedprovider" in result.stderr
    assert "pip install 'llm-coding-agent[local]'" in result.stderr
    result = CliRunner().invoke(cli, ["code", "--local", "-d", str(tmp_path), "-p", "hi"])
    assert result.exit_code == 1
    assert "pip install 'llm-coding-agent[local]'" in result.stderr


def test_llm_prompt_without_the_extra_says_how_to_install(monkeypatch, weights_file):
    import builtins

    real_import = builtins.__import__

    def no_xllamacpp(name, *args, **kwargs):
        if name == "xllamacpp":
            raise ImportError("No module named 'xllamacpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xllamacpp)
    monkeypatch.setattr(local_runtime, "_loaded", {})
    result = CliRunner().invoke(cli, ["-m", "code-local", "hi"])
    assert result.exit_code == 1
    # llm re-raises under pytest (sys._called_from_test); a user sees it as `Error: ...`.
    assert isinstance(result.exception, llm.ModelError)
    assert "pip install 'llm-coding-agent[local]'" in str(result.exception)


def test_options_kept_with_llm_models_options_apply_and_o_wins(runtime, tmp_path):
    runtime.replies.append(text_reply("done"))
    runner = CliRunner()
    assert runner.invoke(cli, ["models", "options", "set", "code-local", "n_ctx", "4096"]).exit_code == 0
    assert runner.invoke(cli, ["models", "options", "set", "code-local", "temperature", "0.5"]).exit_code == 0
    result = runner.invoke(cli, ["code", "--local", "-o", "temperature", "0.1", "-d", str(tmp_path), "-p", "hi"])
    assert result.exit_code == 0, result.output
    assert runtime.loads[-1].n_ctx == 4096
    assert runtime.requests[-1]["temperature"] == 0.1


def test_parallel_tool_calls_can_be_allowed_and_is_not_sent_without_tools(runtime):
    def lookup(path: str) -> str:
        """Look a file up."""
        return ""

    runtime.replies.append(text_reply("No call."))
    llm.get_model("code-local").prompt("hi", tools=[lookup], parallel_tool_calls=True).text()
    runtime.replies.append(text_reply("Plain."))
    llm.get_model("code-local").prompt("hi").text()
    with_tools, without = runtime.requests
    assert with_tools["parallel_tool_calls"] is True
    assert "parallel_tool_calls" not in without
