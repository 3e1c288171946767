"""Custom commands: Markdown files whose body is a prompt, run as ``!NAME args`` in ``llm code``.

Claude Code's format, read where users already keep them: ``.llm-code/commands/`` and
``.claude/commands/`` in the project (they count only in a trusted project, see :mod:`.trust`),
and ``<llm user dir>/llm-code/commands/`` for the user. The file name is the command's name
(``review.md`` is ``!review``; files in subfolders keep their own name, the folder shows in the
help). The frontmatter is optional: ``description`` (the help line) and ``argument-hint`` are
used, the rest (``allowed-tools``, ``model``) is ignored.

The body is sent as the user's message with the arguments substituted: ``$ARGUMENTS`` is all of
them, ``$1``, ``$2``... one each (quotes group words, as in a shell). A body with no placeholder
gets the arguments appended. :func:`expand_command` does this for API users.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import llm

from .catalog import ProjectCatalog
from .frontmatter import read_frontmatter_file
from .skills import display_path

__all__ = ["CustomCommand", "CommandCatalog", "discover_commands", "expand_command", "PROJECT_COMMAND_DIRS"]

#: The project's command folders, relative to the project root, first one winning.
PROJECT_COMMAND_DIRS = (".llm-code/commands", ".claude/commands")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_POSITIONAL = re.compile(r"\$([1-9][0-9]?)")
#: A command file larger than this is not a prompt.
MAX_COMMAND_BYTES = 100_000


def expand_command(body: str, arguments: str = "") -> str:
    """``body`` with ``$ARGUMENTS`` and ``$1``... replaced by ``arguments``; without any
    placeholder, non-empty arguments are appended on a line of their own."""
    arguments = arguments.strip()
    has_placeholder = "$ARGUMENTS" in body or _POSITIONAL.search(body)
    if not has_placeholder:
        return body.rstrip() + (f"\n\nARGUMENTS: {arguments}" if arguments else "")
    try:
        words = shlex.split(arguments)
    except ValueError:  # an unclosed quote: split on spaces rather than refuse
        words = arguments.split()
    text = body.replace("$ARGUMENTS", arguments)
    text = _POSITIONAL.sub(lambda m: words[int(m.group(1)) - 1] if int(m.group(1)) <= len(words) else "", text)
    return text.rstrip()


@dataclass
class CustomCommand:
    """One command file."""

    name: str
    description: str
    path: Path
    source: str
    """``project`` or ``user``."""
    where: str
    """Its file as the user would write it (``.claude/commands/review.md``)."""
    body: str = field(repr=False, default="")
    argument_hint: str = ""
    raw: bytes = field(repr=False, default=b"")
    """The file's bytes as read (what the project's trust is given to)."""

    def expand(self, arguments: str = "") -> str:
        """The message this command sends for ``arguments``."""
        return expand_command(self.body, arguments)


def load_command(path: Path, source: str, where: str) -> CustomCommand:
    """The command of one file; raises ValueError saying why it cannot be used."""
    fields, body, raw = read_frontmatter_file(path, MAX_COMMAND_BYTES)
    name = path.stem.lower()
    if not _NAME.match(name):
        raise ValueError(f"{name!r} cannot be a command name (letters, digits, '-', '_' and '.' only)")
    if not body.strip():
        raise ValueError("it has no prompt after the frontmatter")
    description = fields.get("description")
    if not isinstance(description, str) or not description.strip():
        description = _first_line(body)
    hint = fields.get("argument-hint") or fields.get("argument_hint") or ""
    if isinstance(hint, list):  # `argument-hint: [file] [focus]` reads as YAML lists
        hint = " ".join(f"[{' '.join(map(str, h)) if isinstance(h, list) else h}]" for h in hint)
    return CustomCommand(
        name=name, description=" ".join(description.split()), path=path, source=source, where=where,
        body=body, argument_hint=str(hint).strip(), raw=raw,
    )


def command_folders(root: Path | None) -> list[tuple[str, Path, str]]:
    """``(source, folder, as written)`` for every place commands are looked up, first one winning."""
    folders = []
    if root is not None:
        folders += [("project", Path(root) / d, d) for d in PROJECT_COMMAND_DIRS]
    user = llm.user_dir() / "llm-code" / "commands"
    folders.append(("user", user, display_path(user)))
    return folders


@dataclass
class CommandCatalog(ProjectCatalog[CustomCommand]):
    """Every command file found, and which of them ``!NAME`` runs."""

    @property
    def commands(self) -> dict[str, CustomCommand]:
        """The commands that run, by name: for each name the first usable one found."""
        return self.offered()

    def get(self, name: str) -> CustomCommand | None:
        return self.commands.get(str(name).strip().lower())

    def expand(self, name: str, arguments: str = "") -> str:
        """The message ``!name arguments`` sends; KeyError for a command that does not exist."""
        command = self.get(name)
        if command is None:
            raise KeyError(f"no custom command {name!r}; there are: {', '.join(self.commands) or 'none'}")
        return command.expand(arguments)


def discover_commands(root: Path | None, project_trusted: bool = False) -> CommandCatalog:
    """Every command file in the lookup folders. A file that cannot be used is left out with a
    warning in ``warnings``; it never stops the others."""
    catalog = CommandCatalog(project_trusted=project_trusted)
    for source, folder, where in command_folders(root):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.md")):
            relative = path.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            label = f"{where}/{relative.as_posix()}"
            try:
                command = load_command(path, source, label)
            except OSError as ex:
                catalog.warnings.append(f"command {label} skipped: it cannot be read ({ex.strerror or ex})")
                continue
            except ValueError as ex:
                catalog.warnings.append(f"command {label} skipped: {ex}")
                continue
            if len(relative.parts) > 1:  # .claude/commands/frontend/component.md: "(frontend)"
                command.description += f" ({'/'.join(relative.parts[:-1])})"
            clash = next((c for c in catalog.found if c.name == command.name and c.source == source), None)
            if clash is not None:
                catalog.warnings.append(f"command {label} skipped: {clash.where} already defines !{command.name}")
                continue
            catalog.found.append(command)
    return catalog


def _first_line(body: str) -> str:
    for line in body.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= 80 else line[:79] + "…"
    return ""
