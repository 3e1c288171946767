"""Tab completion in ``llm code``'s prompt: session commands, ``@`` file mentions, model ids.

- ``!he`` / ``/he`` → ``!help``: the session commands, when the message so far is one word
  starting with ``!`` or ``/``;
- ``!model gpt-4`` → the ids and aliases of the models that can use tools;
- ``look at @src/ap`` → ``@src/app.py``: project paths relative to the root, a directory level
  at a time (a directory completes with a trailing ``/``), leaving out what ``list_files`` leaves
  out (hidden directories, ``node_modules``, ``__pycache__``, ``.gitignore``'d entries, symlinks).

Imported only when the interactive prompt is first shown (it needs prompt_toolkit).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ..tools.search import directory_entries

__all__ = ["SessionCompleter", "tool_model_ids", "MAX_PATH_CANDIDATES"]

#: Paths offered at most for one ``@`` mention (a directory of thousands stays quick to show).
MAX_PATH_CANDIDATES = 50

_COMMAND_WORD = re.compile(r"^([!/])(\w*)$")
_MODEL_ARGUMENT = re.compile(r"^[!/]model\s+(\S*)$", re.IGNORECASE)
_MENTION = re.compile(r"(?:^|\s)(@[^\s]*)$")


def tool_model_ids() -> list[str]:
    """Ids and aliases of the models that can use tools (what ``!model`` can switch to)."""
    import llm

    names: list[str] = []
    for entry in llm.get_models_with_aliases():
        if getattr(entry.model, "supports_tools", False):
            names += [entry.model.model_id, *entry.aliases]
    return names


class SessionCompleter(Completer):
    """Completions for one ``llm code`` session. ``root`` gives the project root (it can change
    with ``!resume``); ``model_ids`` the models, looked up once, on the first ``!model`` Tab."""

    def __init__(
        self,
        commands: Iterable[str],
        root: Callable[[], Path | str],
        model_ids: Callable[[], list[str]] = tool_model_ids,
    ):
        self.commands = sorted(commands)
        self.root = root
        self._model_ids = model_ids
        self._models: list[str] | None = None

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        command = _COMMAND_WORD.match(text)
        if command:
            prefix, word = command.groups()
            for name in self.commands:
                if name.startswith(word.lower()):
                    yield Completion(prefix + name, start_position=-len(text), display=prefix + name)
            return
        model = _MODEL_ARGUMENT.match(text)
        if model:
            yield from self._model_completions(model.group(1))
            return
        mention = _MENTION.search(text)
        if mention:
            yield from self._path_completions(mention.group(1))

    def _model_completions(self, word: str) -> Iterator[Completion]:
        if self._models is None:
            try:
                self._models = list(dict.fromkeys(self._model_ids()))
            except Exception:  # a broken model plugin must not break the prompt
                self._models = []
        low = word.lower()
        for name in self._models:
            if name.lower().startswith(low):
                yield Completion(name, start_position=-len(word))

    def _path_completions(self, mention: str) -> Iterator[Completion]:
        """``@dir/na`` → the entries of ``dir`` starting with ``na`` (directories first)."""
        typed = mention[1:]
        directory, _, name = typed.rpartition("/")
        if typed.startswith("/") or ".." in directory.split("/"):
            return  # mentions are relative to the project root and stay inside it
        dirs, files = directory_entries(Path(self.root()), directory)
        lead = directory + "/" if directory else ""
        count = 0
        for entry, is_dir in [(d, True) for d in dirs] + [(f, False) for f in files]:
            if not entry.startswith(name) or (entry.startswith(".") and not name.startswith(".")):
                continue
            if count >= MAX_PATH_CANDIDATES:
                return
            count += 1
            shown = entry + ("/" if is_dir else "")
            yield Completion("@" + lead + shown, start_position=-len(mention), display=shown)
