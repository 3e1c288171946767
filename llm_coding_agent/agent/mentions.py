"""Files a request names, attached to it so the model starts from their real content.

Users write "fix apply_discount in prices.py" or, Claude Code style, "look at @src/app.py". Strong
models read such a file first; weak ones often guess its content and then fail to edit it. So the
agent reads the named files itself (through ``CodingTools.read_file``: the same confinement, the
same numbered format, and the stale-edit guard learns the file was seen) and sends them along.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ..tools import CODING_TOOL_PREFIX

__all__ = [
    "mentioned_paths", "named_symbols", "defining_paths", "Attachments", "attach_mentioned_files", "request_text",
    "MentionedFiles",
]

#: Files attached to one request at most.
MAX_FILES = 5
#: Lines of one file attached at most (the rest can be read with read_file).
MAX_LINES = 400
#: Mentions looked up at most (a pasted log can name hundreds of paths).
MAX_CANDIDATES = 50

_SEPARATORS = re.compile(r"[\s`'\"()\[\]{}<>,;|=]+")
_HAS_EXTENSION = re.compile(r"[^/]\.[A-Za-z0-9_]{1,10}$")


def mentioned_paths(text: str) -> list[str]:
    """Path-like words in ``text``, in order, without duplicates: ``@anything`` (an explicit
    mention) or a word with a file extension (``prices.py``, ``src/app.ts``). URLs are skipped.
    Whether each names a real file is for the caller to check."""
    found: list[str] = []
    for word in _SEPARATORS.split(text):
        if not word or "://" in word:
            continue
        explicit = word.startswith("@")
        word = word.lstrip("@").rstrip(".:!?")
        if word.startswith("./"):
            word = word[2:]
        if not word or word in found:
            continue
        if explicit or _HAS_EXTENSION.search(word):
            found.append(word)
    return found


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(\()?")
#: Symbols looked up at most (one search for all of them).
MAX_SYMBOLS = 20


def named_symbols(text: str) -> list[str]:
    """Words of ``text`` that name code rather than speak English: ``snake_case``, ``camelCase``,
    ``CamelCase`` with a second capital, or a word called like ``name(``. ``obj.method`` gives
    ``method``. In order, without duplicates."""
    found: list[str] = []
    for match in _WORD.finditer(text):
        dotted = match.group(0).rstrip("(")
        word = dotted.rsplit(".", 1)[-1]
        called = match.group(1) is not None
        codelike = (
            "_" in word
            or "." in dotted and not dotted.endswith(".")
            or any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
            or called
        )
        if codelike and len(word) >= 3 and word not in found:
            found.append(word)
    return found[:MAX_SYMBOLS]


#: A definition of one of the names in ``{names}``, in Python, JavaScript/TypeScript, Go or Rust.
_DEFINITION = r"^\s*(?:export\s+)?(?:pub\s+)?(?:async\s+)?(?:def|class|function|func|fn)\s+(?:{names})\b"
_SEARCH_HIT = re.compile(r"^(.+?):\d+:", re.MULTILINE)
#: Prose files, whose "def name" lines are examples rather than definitions.
_PROSE = (".md", ".rst", ".txt", ".adoc", ".html")


def defining_paths(prompt: str, search: Callable[[str], str]) -> list[str]:
    """The files that define a function or class the request names (the localisation step for a
    request that names no file: "top_words crashes" finds ``wordfreq.py``).

    ``search(regex)`` is ``CodingTools.search_files`` (confined, ignore rules applied); its
    ``path:line: text`` lines are read back. Files in order of the first hit, at most
    :data:`MAX_FILES`.
    """
    symbols = named_symbols(prompt)
    if not symbols:
        return []
    output = search(_DEFINITION.format(names="|".join(re.escape(s) for s in symbols)))
    if output.startswith("Error:"):
        return []
    paths: list[str] = []
    for match in _SEARCH_HIT.finditer(output):
        path = match.group(1)
        if path not in paths and not path.lower().endswith(_PROSE):
            paths.append(path)
    return paths[:MAX_FILES]


@dataclass
class Attachments:
    """What :func:`attach_mentioned_files` attached (``files``) and left out (``skipped``)."""

    text: str = ""
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: The files were found by :func:`defining_paths`, not named.
    located: bool = False


def attach_mentioned_files(
    prompt: str,
    read: Callable[[str, int, int], str],
    size_to_attach: Callable[[str], int | None],
    max_chars: int,
    locate: Callable[[str], list[str]] | None = None,
) -> Attachments:
    """Numbered contents of the existing files ``prompt`` names.

    ``read(path, offset, limit)`` is ``CodingTools.read_file``; ``size_to_attach`` gives the
    size of a mentioned file worth attaching, or None for anything else (not a regular file in
    the project, or one whose current content the model already has). ``max_chars`` bounds all
    files together; a file that does not fit is named in ``skipped`` and not read (the model can
    read it itself). ``locate(prompt)``, when given, names more files to attach when the request
    names none (:func:`defining_paths`); it replaces the mentioned paths.
    """
    result = Attachments()
    blocks: list[str] = []
    used = 0
    candidates = mentioned_paths(prompt)[:MAX_CANDIDATES]
    located = False
    if locate is not None:
        candidates, located = locate(prompt), True
    for path in candidates:
        if len(result.files) >= MAX_FILES:
            break
        size = size_to_attach(path)
        if size is None:
            continue
        if used + min(size, MAX_LINES * 120) > max_chars:
            result.skipped.append(path)
            continue
        content = read(path, 0, MAX_LINES)
        if content.startswith("Error:"):
            continue  # binary, unreadable, refused: the model gets the error if it asks itself
        block = f'<file path="{path}">\n{content.rstrip()}\n</file>'
        used += len(block)
        blocks.append(block)
        result.files.append(path)
    if blocks:
        what = ("or the files that define what it names (found by a search)" if located
                else "as they are now")
        result.text = (
            f"[The files named in the request below, {what} (numbered like read_file; "
            "no need to read them again):]\n" + "\n".join(blocks) + "\n\n"
        )
        result.located = located
    return result


#: What the agent adds in front of a request (the attached files above, notes from the system).
_ATTACHMENTS = re.compile(r"\A\[The files named in the request below.*</file>\n\n", re.DOTALL)
_NOTES = re.compile(r"\A(?:\[Note from the system:[^\n]*\]\n)+\n")
#: Plan mode's note in front of a request (``planning.PLAN_MODE_NOTE``).
_PLAN_NOTE = re.compile(r"\A\[Plan mode:[^\n]*\]\n\n")
#: An autonomous run's note in front of its task, and its continuation messages (``autonomous.py``).
_AUTO_NOTE = re.compile(r"\A\[Autonomous run: [^\n]*\]\n\n")
_AUTO_CONTINUATION = "[Autonomous run, turn "


def request_text(text: str) -> str:
    """The user's own words of a logged request (what the agent added in front removed); ""
    for a message the agent wrote itself (a note from the system)."""
    text = _PLAN_NOTE.sub("", text)
    text = _NOTES.sub("", text)
    text = _AUTO_NOTE.sub("", _ATTACHMENTS.sub("", text))
    return "" if text.startswith(("[Note from the system:", _AUTO_CONTINUATION)) else text


class MentionedFiles:
    """The agent's side (a mixin of :class:`~.loop.CodingAgent`): attach the files a request names,
    read through its own ``CodingTools``."""

    def _attach_mentioned(self, prompt: str) -> str:
        """The numbered contents of the project files ``prompt`` names ("" when none)."""
        if self._tool(f"{CODING_TOOL_PREFIX}read_file") is None:
            return ""
        tools = self.coding_tools

        def size_to_attach(path: str) -> int | None:
            state = tools._file_state(path)
            if state is None or tools._seen_unchanged(*state):
                return None  # not a file in the project, or the model has its content already
            return state[1].st_size

        locate = None
        if self.profile.locate_definitions and not any(tools._file_state(p) for p in mentioned_paths(prompt)):
            locate = lambda request: defining_paths(request, tools.search_files)  # noqa: E731
        attached = attach_mentioned_files(
            prompt,
            read=lambda path, offset, limit: tools.read_file(path, offset, limit),
            size_to_attach=size_to_attach,
            # About a quarter of the window (4 characters per token).
            max_chars=min(60_000, self.context.window),
            locate=locate,
        )
        if attached.files:
            why = "they define what the request names" if attached.located else "named in the request"
            self._notice("attached " + ", ".join(attached.files) + f" ({why})")
        if attached.skipped:
            self._notice("not attached (too large): " + ", ".join(attached.skipped))
        return attached.text
