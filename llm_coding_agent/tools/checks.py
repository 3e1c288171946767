"""Checks on a file's proposed content, for ``write_file``/``edit_file`` (``check_edits``).

A change that would leave a ``.py`` file unable to compile, or a ``.json`` file that parsed before
unable to parse, is refused before anything is written, with the lines around the error; an
accepted change of a Python file gets a one-line report of the undefined names and redefinitions
it introduces (pyflakes). Both work in-process on the new text: no command runs,
and a check takes milliseconds. The grammar is the running interpreter's, so a file using syntax
newer than it (and already failing to compile before the change) is written all the same.
"""

from __future__ import annotations

import ast
import json
import re
import warnings

from ..errors import ToolError

__all__ = [
    "is_python", "syntax_error", "refuse_broken_python", "python_check_line", "definitions", "removed_top_level_names",
    "is_json", "json_error", "refuse_broken_json", "passes_check", "stub_functions",
]

#: Texts larger than this are not checked (a generated file; the check would cost more than it tells).
MAX_CHECKED_CHARS = 1_000_000
#: Lines shown either side of a syntax error.
_CONTEXT = 3
#: Problems listed in a check line at most.
_MAX_PROBLEMS = 5


def is_python(display: str) -> bool:
    return display.endswith(".py")


def syntax_error(text: str, filename: str) -> SyntaxError | None:
    """Why ``text`` does not compile as a Python module (None when it does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarnings (invalid escapes) are not failures
        try:
            compile(text, filename, "exec", dont_inherit=True)
        except SyntaxError as ex:
            return ex
        except ValueError as ex:  # "source code string cannot contain null bytes"
            return SyntaxError(str(ex))
        except (RecursionError, MemoryError):
            return None  # too deeply nested to tell; not the model's usual mistake
    return None


def _describe(error: SyntaxError) -> str:
    where = f" at line {error.lineno}" if error.lineno else ""
    return f"SyntaxError{where}: {error.msg}"


def _numbered_around(text: str, lineno: int | None) -> str:
    lines = text.splitlines()
    if not lines:
        return ""
    at = min(max(lineno or 1, 1), len(lines))
    first, last = max(1, at - _CONTEXT), min(len(lines), at + _CONTEXT)
    return "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(first, last + 1))


def refuse_broken_python(display: str, before: str | None, after: str, verb: str = "edit") -> None:
    """Raise a ToolError when ``after`` does not compile but ``before`` did (or there was no file):
    the model is shown the error and the lines around it in its version, and nothing is written.
    A file that did not compile before may be written in any state (the model may be mid-way
    through fixing it, or the file may use syntax newer than this interpreter)."""
    if not is_python(display) or len(after) > MAX_CHECKED_CHARS:
        return
    error = syntax_error(after, display)
    if error is None or (before is not None and syntax_error(before, display) is not None):
        return
    lines = after.rstrip("\n").splitlines()
    # The error is on the last line, which holds no double quote: the JSON string ended at one.
    cut_short = (verb == "write" and bool(lines) and error.lineno is not None
                 and error.lineno >= len(lines) and '"' not in lines[-1])
    raise ToolError(
        f"the {verb} would leave {display} with a {_describe(error)}. The file is unchanged. "
        f"The lines around it in your version:\n{_numbered_around(after, error.lineno)}\n"
        + (_CUT_SHORT if cut_short else
           "Fix the mistake and send the complete content again." if verb == "write" else
           "Fix the mistake and try again. When several lines must change together, change them in "
           "one edit_file call (or write the whole file with write_file).")
    )


#: JSON files that are JSON with comments by convention (tsconfig, VS Code and dev container
#: settings): a comment there is not a mistake, so they are not checked.
_JSONC = re.compile(r"(^|/)(tsconfig[^/]*|jsconfig[^/]*|\.vscode/[^/]+|\.devcontainer/[^/]+|devcontainer)\.json$")


def is_json(display: str) -> bool:
    return display.endswith(".json") and not _JSONC.search(display)


def json_error(text: str) -> json.JSONDecodeError | None:
    """Why ``text`` is not a JSON document (None when it is)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as ex:
        return ex
    except (ValueError, RecursionError):
        return None
    return None


def refuse_broken_json(display: str, before: str | None, after: str, verb: str = "edit") -> None:
    """Raise a ToolError when ``after`` is not valid JSON but ``before`` was: the model sees the
    parser's message and the lines around it, and nothing is written. A new file, or one that did
    not parse before (JSON with comments, a template), may be written in any state."""
    if not is_json(display) or before is None or max(len(before), len(after)) > MAX_CHECKED_CHARS:
        return
    error = json_error(after)
    if error is None or json_error(before) is not None:
        return
    raise ToolError(
        f"the {verb} would leave {display} as invalid JSON ({error.msg} at line {error.lineno}, "
        f"column {error.colno}). The file is unchanged. The lines around it in your version:\n"
        f"{_numbered_around(after, error.lineno)}\n"
        + ("Fix the mistake and send the complete content again." if verb == "write"
           else "Fix the mistake and try again.")
    )


def passes_check(display: str, text: str) -> bool:
    """Whether ``text`` compiles (a ``.py`` file) or parses (a ``.json`` file); True for others."""
    if len(text) > MAX_CHECKED_CHARS:
        return True
    if is_python(display):
        return syntax_error(text, display) is None
    if is_json(display):
        return json_error(text) is None
    return True


#: A whole-file write whose content stops in the middle of its last statement: the usual cause
#: is a double quote in the code that the model did not escape, which ended the JSON string.
_CUT_SHORT = (
    "Your content stops in the middle of its last line: a double quote (\") in the code probably "
    "ended the content string early. Send the complete content again with every double quote in "
    "the code written as \\\" (or use single quotes in the code)."
)


def _problems(text: str, filename: str) -> list[tuple[int, str, tuple]] | None:
    """(line, message, identity) of the undefined names and redefinitions pyflakes finds in
    ``text``; None when pyflakes is missing or ``text`` does not parse. The identity leaves out
    line numbers, so the same problem is recognised before and after an edit."""
    try:
        from pyflakes import checker, messages
    except ImportError:
        return None
    wanted = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport, messages.RedefinedWhileUnused)
    try:
        tree = ast.parse(text, filename)
        found = checker.Checker(tree, filename=filename).messages
    except Exception:  # a checker bug must never break an edit
        return None
    problems = []
    for message in found:
        if isinstance(message, wanted):
            text_ = message.message % message.message_args
            problems.append((message.lineno, text_, (type(message).__name__, message.message_args[0])))
    return sorted(problems)


def python_check_line(display: str, before: str | None, after: str, elsewhere: str = "") -> str:
    """One ``Check:`` line about ``after`` for an accepted change of a ``.py`` file ("" for other
    files): whether it compiles, the undefined names and redefinitions the change introduced
    (problems the file had before are not repeated), and ``elsewhere``: problems the change makes
    in other files (names it removed that they still use)."""
    if not is_python(display) or len(after) > MAX_CHECKED_CHARS:
        return ""
    error = syntax_error(after, display)
    if error is not None:
        return f"Check: still does not compile ({_describe(error)}); it did not compile before this change either."
    problems = _problems(after, display)
    new = []
    if problems is not None:
        earlier = _problems(before, display) if before is not None else []
        known = {identity for _, _, identity in earlier or []}
        new = [(line, text) for line, text, identity in problems if identity not in known]
    stubs = "; ".join(f"{name}() still only raises NotImplementedError" for name in stub_functions(after, display))
    if new or stubs:
        listed = "; ".join(f"line {line}: {text}" for line, text in new[:_MAX_PROBLEMS])
        more = f" (and {len(new) - _MAX_PROBLEMS} more)" if len(new) > _MAX_PROBLEMS else ""
        found = "; ".join(part for part in (listed + more, stubs, elsewhere) if part)
        return f"Check: compiles, but {found}. Fix these unless they are intended."
    if elsewhere:
        return f"Check: compiles, but {elsewhere}. Update those uses too."
    if problems is None:
        return "Check: compiles."
    return "Check: compiles; no new undefined names." if problems else "Check: compiles; no undefined names."


def stub_functions(text: str, display: str) -> list[str]:
    """Module-level functions of ``text`` whose whole body (after the docstring) is ``raise
    NotImplementedError``: a stub the model was asked to implement and left, while saying it had
    (measured: ``implement_parse_duration``). Methods are left out: an abstract method is one."""
    try:
        tree = ast.parse(text, display)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    stubs = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None:
            raised = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
            if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                stubs.append(node.name)
    return stubs


def definitions(text: str, display: str) -> list[str] | None:
    """Names of a module's functions and classes and of the classes' methods (``Cls.name``), in
    order; None when the text does not parse."""
    try:
        tree = ast.parse(text, display)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
            if isinstance(node, ast.ClassDef):
                names.extend(f"{node.name}.{item.name}" for item in node.body
                             if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return names


def removed_top_level_names(before: str, after: str, display: str) -> list[str]:
    """The module-level functions and classes of ``before`` that ``after`` no longer defines
    (renamed or deleted): other files may still use them."""
    if not is_python(display) or max(len(before), len(after)) > MAX_CHECKED_CHARS:
        return []
    old, new = definitions(before, display), definitions(after, display)
    if old is None or new is None:
        return []
    kept = set(new)
    return [name for name in old if "." not in name and name not in kept and not name.startswith("_")]


def definition_start(node: ast.AST) -> int:
    """The first line of a function or class definition: its first decorator, else its
    ``def``/``class`` line."""
    return min([node.lineno] + [d.lineno for d in node.decorator_list])  # type: ignore[attr-defined]


def renamed_to(before: str, after: str, display: str) -> str | None:
    """The new name when the change looks like a rename: it removed exactly one public
    module-level function or class and added exactly one; None otherwise."""
    removed = removed_top_level_names(before, after, display)
    added = removed_top_level_names(after, before, display)
    return added[0] if len(removed) == 1 and len(added) == 1 else None
