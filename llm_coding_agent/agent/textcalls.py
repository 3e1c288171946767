"""Recover tool calls that a model wrote as text instead of making a native tool call.

Small local models often answer with a fenced JSON block ``{"name": ..., "arguments": {...}}`` or
Qwen's ``<tool_call>{...}</tool_call>``. Such text becomes a real call only when it is unambiguous:
each block holds an object with just ``name`` and ``arguments`` (or ``parameters``) naming a tool
that exists, and either there is exactly one fenced block, or the answer is nothing but such blocks
(a model making several calls at once, or the same call twice: duplicates run once). Any number of
``<tool_call>`` blocks qualify. Ordinary prose and code, including JSON examples among prose or
other code, never qualify.

With ``repair=True`` (the ``repair_call_json`` profile choice), a block whose JSON does not parse
is repaired instead of dropped: first by allowing raw control characters (newlines) in strings,
then with ``json_repair`` (unescaped quotes, a missing brace). Only a block that is a JSON object
from its first character to its last is repaired, and the repaired object must still be a call
of the shape above, so the rules for what counts as a call do not change.
"""

from __future__ import annotations

import json
import re
from typing import Callable

__all__ = ["parse_text_tool_calls"]

_FENCE = re.compile(r"```[ \t]*(?:json|tool_call|JSON)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)
_ANY_FENCE = re.compile(r"```")
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def _loads_repaired(blob: str) -> object:
    """``blob`` parsed leniently, or None. Small models put code in JSON strings unescaped: raw
    newlines (which ``strict=False`` accepts) and bare quotes (which ``json_repair`` fixes)."""
    blob = blob.strip()
    if not (blob.startswith("{") and blob.endswith("}")):
        return None  # code or prose that merely contains an object: never a call
    try:
        return json.loads(blob, strict=False)
    except ValueError:
        pass
    try:
        from json_repair import repair_json
    except ImportError:
        return None
    try:
        return repair_json(blob, return_objects=True)
    except Exception:  # the repairer's own failure is just "not a call"
        return None


def _as_call(blob: str, resolve: Callable[[str], str | None], repair: bool = False) -> tuple[str, dict] | None:
    try:
        obj = json.loads(blob)
    except (ValueError, TypeError):
        if not repair:
            return None
        obj = _loads_repaired(blob)
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
            arguments = _loads_repaired(arguments) if repair else None
    if not isinstance(arguments, dict):
        return None
    name = resolve(obj["name"])
    if name is None:
        return None
    return name, arguments


def parse_text_tool_calls(
    text: str, resolve: Callable[[str], str | None], repair: bool = False
) -> list[tuple[str, dict]]:
    """Tool calls written as text in ``text``: ``[(tool_name, arguments), ...]`` or ``[]``.

    ``resolve`` maps a name the model wrote to the real tool name, or None if no such tool exists.
    ``repair`` parses broken JSON leniently (see the module's docstring).
    """
    if not text or ("{" not in text):
        return []
    tagged = _TAGGED.findall(text)
    if tagged:
        calls = [_as_call(blob, resolve, repair) for blob in tagged]
        return [c for c in calls if c] if all(calls) else []
    fences = _FENCE.findall(text)
    if not fences or len(_ANY_FENCE.findall(text)) != 2 * len(fences):
        return []
    # Several blocks are calls only when nothing else is said: with prose around them they are more
    # likely examples than calls.
    if len(fences) > 1 and _FENCE.sub("", text).strip():
        return []
    calls = [_as_call(blob.strip(), resolve, repair) for blob in fences]
    if not all(calls):
        return []
    unique: list[tuple[str, dict]] = []
    for call in calls:
        if call not in unique:
            unique.append(call)
    return unique
