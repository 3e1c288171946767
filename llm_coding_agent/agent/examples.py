"""The request's own examples as a check: ``paginate(list(range(10)), 1, 3) should return [0, 1,
2]`` is a test the user already wrote. Under the ``verify_with_tests`` profile choice, a project
with no tests gets these examples (and the doctests of the files defining the functions the
request names) run once when the model ends its run, through ``execute_command`` like any test
run, and a failure goes back to the model with what each call returned.

A small model "fixes" an off-by-one to another off-by-one, or answers "No change is needed", and
nothing tells it so; this is the reproduction an agent would write, taken from the request.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable

from .mentions import defining_paths

__all__ = ["Example", "request_examples", "example_check_command", "EXAMPLES_FAIL_PROMPT"]

#: What the model is told, with the output, when the request's examples do not hold.
EXAMPLES_FAIL_PROMPT = "The examples in the request do not hold yet; fix the code so they do."
#: Examples checked at most.
MAX_EXAMPLES = 6

#: Calls whose arguments may use these names (anything else, ``text`` say, is not an example).
_SAFE_NAMES = {"list", "range", "tuple", "dict", "set", "frozenset", "str", "int", "float", "True", "False", "None"}
_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\(")
#: "should return", "must still give", "should be an", "is expected to return"...
_EXPECTED = re.compile(
    r"\b(?:should|must|ought to|is expected to|expected to)\s+(?:still\s+|now\s+)?"
    r"(?:be|give|return|produce|equal|yield)\s+(?:(?:an?|the)\s+)?", re.IGNORECASE,
)
#: "returns X" / "gives X" / "== X" / "-> X", for a sentence with no "but" (where it is the bug).
_STATED = re.compile(r"(?:\breturns?|\bgives?|==|->)\s+", re.IGNORECASE)
#: A sentence about the call just shown: "It should return ...".
_ABOUT_THE_CALL = re.compile(r"\s*(?:it|this|that|the (?:call|result|function))\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[^\s\d])[.!?](?=\s|$)|\n\s*\n")


@dataclass(frozen=True)
class Example:
    """``call`` (Python source) should evaluate to ``expected`` (a literal's source)."""

    name: str
    call: str
    expected: str

    @property
    def value(self) -> Any:
        return ast.literal_eval(self.expected)


def _balanced(text: str, start: int, opening: str, closing: str) -> int | None:
    """The index after the bracket closing the one at ``start`` (quotes respected), or None."""
    depth, quote, i = 0, None, start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _literal_at(text: str) -> str | None:
    """The Python literal ``text`` starts with (``[1.5, 2.5]``, ``"HI, BO!"``, ``150.0``, ``True``)."""
    text = text.lstrip()
    if not text:
        return None
    first = text[0]
    end = None
    if first in "[({":
        end = _balanced(text, 0, first, {"[": "]", "(": ")", "{": "}"}[first])
    elif first in "\"'":
        close = text.find(first, 1)
        end = close + 1 if close > 0 else None
    else:
        match = re.match(r"-?\d+(?:\.\d+)?(?:e-?\d+)?|True\b|False\b|None\b", text)
        end = match.end() if match else None
    if end is None:
        return None
    candidate = text[:end]
    try:
        ast.literal_eval(candidate)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return candidate


def _safe_call(source: str) -> bool:
    """A call whose arguments are literals (or built-ins over literals: ``list(range(10))``)."""
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        return False
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return False
    for inner in ast.walk(ast.Module(body=[ast.Expr(a) for a in node.args] + [ast.Expr(k.value) for k in node.keywords], type_ignores=[])):
        if isinstance(inner, ast.Name) and inner.id not in _SAFE_NAMES:
            return False
        if isinstance(inner, (ast.Attribute, ast.Lambda, ast.NamedExpr, ast.Subscript)):
            return False
    return True


def request_examples(request: str) -> list[Example]:
    """The ``call -> expected value`` pairs the request states, in order, without duplicates.

    In a sentence, the value after "should/must (still) return/give/be" is what the call should
    give; "returns X" counts only in a sentence without "but" ("returns 250.0 but ... should give
    150.0" states the bug, then the fix). "It should return X" with no call of its own goes with the
    last call before it (a traceback's ``>>> top_words(...)``).
    """
    found: list[Example] = []
    last_call: tuple[str, str] | None = None
    position = 0
    for end_match in list(_SENTENCE_END.finditer(request)) + [None]:
        end = end_match.start() if end_match else len(request)
        sentence = request[position:end]
        position = end_match.end() if end_match else len(request)
        calls: list[tuple[str, str, int]] = []
        for match in _CALL_START.finditer(sentence):
            if calls and match.start() < calls[-1][2]:
                continue  # inside the previous call's arguments: list(range(10))
            stop = _balanced(sentence, match.end() - 1, "(", ")")
            if stop is not None and _safe_call(sentence[match.start():stop]):
                calls.append((match.group(1), sentence[match.start():stop], stop))
        pairs = []
        for i, (name, call, stop) in enumerate(calls):
            if call.endswith("()"):
                continue  # "paginate() skips..." names the function; it is no example
            # Up to the next call: "f(1) should be 2 and g(2) should be 3".
            tail = sentence[stop:calls[i + 1][2] - len(calls[i + 1][1])] if i + 1 < len(calls) else sentence[stop:]
            expected = _EXPECTED.search(tail)
            value = _literal_at(tail[expected.end():]) if expected else None
            if value is None and " but " not in f" {tail} ":
                stated = _STATED.match(tail.lstrip())
                value = _literal_at(tail.lstrip()[stated.end():]) if stated else None
            if value is not None:
                pairs.append(Example(name, call, value))
        if not calls and last_call is not None and _ABOUT_THE_CALL.match(sentence):
            expected = _EXPECTED.search(sentence)
            value = _literal_at(sentence[expected.end():]) if expected else None
            if value is not None:
                pairs.append(Example(last_call[0], last_call[1], value))
        if calls:
            last_call = calls[-1][:2]
        for example in pairs:
            if example not in found:
                found.append(example)
    return found[:MAX_EXAMPLES]


_SCRIPT = """\
import doctest, importlib, sys
sys.path.insert(0, {directory!r})
module = importlib.import_module({module!r})
failed = 0
for call, expected in {examples!r}:
    try:
        got = eval(call, vars(module))
    except Exception as ex:
        print(f"{{call}} raised {{type(ex).__name__}}: {{ex}}; the request expects {{expected!r}}")
        failed += 1
        continue
    if got == expected:
        print(f"{{call}} == {{expected!r}}: ok")
    else:
        print(f"{{call}} returned {{got!r}}; the request expects {{expected!r}}")
        failed += 1
if {doctests!r}:
    failed += doctest.testmod(module).failed
print("examples: " + ("FAILED" if failed else "all hold"))
sys.exit(1 if failed else 0)
"""


def example_check_command(
    request: str, search: Callable[[str], str], read: Callable[[str], str], doctests: bool = True,
) -> str | None:
    """A ``python -c`` command checking the request's examples and the doctests of the file that
    defines the function they call (or, with no examples, of the file defining a function the
    request names, when it has doctests); None when there is nothing to check.

    ``search`` is ``CodingTools.search_files`` and ``read(path)`` the text of a project file;
    ``doctests=False`` leaves the doctests out.
    """
    examples = request_examples(request)
    names = [examples[0].name + "("] if examples else [request]
    paths = [p for p in defining_paths(" ".join(names), search) if p.endswith(".py")]
    if not paths:
        return None
    path = PurePosixPath(paths[0])
    examples = [e for e in examples if e.name == examples[0].name] if examples else []
    doctests = doctests and ">>>" in read(str(path))
    if not examples and not doctests:
        return None
    script = _SCRIPT.format(
        directory=str(path.parent) if str(path.parent) != "." else ".",
        module=path.stem,
        examples=[(e.call, e.value) for e in examples],
        doctests=doctests,
    )
    return "python -c " + shlex.quote(script)
