"""Closing llm responses that ended early, describing model failures, checking model options.

llm has no public way to finish a response whose stream stopped before its end (Ctrl-C, an answer
cut off for length, a provider that raised on malformed call JSON); these helpers take the same
steps ``Response.__iter__`` takes at the end of a stream, so the conversation records the response
and its history stays consistent.
"""

from __future__ import annotations

import llm
from llm.parts import ToolCallPart

from .results import ModelError

__all__ = [
    "close_response", "close_interrupted", "stream_tool_calls", "describe_model_error", "get_model", "checked_options", "capped_output",
]


def close_response(response: llm.Response) -> None:
    if response._done:
        return
    response._done = True
    if response.conversation is not None:
        response.conversation._record_response(response)


def close_interrupted(response: llm.Response, note: str = "\n[interrupted by the user]") -> None:
    """Keep the text streamed so far; drop half-received tool calls (they never ran)."""
    from llm.parts import StreamEvent

    response._stream_events = [e for e in response._stream_events if e.type in ("text", "reasoning")]
    response._tool_calls = []
    response._chunks.append(note)
    response._stream_events.append(StreamEvent(type="text", chunk=note))
    response._stream_events[-1].part_index = max(
        (e.part_index for e in response._stream_events[:-1] if e.part_index is not None), default=0
    )
    close_response(response)


def stream_tool_calls(response: llm.Response) -> list[llm.ToolCall]:
    """Tool calls present in the stream events but not (yet) in ``response.tool_calls()``."""
    known = {c.tool_call_id for c in response._tool_calls}
    calls = []
    for message in response._messages_now():
        for part in message.parts:
            if isinstance(part, ToolCallPart) and not part.server_executed and part.tool_call_id not in known:
                calls.append(
                    llm.ToolCall(name=part.name, arguments=part.arguments, tool_call_id=part.tool_call_id)
                )
    return calls


def describe_model_error(model: llm.Model, ex: Exception) -> str:
    text = str(ex) or type(ex).__name__
    if isinstance(ex, llm.NeedsKeyException) or "api key" in text.lower() or "api_key" in text.lower():
        key_name = getattr(model, "needs_key", None) or "<provider>"
        return f"{model.model_id} needs an API key: run `llm keys set {key_name}` ({text})"
    return f"{model.model_id} failed: {text}"


def get_model(model: "str | llm.Model | None") -> llm.Model:
    """The model object for an id, alias or model (None: llm's default model)."""
    if isinstance(model, llm.Model) or (model is not None and hasattr(model, "conversation")):
        return model  # type: ignore[return-value]
    try:
        return llm.get_model(model) if model else llm.get_model(llm.get_default_model())
    except llm.UnknownModelError as ex:
        raise ModelError(f"unknown model: {ex}") from None


def capped_output(model: llm.Model, options: dict, cap: int | None) -> dict:
    """``options`` with ``max_tokens=cap`` when a cap is given, the model takes a ``max_tokens``
    option and the user set none (``ModelProfile.max_output_tokens``)."""
    fields = getattr(model.Options, "model_fields", {})
    if not cap or "max_tokens" in options or "max_tokens" not in fields:
        return options
    return {**options, "max_tokens": cap}


def checked_options(model: llm.Model, options: dict | None) -> dict:
    """Options validated by the model's own Options class (a typo fails now, not mid-run)."""
    options = dict(options or {})
    try:
        model.Options(**options)
    except Exception as ex:  # pydantic's ValidationError, or a plugin's own
        message = str(ex).splitlines()
        raise ModelError(
            f"invalid options for {model.model_id}: {', '.join(options) or '(none)'}"
            f" ({message[0] if message else type(ex).__name__}; see `llm models --options`)"
        ) from None
    return options
