"""Recover tool calls that a model wrote as text instead of making a native tool call.

Small local models often answer with a fenced JSON block ``{"name": ..., "arguments": {...}}`` or
Qwen's ``<tool_call>{...}</tool_call>``. Such text becomes a real call only when it is unambiguous:
each block holds an object with just ``name`` and ``arguments`` (or ``parameters``) naming a tool
that exists, and either there is exactly one fenced block, or the answer is nothing but such blocks
(a model making several calls at once, or the same call twice: duplicates run once). Any number of
``<tool_call>`` blocks qualify. Ordinary prose and code, including JSON examples among prose or
other code, never qualify.
"""

from __future__ import annotations

import json
import re
from typing import Callable

__all__ = ["parse_text_tool_calls"]

_FENCE = re.compile(r"```[ \t]*(?:json|tool_call|JSON)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)
_ANY_FENCE = re.compile(r"```")
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def _as_call(blob: str, resolve: Callable[[str], str | None]) -> tuple[str, dict] | None:
    try:
        obj = json.loads(blob)
    except (ValueError, TypeError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    keys = set(obj) - {"name"}
    if keys not in ({"arguments"}, {"parameters"}):
        return None
    arguments = obj.get("arguments", obj.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    name = resolve(obj["name"])
    if name is None:
        return None
    return name, arguments


def parse_text_tool_calls(
    text: str, resolve: Callable[[str], str | None]
) -> list[tuple[str, dict]]:
    """Tool calls written as text in ``text``: ``[(tool_name, arguments), ...]`` or ``[]``.

    ``resolve`` maps a name the model wrote to the real tool name, or None if no such tool exists.
    """
    if not text or ("{" not in text):
        return []
    tagged = _TAGGED.findall(text)
    if tagged:
        calls = [_as_call(blob, resolve) for blob in tagged]
        return [c for c in calls if c] if all(calls) else []
    fences = _FENCE.findall(text)
    if not fences or len(_ANY_FENCE.findall(text)) != 2 * len(fences):
        return []
    # Several blocks are calls only when nothing else is said: with prose around them they are more
    # likely examples than calls.
    if len(fences) > 1 and _FENCE.sub("", text).strip():
        return []
    calls = [_as_call(blob.strip(), resolve) for blob in fences]
    if not all(calls):
        return []
    unique: list[tuple[str, dict]] = []
    for call in calls:
        if call not in unique:
            unique.append(call)
    return unique
