"""Editing a proposed file change in the user's editor (the ``e`` answer of an approval).

The proposed new content goes into a temporary file named like the target (so the editor picks
the right syntax), the editor runs in the terminal, and the text it leaves is the user's version.
Which editor: ``$VISUAL``, then ``$EDITOR``, then ``vi``, split like a shell word list
(``EDITOR="code --wait"`` works).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EditOutcome", "editor_command", "edit_text"]


@dataclass
class EditOutcome:
    """The edited text, or (``text`` None) why there is none, in a few words for the user."""

    text: str | None
    problem: str = ""


def editor_command() -> list[str]:
    """The editor to run, as arguments: ``$VISUAL``, else ``$EDITOR``, else ``vi``."""
    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
            if words:
                return words
    return ["vi"]


def edit_text(text: str, path: str, *, terminal: bool = True) -> EditOutcome:
    """Let the user edit ``text`` (the proposed content of ``path``) in their editor.

    Returns the edited text when the editor exited 0 and changed it; otherwise why not (the
    editor failed to start or exited non-zero, or nothing was changed). ``terminal`` False
    (piped input) gives the editor no standard input, so it cannot swallow the lines meant as
    answers and messages.
    """
    command = editor_command()
    directory = tempfile.mkdtemp(prefix="llm-code-edit-")
    target = Path(directory) / (Path(path).name or "file")
    try:
        # newline="" keeps the text's own line endings (a CRLF file stays CRLF).
        target.write_text(text, encoding="utf-8", newline="")
        try:
            completed = subprocess.run(
                [*command, str(target)], stdin=None if terminal else subprocess.DEVNULL, check=False
            )
        except OSError as ex:
            return EditOutcome(None, f"could not start the editor {command[0]!r} ({ex.strerror or ex}); "
                                     "set VISUAL or EDITOR")
        if completed.returncode != 0:
            return EditOutcome(None, f"the editor exited with status {completed.returncode}; nothing was taken")
        try:
            with open(target, encoding="utf-8", newline="") as f:
                edited = f.read()
        except (OSError, UnicodeDecodeError) as ex:
            return EditOutcome(None, f"could not read the edited file back ({ex})")
        if edited == text:
            return EditOutcome(None, "the content was left unchanged")
        return EditOutcome(edited)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
