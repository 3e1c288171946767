"""Skills in the open Agent Skills format: a folder ``NAME/SKILL.md`` whose frontmatter gives a
``name`` and a ``description``, and whose body holds instructions for one kind of task (plus,
optionally, other files: ``scripts/``, ``references/``...).

Where they are looked up, first match wins for a name:

- the project: ``.llm-code/skills``, ``.agents/skills``, ``.claude/skills`` (they count only in a
  trusted project, see :mod:`.trust`);
- the user: ``<llm user dir>/llm-code/skills``, ``~/.agents/skills``, ``~/.claude/skills``;
- the built-in ones shipped in ``builtin_skills/``.

So a project's skill overrides the user's of the same name, and the user's a built-in one.
Progressive disclosure, as other agents do it: only names and descriptions go into the system
prompt (:meth:`SkillCatalog.prompt_section`); the body is loaded when the model (``activate_skill``)
or the user (``!skill NAME``) activates the skill (:meth:`Skill.activation_text`), and the other
files of its folder when the model asks for them (:meth:`Skill.read_resource`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import llm

from .catalog import ProjectCatalog
from .frontmatter import read_frontmatter_file

__all__ = [
    "Skill",
    "SkillCatalog",
    "discover_skills",
    "load_skill",
    "skill_folders",
    "BUILTIN_SKILLS_DIR",
    "PROJECT_SKILL_DIRS",
    "SKILL_FILE",
    "display_path",
]

SKILL_FILE = "SKILL.md"
#: The project's skill folders, relative to the project root, first one winning.
PROJECT_SKILL_DIRS = (".llm-code/skills", ".agents/skills", ".claude/skills")
#: The skills shipped with the package.
BUILTIN_SKILLS_DIR = Path(__file__).resolve().parent / "builtin_skills"
#: The format's limits: a name of lower-case letters, digits and hyphens, up to 64 characters;
#: a description up to 1024 characters.
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_DESCRIPTION = 1024
#: A SKILL.md larger than this is not a skill anyone meant to send a model whole.
MAX_SKILL_BYTES = 200_000
#: Characters of a skill's body (or of one of its other files) sent at most.
MAX_BODY_CHARS = 30_000
#: Other files of a skill's folder listed at most.
MAX_LISTED_FILES = 40
#: Characters of a description shown in the small profile's system prompt.
SHORT_DESCRIPTION = 120


@dataclass
class Skill:
    """One skill: where it came from, what it is for, and its instructions."""

    name: str
    description: str
    path: Path
    """Its ``SKILL.md``."""
    source: str
    """``project``, ``user`` or ``built-in``."""
    where: str
    """The folder it was found in, as the user would write it (``.claude/skills``, ``~/.agents/skills``)."""
    body: str = field(repr=False, default="")
    raw: bytes = field(repr=False, default=b"")
    """The file's bytes as read (what the project's trust is given to)."""

    @property
    def folder(self) -> Path:
        return self.path.parent

    def files(self) -> list[str]:
        """The other files of the skill's folder (relative paths), hidden ones left out."""
        found = []
        for dirpath, dirnames, filenames in os.walk(self.folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or path == self.path:
                    continue
                found.append(path.relative_to(self.folder).as_posix())
                if len(found) > MAX_LISTED_FILES:
                    return found
        return found

    def activation_text(self, root: Path | None = None) -> str:
        """What the model reads when the skill is activated: its body, then its other files and
        how to read them (``read_file`` inside the project, ``activate_skill`` with ``file`` outside)."""
        body = self.body.strip()
        if len(body) > MAX_BODY_CHARS:
            body = body[:MAX_BODY_CHARS] + f"\n[... the rest of {SKILL_FILE} was left out: it is too long]"
        text = f"Skill {self.name} ({self.where}/{self.folder.name}/{SKILL_FILE}):\n\n{body}"
        files = self.files()
        if files:
            shown = ", ".join(files[:MAX_LISTED_FILES]) + (", ..." if len(files) > MAX_LISTED_FILES else "")
            inside = _relative_to(self.folder, root) if root is not None else None
            how = (f"read them with read_file under {inside}/" if inside is not None else
                   f'read one with activate_skill(name="{self.name}", file="PATH")')
            text += f"\n\nFiles in this skill's folder ({how}): {shown}"
        return text

    def read_resource(self, relative: str) -> str:
        """The text of one of the skill's other files; raises ValueError saying what is wrong."""
        target = (self.folder / relative).resolve()
        folder = self.folder.resolve()
        if target == folder or folder not in target.parents:
            raise ValueError(f"{relative!r} is not a file inside the skill {self.name}'s folder")
        if not target.is_file():
            raise ValueError(
                f"the skill {self.name} has no file {relative!r}; its files: " + (", ".join(self.files()) or "none")
            )
        data = target.read_bytes()
        if b"\0" in data[:4096]:
            raise ValueError(f"{relative!r} is a binary file; only text files can be read")
        text = data.decode("utf-8", errors="replace")
        if len(text) > MAX_BODY_CHARS:
            text = text[:MAX_BODY_CHARS] + f"\n[... the rest of {relative} was left out: it is too long]"
        return text


def load_skill(skill_file: Path, source: str, where: str) -> Skill:
    """The skill of one ``SKILL.md``; raises ValueError saying why it cannot be used."""
    fields, body, raw = read_frontmatter_file(skill_file, MAX_SKILL_BYTES)
    if not fields:
        raise ValueError("it has no frontmatter: start it with ---, name: ..., description: ..., ---")
    name = fields.get("name") or skill_file.parent.name
    name = re.sub(r"[\s_]+", "-", str(name).strip()).lower()
    if not _NAME.match(name):
        raise ValueError(f"its name {name!r} must be lower-case letters, digits and hyphens (at most 64)")
    description = fields.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("its frontmatter has no description (say what the skill is for and when to use it)")
    description = " ".join(description.split())[:MAX_DESCRIPTION]
    if not body.strip():
        raise ValueError("it has no instructions after the frontmatter")
    return Skill(name=name, description=description, path=skill_file, source=source, where=where, body=body, raw=raw)


def skill_folders(root: Path | None, home: Path | None = None) -> list[tuple[str, Path, str]]:
    """``(source, folder, as written)`` for every place skills are looked up, first one winning."""
    home = Path(home) if home is not None else Path.home()
    folders = []
    if root is not None:
        folders += [("project", Path(root) / d, d) for d in PROJECT_SKILL_DIRS]
    user = llm.user_dir() / "llm-code" / "skills"
    folders += [
        ("user", user, display_path(user, home)),
        ("user", home / ".agents" / "skills", "~/.agents/skills"),
        ("user", home / ".claude" / "skills", "~/.claude/skills"),
        ("built-in", BUILTIN_SKILLS_DIR, "built-in"),
    ]
    return folders


@dataclass
class SkillCatalog(ProjectCatalog[Skill]):
    """Every skill found, and which of them the model is offered."""

    @classmethod
    def of(cls, skills) -> "SkillCatalog":
        """A catalog of exactly ``skills`` (:class:`Skill` objects or paths of skill folders)."""
        catalog = cls(project_trusted=True)
        for item in skills:
            if isinstance(item, Skill):
                catalog.found.append(item)
                continue
            folder = Path(item).expanduser()
            try:
                catalog.found.append(load_skill(folder / SKILL_FILE, "given", str(folder.parent)))
            except (OSError, ValueError) as ex:
                raise ValueError(f"{folder / SKILL_FILE}: {getattr(ex, 'strerror', None) or ex}") from None
        return catalog

    @property
    def skills(self) -> dict[str, Skill]:
        """The skills offered, by name: for each name the first usable one found."""
        return self.offered()

    def __bool__(self) -> bool:
        return bool(self.skills)

    def get(self, name: str) -> Skill | None:
        return self.skills.get(str(name).strip().lower())

    def overridden(self, skill: Skill) -> Skill | None:
        """The skill of the same name that ``skill`` hides (a user skill under a project one...)."""
        later = [s for s in self.found if s.name == skill.name and s.source != skill.source and self.usable(s)]
        return later[0] if later and self.skills.get(skill.name) is skill else None

    def prompt_section(self, compact: bool = False) -> str:
        """The system prompt's list of skills: names and descriptions only (the small profile
        gets one short line per skill)."""
        skills = list(self.skills.values())
        if not skills:
            return ""
        if compact:
            lines = ["Skills (when one fits the task, call activate_skill with its name first):"]
            lines += [f"- {s.name}: {_first_sentence(s.description)}" for s in skills]
        else:
            lines = [
                "Skills: instructions for particular kinds of task, loaded when needed. When the "
                "request matches a skill's description, call activate_skill with its name before you "
                "start, and follow the instructions it returns.",
            ]
            lines += [f"- {s.name}: {s.description}" for s in skills]
        return "\n".join(lines)


def discover_skills(root: Path | None, home: Path | None = None, project_trusted: bool = False) -> SkillCatalog:
    """Every skill in the lookup folders (see the module docstring). A skill that cannot be used
    is left out with a warning in ``warnings``; it never stops the others."""
    catalog = SkillCatalog(project_trusted=project_trusted)
    for source, folder, where in skill_folders(root, home):
        if not folder.is_dir():
            continue
        try:
            entries = sorted(folder.iterdir())
        except OSError as ex:
            catalog.warnings.append(f"skills in {where} cannot be read ({ex.strerror or ex})")
            continue
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            skill_file = _skill_file(entry)
            label = f"{where}/{entry.name}/{SKILL_FILE}"
            if skill_file is None:
                catalog.warnings.append(f"skill {label} skipped: the folder has no {SKILL_FILE}")
                continue
            try:
                catalog.found.append(load_skill(skill_file, source, where))
            except OSError as ex:
                catalog.warnings.append(f"skill {label} skipped: it cannot be read ({ex.strerror or ex})")
            except ValueError as ex:
                catalog.warnings.append(f"skill {label} skipped: {ex}")
    return catalog


def _skill_file(folder: Path) -> Path | None:
    exact = folder / SKILL_FILE
    if exact.is_file():
        return exact
    # Written by hand on a case-insensitive disk, or by an older tool: skill.md, Skill.md.
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == "skill.md" and p.is_file()), None)


def _first_sentence(text: str) -> str:
    sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= SHORT_DESCRIPTION else sentence[: SHORT_DESCRIPTION - 1].rstrip() + "…"


def display_path(path: Path, home: Path | None = None) -> str:
    """``path`` as the user would write it: ``~/...`` under the home directory."""
    home = Path(home) if home is not None else Path.home()
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def _relative_to(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, OSError):
        return None
