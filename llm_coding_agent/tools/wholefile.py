"""Whole-file writes that would lose code the model did not mean to remove.

``write_file`` replaces a file's whole content. Models (small ones most, large ones too) send a
shortened version instead: ``# ... rest of the code unchanged``, or only the function they
changed. Written as sent, everything the placeholder stands for is gone. Two checks run on the
proposed content of an existing file, before anything is written:

- an *elision marker*: a new comment line (or bare ellipsis line) saying code was left out;
- under ``prefer_whole_file`` (the small profile, which is told to rewrite small files whole),
  a Python file losing functions or classes: fewer definitions than before, some of the old
  names gone. A rename keeps the count and passes; a deliberate deletion is confirmed by sending
  the same content again (small models may have no ``edit_file`` to delete with).

Under ``lenient_edits`` as well (the small profile), module-level functions and classes the
content leaves out are not refused but kept (:func:`keep_left_out_definitions`): the 1.5B model,
told its write would lose ``format_duration``, sent the same write again, which confirmed the
deletion, and ended with "format_duration is also included".
"""

from __future__ import annotations

import ast
import re

from ..errors import ToolError
from .checks import MAX_CHECKED_CHARS, definition_start, definitions, is_python, syntax_error

__all__ = [
    "elision_markers", "dropped_definitions", "opens_itself", "refuse_lossy_write", "restore_mangled_lines",
    "keep_left_out_definitions",
]

# A comment line (any common comment syntax) that says code was left out...
_COMMENT = r"^\s*(?:#|//|/\*+|<!--|--|;|\*|\{/\*)\s*"
_SAYS_OMITTED = (
    r"(?:rest of|remainder of|existing|previous|unchanged|remains? (?:the )?same|same as before|"
    r"as before|omitted|left out|not shown|other (?:code|methods|functions|classes|fields|lines)|"
    r"more (?:code|methods|functions|lines)|code here|keep (?:the )?(?:rest|existing))"
)
_MARKERS = (
    # "# ... rest of the code", "// ...existing code...", "/* … */", "<!-- ... -->"
    re.compile(_COMMENT + r"(?:\.\.\.|…)(?:.*" + _SAYS_OMITTED + r".*)?\s*(?:\.\.\.|…)?\s*(?:\*/|-->|\*/\})?\s*$", re.I),
    # "# rest of the code remains unchanged" (no ellipsis, an unmistakable phrase)
    re.compile(_COMMENT + r"(?:the )?(?:rest of the (?:code|file|class|function|module|implementation)|"
               r"existing code|remaining code|other (?:methods|functions) (?:remain|unchanged|as before))\b", re.I),
    # a line that is nothing but an ellipsis (outside Python, where ``...`` is a statement)
    re.compile(r"^\s*(?:\.\.\.|…)\s*$"),
)


def elision_markers(before: str, after: str, display: str) -> list[tuple[int, str]]:
    """(line number, line) of the lines of ``after`` that say code was left out and that
    ``before`` did not already contain."""
    old = {line.strip() for line in before.splitlines()}
    found = []
    for number, line in enumerate(after.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped in old:
            continue
        for index, pattern in enumerate(_MARKERS):
            if index == 2 and is_python(display):
                continue  # `...` is a statement in Python (stubs, protocols)
            if pattern.search(line):
                found.append((number, stripped))
                break
    return found


def dropped_definitions(before: str, after: str, display: str) -> list[str]:
    """The functions, classes and methods of a Python file that ``after`` leaves out, when it has
    fewer of them than ``before`` (a rename keeps the count and is not a drop)."""
    if not is_python(display) or max(len(before), len(after)) > MAX_CHECKED_CHARS:
        return []
    old, new = definitions(before, display), definitions(after, display)
    if old is None or new is None or len(new) >= len(old):
        return []
    kept = set(new)
    return [name for name in old if name not in kept]


def refuse_lossy_write(display: str, before: str | None, after: str, check_definitions: bool,
                       confirmed: bool = False) -> None:
    """Raise a ToolError when writing ``after`` over ``before`` would lose code: an elision
    marker, or (``check_definitions``) dropped Python definitions, unless ``confirmed`` (the
    model sent the same content again after being told). Nothing to check for a new file."""
    if before is None or not before.strip():
        return
    markers = elision_markers(before, after, display)
    if markers:
        number, line = markers[0]
        raise ToolError(
            f"{display} was not written: line {number} of your content ({line[:80]}) stands for code "
            "you left out, and write_file replaces the whole file, so that code would be lost. Send "
            f"the complete content of {display} (every line, changed or not), or change only part "
            "of it with edit_file."
        )
    opener = check_definitions and opens_itself(display, before, after)
    if opener:
        raise ToolError(
            f"{display} was not written: your content is a script that opens {display} itself "
            f"({opener}), and write_file does not run it: it would become the file. Send the "
            f"complete new content of {display} instead, every line as it should read after the change."
        )
    if check_definitions and not confirmed:
        dropped = dropped_definitions(before, after, display)
        if dropped:
            names = ", ".join(dropped[:8]) + (f" and {len(dropped) - 8} more" if len(dropped) > 8 else "")
            raise ToolError(
                f"{display} was not written: your content leaves out {names}, which the file "
                "defines now, and write_file replaces the whole file, so they would be lost. Send "
                f"the complete content of {display} with every function and class kept. If you "
                "do mean to delete them, send this same write_file call again."
            )


def opens_itself(display: str, before: str, after: str) -> str:
    """The ``open(...)`` of the file itself in content meant to replace it ("" if none, or if the
    file already had one): the 1.5B model sent ``with open('dates.py') as f: lines = ...`` as
    the new content of dates.py, a script to edit the file, and sent it twice (which confirms a
    deletion), so the module was replaced by the script."""
    name = re.escape(display.rsplit("/", 1)[-1])
    pattern = re.compile(rf"""open\(\s*[rbuf]?['"](?:\./)?(?:[\w./-]*/)?{name}['"]""")
    found = pattern.search(after)
    return "" if found is None or pattern.search(before) else found.group(0)


#: Lines of a write restored from the file, at most (more is not a copying slip but a rewrite).
_MAX_RESTORED = 3
_QUOTES_AND_SPACE = re.compile(r"[\"'\s]")


def restore_mangled_lines(display: str, before: str, after: str) -> tuple[str, list[int]]:
    """``after`` with the lines that keep it from compiling put back as ``before`` has them, when
    each differs from a line of ``before`` only in quotes and spaces, and the result compiles;
    (the content, the line numbers restored), or (``after``, []) when there is nothing to do.

    Small models copy a file into a JSON string and lose quotes on the way: the 1.5B model wrote
    a right fix of ``accounts.py`` whose module docstring ``\"\"\"A minimal bank account.\"\"\"``
    had become ``"A minimal bank account.``, and the write was refused. A line the model did not
    mean to change is taken back from the file; nothing it did mean to change is touched, since a
    line that differs in anything but quotes and spaces stops the repair."""
    if not is_python(display) or len(after) > MAX_CHECKED_CHARS or syntax_error(before, display):
        return after, []
    originals: dict[str, str] = {}
    for line in before.splitlines():
        originals.setdefault(_QUOTES_AND_SPACE.sub("", line), line)
    lines = after.splitlines()
    restored: list[int] = []
    while (error := syntax_error("\n".join(lines) + "\n", display)) is not None:
        at = (error.lineno or 0) - 1
        if len(restored) >= _MAX_RESTORED or not 0 <= at < len(lines):
            return after, []
        key = _QUOTES_AND_SPACE.sub("", lines[at])
        original = originals.get(key)
        if not key or original is None or original == lines[at]:
            return after, []
        lines[at] = original
        restored.append(at + 1)
    if not restored:
        return after, []
    return "\n".join(lines) + ("\n" if after.endswith("\n") else ""), restored


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _body_shape(node: ast.AST) -> str:
    """What a definition does, whatever its name and docstring: a renamed function has the same
    shape (small models drop docstrings when they rewrite a file)."""
    body = node.body  # type: ignore[attr-defined]
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return "\n".join(ast.dump(statement) for statement in body)


def keep_left_out_definitions(display: str, before: str, after: str) -> tuple[str, list[str]]:
    """``after`` with the module-level functions and classes of ``before`` that it leaves out put
    back, each after the definition that preceded it in ``before`` (or before the first
    definition of ``after``, else before an ``if __name__`` block, else at the end); (the
    content, the names kept), or (``after``, []) when nothing is left out or the result would
    not compile. A definition whose body reappears under a new name, or the one definition left
    out when the content adds one, was renamed, not left out."""
    if not is_python(display) or max(len(before), len(after)) > MAX_CHECKED_CHARS:
        return after, []
    try:
        old_tree, new_tree = ast.parse(before, display), ast.parse(after, display)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return after, []
    old, new = _top_level(old_tree), _top_level(new_tree)
    added = {name: _body_shape(node) for name, node in new.items() if name not in old}
    removed = {name: _body_shape(node) for name, node in old.items() if name not in new}
    missing = [name for name, shape in removed.items() if shape not in added.values()]
    unmatched = [name for name, shape in added.items() if shape not in removed.values()]
    if not missing or (len(missing) == 1 and len(unmatched) == 1):  # one out, one in: a rename
        return after, []
    old_lines, lines = before.splitlines(), after.splitlines()
    order = list(old)
    for name in missing:
        node = old[name]
        source = old_lines[definition_start(node) - 1:node.end_lineno]
        at = _insertion_line(lines, display, order[:order.index(name)])
        before_gap = ["", ""] if at > 0 and lines[at - 1].strip() else []
        after_gap = ["", ""] if at < len(lines) and lines[at].strip() else []
        lines[at:at] = before_gap + source + after_gap
    merged = "\n".join(lines) + "\n"
    if syntax_error(merged, display) is not None:
        return after, []
    return merged, missing


def _insertion_line(lines: list[str], display: str, earlier: list[str]) -> int:
    """Where a definition goes in ``lines``: after the last of ``earlier`` still defined, else
    before the first definition, else before ``if __name__ ==``, else at the end."""
    tree = ast.parse("\n".join(lines) + "\n", display)
    defined = _top_level(tree)
    for name in reversed(earlier):
        if name in defined:
            return defined[name].end_lineno or len(lines)
    nodes = sorted(defined.values(), key=lambda n: n.lineno)
    if nodes:
        return definition_start(nodes[0]) - 1
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.dump(node.test):
            return node.lineno - 1
    return len(lines)
