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
then by reading the last argument as the string it plainly is, then with ``json_repair``
(unescaped quotes, a missing brace). Only a block that is a JSON object from its first character
to its last is repaired, and the repaired object must still be a call of the shape above, so the
rules for what counts as a call do not change.

Why the last argument gets its own reading: a small model writes a file's code straight into the
call without escaping its quotes (a docstring's three quotes inside the JSON string), or even
as a Python triple-quoted string in place of the JSON one. The code's own quotes end the JSON string early, and ``json_repair`` then turns the rest of the
code into argument *names* (measured: 38 of 44 text-form calls of one 16-task run came back as
``unknown argument(s): A minimal bank account.``). The content argument comes last, so its value
is everything from its opening quote to the quote before the closing braces.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Callable

__all__ = ["parse_text_tool_calls"]

_FENCE = re.compile(r"```[ \t]*(?:json|tool_call|JSON)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)
_ANY_FENCE = re.compile(r"```")
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_CALL_HEAD = re.compile(r'\{\s*"name"\s*:\s*"([^"\\]+)"\s*,\s*"(arguments|parameters)"\s*:\s*\{')
_ARGUMENT_KEY = re.compile(r'\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*:\s*')
_NEXT_ARGUMENT = re.compile(r'\s*,(?=\s*"[A-Za-z_][A-Za-z0-9_]*"\s*:)')
_CLOSING = re.compile(r"\}\s*\}\s*$")
_JSON_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_ESCAPED_NEWLINE = re.compile(r"(?<!\\)\\n")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(match: re.Match) -> str:
    code = match.group(1)
    if code.startswith("u"):
        return chr(int(code[1:], 16))
    return _ESCAPES.get(code, code)


def _plain_string(raw: str) -> str:
    """The text a model meant by ``raw``, a quoted value whose inner quotes were never escaped.

    A Python triple-quoted string inside JSON (three quotes each side) is the code between the
    triple quotes, dedented. Escapes are decoded only when the value was written the JSON way (an
    escaped quote, or more ``\\n`` escapes than raw newlines): in code typed raw,
    ``"\\n".join`` means what it says."""
    if len(raw) >= 6 and raw.startswith('"""') and raw.endswith('"""'):
        inner = textwrap.dedent(raw[3:-3]).strip("\n") + "\n"
    else:
        inner = raw[1:-1]
    if '\\"' in inner or len(_ESCAPED_NEWLINE.findall(inner)) > inner.count("\n"):
        inner = _JSON_ESCAPE.sub(_unescape, inner)
    return inner


def _loads_last_string(blob: str) -> dict | None:
    """A call ``{"name": ..., "arguments": {...}}`` whose last argument is a string with unescaped
    quotes, or None. Earlier arguments must be clean JSON values, each followed by the next
    ``"key":``; the last runs from its opening quote to the final quote before ``}}``."""
    head = _CALL_HEAD.match(blob)
    closing = _CLOSING.search(blob)
    if not head or not closing or closing.start() < head.end():
        return None
    body = blob[head.end() : closing.start()]
    decoder = json.JSONDecoder(strict=False)
    arguments: dict = {}
    position = 0
    while True:
        key = _ARGUMENT_KEY.match(body, position)
        if not key:
            return None
        position = key.end()
        try:
            value, end = decoder.raw_decode(body, position)
        except ValueError:
            end = None
        if end is not None:
            if not body[end:].strip():
                arguments[key.group(1)] = value
                break
            following = _NEXT_ARGUMENT.match(body, end)
            if following:
                arguments[key.group(1)] = value
                position = following.end()
                continue
        raw = body[position:].rstrip()
        if len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            return None
        arguments[key.group(1)] = _plain_string(raw)
        break
    return {"name": head.group(1), head.group(2): arguments}


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
    call = _loads_last_string(blob)
    if call is not None:
        return call
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
