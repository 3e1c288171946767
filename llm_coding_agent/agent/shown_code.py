"""Code a model shows in its answer instead of writing it: the nudge that hands it the call.

The 1.5B model often ends a run by printing the fixed function in prose ("Here's the updated
code: ...") and, asked to apply it, answers "No change is needed" (the generic nudge,
:data:`.guards.UNAPPLIED_CODE_NUDGE`, asks it to read the file and write it whole: one step too
many). When a Python block of the answer redefines functions or classes that one project file
defines at the top level, :func:`suggested_write` builds that file with those definitions
replaced, and :data:`SHOWN_CODE_NUDGE` puts the finished ``write_file`` call in the reply, so all
that is left to the model is to send it. The answer itself never becomes a call: the model
decides, and its call goes through approval like any other. Chosen per model
(``ModelProfile.suggest_shown_code``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError
from ..tools import search
from ..tools.checks import definition_start, syntax_error
from ..tools.wholefile import elision_markers
from .guards import CHANGE_WITH_EDITS, CHANGE_WITH_WRITES, UNAPPLIED_CODE_NUDGE, shows_unapplied_code

__all__ = ["SHOWN_CODE_NUDGE", "ShownCode", "SuggestedWrite", "suggested_write", "shown_definitions", "merged_content"]

#: Sent when the answer shows definitions that differ from the project file defining them.
SHOWN_CODE_NUDGE = (
    "[Note from the system: your answer shows a new version of {names} from {path}, but {path} "
    "was not changed: nobody will copy it over for you, only a write_file call changes the file. "
    "If that code was not meant as the change, tell the user why instead of calling. If it was, "
    "send this call now: write_file with path \"{path}\" and this complete content:\n"
    "```python\n{content}```]"
)
# The call is the last thing the model reads: ending on "If no change is needed, say so in one
# sentence" made the 1.5B model (which decodes greedily) answer "No change is needed." after
# showing the right fix (fix_discount_operator, fix_traceback_stock_report, 2026-12-06 runs).
#: Files larger than this are not offered whole: the call would not fit a small model's answer
#: (``ModelProfile.max_output_tokens``, 1,024 tokens: ~3,500 characters of code).
MAX_SUGGESTED_CHARS = 3000
_BLOCK = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class SuggestedWrite:
    """A ``write_file`` call the model can send: ``path`` (relative to the root), its complete
    new ``content``, and the ``names`` of the definitions the answer showed."""

    path: str
    content: str
    names: tuple[str, ...]

    def nudge(self) -> str:
        names = ", ".join(f"`{name}`" for name in self.names)
        return SHOWN_CODE_NUDGE.format(names=names, path=self.path, content=self.content)


def shown_definitions(text: str) -> tuple[dict[str, str], list[str]]:
    """The top-level functions and classes of the answer's Python blocks (name → source, the last
    one shown wins) and the import lines shown beside them. Blocks that do not parse are skipped:
    they are prose, a shell session or a fragment, not a definition to write."""
    found: dict[str, str] = {}
    imports: list[str] = []
    for match in _BLOCK.finditer(text):
        code = match.group(1)
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        lines = code.splitlines()
        for node in tree.body:
            if isinstance(node, _DEFINITION) and not _has_placeholder(node):
                found[node.name] = "\n".join(lines[definition_start(node) - 1:node.end_lineno])
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.extend(lines[node.lineno - 1:node.end_lineno])
    return found, imports


def _has_placeholder(node: ast.AST) -> bool:
    """A function of ``node`` (or ``node`` itself) whose body is only ``...`` or ``pass`` (after
    a docstring): a sketch that would replace real code with nothing."""
    for item in ast.walk(node):
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = item.body[1:] if _is_docstring(item.body[0]) else item.body
            if all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                and s.value.value is Ellipsis) for s in body):
                return True
    return False


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def merged_content(original: str, shown: dict[str, str], imports: list[str]) -> str | None:
    """``original`` with each definition it has among ``shown`` replaced by the shown source,
    shown definitions it lacks added after the last replaced one, and shown imports it lacks
    added after its own; None when nothing it defines was shown, when the result does not
    compile, would bring in an elision marker (``# ... rest unchanged``), or would not change
    the file."""
    try:
        tree = ast.parse(original)
    except (SyntaxError, ValueError):
        return None
    spans = {}
    for node in tree.body:
        if isinstance(node, _DEFINITION) and node.name in shown:
            spans[node.name] = (definition_start(node), node.end_lineno)
    if not spans:
        return None
    lines = original.splitlines()
    new_names = [name for name in shown if name not in spans and not _defined_anywhere(tree, name)]
    last = max(spans, key=lambda name: spans[name][1])
    for name, (start, end) in sorted(spans.items(), key=lambda item: -item[1][0]):
        block = shown[name].splitlines()
        if name == last:
            for extra in new_names:
                block += ["", ""] + shown[extra].splitlines()
        lines[start - 1:end] = block
    present = {line.strip() for line in original.splitlines()}
    missing = [line for line in imports if line.strip() not in present]
    if missing:
        anchor = max((node.end_lineno for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))),
                     default=_after_docstring(tree))
        lines[anchor:anchor] = missing
    merged = "\n".join(lines) + "\n"
    if elision_markers(original, merged, "shown.py"):
        return None
    if syntax_error(merged, "shown.py") is not None:
        return None
    return None if merged.strip() == original.strip() else merged


def _defined_anywhere(tree: ast.Module, name: str) -> bool:
    return any(isinstance(node, _DEFINITION) and node.name == name for node in ast.walk(tree))


def _after_docstring(tree: ast.Module) -> int:
    return tree.body[0].end_lineno if tree.body and _is_docstring(tree.body[0]) else 0


def suggested_write(text: str, root: Path) -> SuggestedWrite | None:
    """The write that applies the definitions ``text`` shows to the one project file defining
    most of them at the top level (a search of the ``*.py`` files under ``root``, ignored files
    left out); None when the answer shows none, no file or two files define them equally, the
    file is larger than :data:`MAX_SUGGESTED_CHARS`, or the file has them already."""
    shown, imports = shown_definitions(text)
    if not shown:
        return None
    names = "|".join(re.escape(name) for name in shown)
    try:
        hits = search.search_files(root, root, rf"^(?:async\s+def|def|class)\s+({names})\b", "*.py", 200)
    except ToolError:
        return None
    defined: dict[str, set[str]] = {}
    for match in re.finditer(rf"^(.+?):\d+:(?:async\s+def|def|class)\s+({names})\b", hits, re.MULTILINE):
        defined.setdefault(match.group(1), set()).add(match.group(2))
    if not defined:
        return None
    ranked = sorted(defined.items(), key=lambda item: -len(item[1]))
    if len(ranked) > 1 and len(ranked[1][1]) == len(ranked[0][1]):
        return None
    path, names_here = ranked[0]
    elsewhere = set().union(*(found for other, found in ranked[1:])) - names_here
    try:
        original = (root / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if len(original) > MAX_SUGGESTED_CHARS:
        return None
    wanted = {name: source for name, source in shown.items() if name not in elsewhere}
    merged = merged_content(original, wanted, imports)
    if merged is None or len(merged) > MAX_SUGGESTED_CHARS:
        return None
    return SuggestedWrite(path, merged, tuple(name for name in shown if name in names_here))


#: Ready-made writes offered in one run (each a different content).
MAX_SUGGESTIONS = 2


class ShownCode:
    """The nudges of :class:`~llm_coding_agent.CodingAgent` for code an answer shows but no tool
    wrote (a mixin, like :class:`~.calls.ToolCalls`): it relies on the agent's ``root``,
    ``config``, ``profile`` and ``_notice``."""

    def unapplied_code_nudge(self, result, run) -> str | None:
        """What to send back when ``result``'s answer shows code that is not in the project
        (headless runs, ``config.nudge_unapplied``): the finished ``write_file`` call when the
        profile hands one over and the answer redefines what one file defines (up to
        :data:`MAX_SUGGESTIONS` per run, the same content again only after a check of the
        request's examples or the tests ran in between), else, once per run,
        :data:`.guards.UNAPPLIED_CODE_NUDGE` when no file was changed; None otherwise."""
        if not self.config.nudge_unapplied:
            return None
        if self.profile.suggest_shown_code and len(run.suggested) < MAX_SUGGESTIONS:
            suggestion = suggested_write(result.text, self.root)
            # The same version again only once a check failed since: the model has new evidence.
            offered = (suggestion.content, run.test_checks) if suggestion else None
            if suggestion and offered not in run.suggested:
                run.suggested.add(offered)
                run.nudged = True
                self._notice(f"the answer shows a new version of {', '.join(suggestion.names)} but "
                             f"{suggestion.path} was not changed; handing the model the write_file call")
                return suggestion.nudge()
        if run.nudged or not shows_unapplied_code(result):
            return None
        run.nudged = True
        self._notice("the answer shows code but no file was changed; asking the model to apply it")
        # Name only the tools the model has (small models have no edit_file).
        change = CHANGE_WITH_EDITS if self.profile.offers_edit_file else CHANGE_WITH_WRITES
        return UNAPPLIED_CODE_NUDGE.format(change=change)
