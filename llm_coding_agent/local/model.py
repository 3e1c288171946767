"""``code-local``: the built-in model, an ``llm.Model`` that runs a GGUF file in this process.

Works wherever llm models do: ``llm code`` (chosen automatically when there is no API key),
``llm -m code-local "hi"``, ``llm chat -m code-local``, ``llm.get_model("code-local")``. Tool calls
come back as real tool calls: the default ``jsonfence`` chat template asks the model for fenced
JSON, and llama.cpp parses it under its tool-call grammar, so a call is well-formed JSON or is not
a call at all (the rare leftover is handed on as text, where the agent's text-form recovery sees
it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import llm
from llm.parts import StreamEvent, TextPart, ToolCallPart, ToolResultPart
from pydantic import Field

from .runtime import (TEMPLATE_NAMES, RuntimeSettings, RuntimeUnavailable, default_threads, runtime_for,
                      runtime_loaded)
from .weights import WeightsError, locate_weights

__all__ = ["LocalModel", "MODEL_ID", "DEFAULT_CONTEXT", "build_messages"]

#: The model id users pass to ``-m``.
MODEL_ID = "code-local"
#: Tokens of context when ``-o n_ctx`` is not given (what ``serve.sh`` uses).
DEFAULT_CONTEXT = 16_384
#: Most tokens one response may generate when ``-o max_tokens`` is not given: a whole file of a
#: few hundred lines fits, and a model stuck repeating itself is cut off after about three
#: minutes on 2 cores (4,096 let one runaway answer take a task's whole 300 s).
DEFAULT_MAX_TOKENS = 2_048


def build_messages(prompt: llm.Prompt) -> list[dict[str, Any]]:
    """The prompt's whole history (``prompt.messages``) as OpenAI-style chat messages."""
    out: list[dict[str, Any]] = []
    for message in prompt.messages:
        text, calls = [], []
        for part in message.parts:
            if isinstance(part, TextPart):
                text.append(part.text)
            elif isinstance(part, ToolCallPart):
                calls.append({
                    "type": "function",
                    "id": part.tool_call_id or f"call_{len(out)}_{len(calls)}",
                    "function": {"name": part.name, "arguments": json.dumps(part.arguments)},
                })
            elif isinstance(part, ToolResultPart):
                out.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": part.output})
        if message.role == "tool":
            continue
        content = "".join(text)
        if message.role == "system" and out and out[0]["role"] == "system":
            if out[0]["content"] == content:
                continue  # llm repeats the system prompt on later turns
        entry: dict[str, Any] = {"role": message.role, "content": content}
        if calls:
            entry["tool_calls"] = calls
        elif not content and message.role != "assistant":
            continue
        out.append(entry)
    return out


class _ToolCallBuffer:
    """Streamed tool-call fragments, joined by their index."""

    def __init__(self):
        self.calls: dict[int, dict[str, str]] = {}

    def add(self, delta: dict) -> None:
        call = self.calls.setdefault(delta.get("index", 0), {"id": "", "name": "", "arguments": ""})
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        call["name"] += function.get("name") or ""
        call["arguments"] += function.get("arguments") or ""


class LocalModel(llm.Model):
    """Qwen2.5-Coder-1.5B-Instruct (or any GGUF file) through llama.cpp, in this process."""

    model_id = MODEL_ID
    can_stream = True
    supports_tools = True
    supports_schema = True
    #: Called with one line just before a request loads the model into memory, so a user interface
    #: can say why the answer waits: loading takes seconds, and llama.cpp holds the interpreter
    #: while it loads (nothing else in the process runs, not even a spinner).
    on_load: Optional[Callable[[str], None]] = None

    class Options(llm.Options):
        temperature: Optional[float] = Field(
            None, ge=0, le=2, description="Sampling temperature (default 0: the most likely token)"
        )
        top_p: Optional[float] = Field(None, ge=0, le=1, description="Nucleus sampling probability mass")
        max_tokens: Optional[int] = Field(None, ge=1, description="Most tokens to generate per response")
        seed: Optional[int] = Field(None, description="Random seed for sampling")
        n_ctx: Optional[int] = Field(
            None, ge=512, description=f"Context size in tokens (default {DEFAULT_CONTEXT})"
        )
        threads: Optional[int] = Field(None, ge=1, description="CPU threads (default: available CPUs, at most 8)")
        model_path: Optional[str] = Field(
            None, description="A GGUF file to run instead of the default weights (also LLM_CODE_LOCAL_MODEL)"
        )
        chat_template: Optional[str] = Field(
            None, description="jsonfence (default: well-formed tool calls), native (the GGUF's own) or a .jinja file"
        )
        parallel_tool_calls: Optional[bool] = Field(
            None, description="Allow several tool calls in one answer (default false: one call, then the answer ends)"
        )

    def __str__(self) -> str:
        return f"llm-coding-agent built-in: {self.model_id}"

    # -- settings ---------------------------------------------------------------------------------

    def settings(self, options: "LocalModel.Options", progress=None) -> RuntimeSettings:
        """What to load for ``options``; fetches the default weights on first use."""
        template = options.chat_template or "jsonfence"
        if template not in TEMPLATE_NAMES and not template.endswith((".jinja", ".j2", ".jinja2")):
            raise llm.ModelError(
                f"chat_template must be one of {', '.join(TEMPLATE_NAMES)} or a .jinja file, not {template!r}"
            )
        try:
            path = locate_weights(options.model_path, progress=progress)
        except WeightsError as ex:
            raise llm.ModelError(str(ex)) from None
        return RuntimeSettings(
            model_path=str(path),
            n_ctx=options.n_ctx or DEFAULT_CONTEXT,
            threads=options.threads or default_threads(),
            chat_template=template,
        )

    def request(self, prompt: llm.Prompt, stream: bool) -> dict[str, Any]:
        """The chat request for ``prompt``: history, tools, schema and sampling options."""
        options = prompt.options
        request: dict[str, Any] = {"messages": build_messages(prompt), "stream": stream}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(options, name, None)
            if value is not None:
                request[name] = value
        # A small model sometimes repeats itself until the context is full; inside a tool call's
        # arguments nothing streams, so nothing else would stop it.
        request.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        if prompt.tools:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description or "",
                        "parameters": tool.input_schema or {"type": "object", "properties": {}},
                    },
                }
                for tool in prompt.tools
            ]
            # One call per answer unless asked: under the tool-call grammar the 1.5B model otherwise
            # repeated the same call until max_tokens (14 identical calls, 2,048 tokens, ~170 s).
            request["parallel_tool_calls"] = bool(getattr(options, "parallel_tool_calls", None))
        if prompt.schema:
            request["response_format"] = {
                "type": "json_schema", "json_schema": {"name": "output", "schema": prompt.schema},
            }
        if stream:
            request["stream_options"] = {"include_usage": True}
        return request

    # -- running ----------------------------------------------------------------------------------

    def execute(self, prompt, stream, response, conversation=None) -> Iterator[str | StreamEvent]:
        settings = self.settings(prompt.options)
        if self.on_load is not None and not runtime_loaded(settings):
            self.on_load(f"loading {self.model_id} ({Path(settings.model_path).name}) into memory, once per session…")
        try:
            runtime = runtime_for(settings)
        except RuntimeUnavailable as ex:
            raise llm.ModelError(str(ex)) from None
        request = self.request(prompt, stream)
        calls = _ToolCallBuffer()
        final: dict[str, Any] = {}
        if stream:
            for chunk in runtime.stream(request):
                _raise_if_error(chunk)
                if chunk.get("usage"):
                    final["usage"] = chunk["usage"]
                if chunk.get("timings"):
                    final["timings"] = chunk["timings"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if choice.get("finish_reason"):
                        final["finish_reason"] = choice["finish_reason"]
                    for call in delta.get("tool_calls") or []:
                        calls.add(call)
                    if delta.get("content"):
                        yield StreamEvent(type="text", chunk=delta["content"])
        else:
            result = runtime.complete(request)
            _raise_if_error(result)
            choice = (result.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            final = {k: result[k] for k in ("usage", "timings") if k in result}
            final["finish_reason"] = choice.get("finish_reason")
            for index, call in enumerate(message.get("tool_calls") or []):
                calls.add(dict(call, index=index))
            if message.get("content"):
                yield StreamEvent(type="text", chunk=message["content"])
        yield from self._add_tool_calls(calls, response)
        final["model_path"] = runtime.settings.model_path
        response.response_json = final
        usage = final.get("usage") or {}
        if usage:
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
            response.set_usage(
                input=usage.get("prompt_tokens"), output=usage.get("completion_tokens"),
                details={"cached_tokens": cached} if cached else None,
            )

    def _add_tool_calls(self, calls: _ToolCallBuffer, response) -> Iterator[StreamEvent]:
        for index, call in sorted(calls.calls.items()):
            try:
                arguments = json.loads(call["arguments"] or "{}")
            except json.JSONDecodeError:
                arguments = None
            if not isinstance(arguments, dict) or not call["name"]:
                # Not a usable call: pass it on as the text the model meant, for text-form recovery.
                fenced = json.dumps({"name": call["name"]})[:-1] + f', "arguments": {call["arguments"]}}}'
                yield StreamEvent(type="text", chunk=f"\n```json\n{fenced}\n```\n")
                continue
            call_id = call["id"] or f"call_{index}"
            yield StreamEvent(type="tool_call_name", chunk=call["name"], tool_call_id=call_id)
            yield StreamEvent(type="tool_call_args", chunk=call["arguments"], tool_call_id=call_id)
            response.add_tool_call(llm.ToolCall(tool_call_id=call_id, name=call["name"], arguments=arguments))


def _raise_if_error(payload: dict) -> None:
    """llama.cpp answers errors with a dict (``code``, ``message`` or ``error``), not an exception."""
    if "code" in payload and "choices" not in payload:
        error = payload.get("error")
        message = payload.get("message") or (error.get("message") if isinstance(error, dict) else error)
        raise llm.ModelError(f"local model error: {message or payload}")
    if isinstance(payload.get("error"), dict):
        raise llm.ModelError(f"local model error: {payload['error'].get('message') or payload['error']}")
