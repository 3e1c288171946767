"""Trust for the instructions a project supplies: its skills and its custom commands.

They are repository content written for the model, so a cloned repository must not get them in
front of the model unasked. As with a project's settings file, the user trusts exactly what was
shown: one SHA-256 over the project's ``SKILL.md`` and command files (paths and bytes), recorded
in ``trusted.json`` (:func:`~llm_coding_agent.safety.settings.trust_digest`). Any change to
those files makes them untrusted again. ``llm code`` asks once in an interactive session; a
headless run (``-p``) and the API use only what was trusted before, and say what they left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..safety.settings import is_trusted_digest, trust_digest
from .commands import CommandCatalog, discover_commands
from .skills import SkillCatalog, discover_skills

__all__ = ["Extensions", "load_extensions", "project_digest", "trust_key"]

#: ``ask(summary)`` answers whether the project's skills and commands (``summary`` lists them)
#: may be used; True records the trust.
TrustQuestion = Callable[[str], bool]


@dataclass
class Extensions:
    """The skills and custom commands of a session, and what the project's trust decided."""

    skills: SkillCatalog
    commands: CommandCatalog
    #: What the project supplies, in one line ("" when nothing).
    project_summary: str = ""

    @property
    def project_trusted(self) -> bool:
        return self.skills.project_trusted

    @property
    def warnings(self) -> list[str]:
        return self.skills.warnings + self.commands.warnings

    def untrusted_notice(self) -> str | None:
        """One line saying what the project supplies that is inactive, if anything."""
        if self.project_trusted or not self.project_summary:
            return None
        return f"the project's {self.project_summary} are inactive until you trust them (run llm code interactively to be asked)"


def trust_key(root: Path) -> Path:
    """Where the trust is recorded: one entry per project for its skills and commands together."""
    return Path(root) / ".llm-code" / "skills-and-commands"


def project_digest(root: Path, skills: SkillCatalog, commands: CommandCatalog) -> str | None:
    """The SHA-256 of the project's skill and command files (None when it has none)."""
    items = sorted(
        (str(item.path.relative_to(root)) if item.path.is_relative_to(root) else str(item.path), item.raw)
        for item in [*skills.found, *commands.found]
        if item.source == "project"
    )
    if not items:
        return None
    digest = hashlib.sha256()
    for name, raw in items:
        digest.update(name.encode() + b"\0" + hashlib.sha256(raw).digest())
    return digest.hexdigest()


def _summary(skills: SkillCatalog, commands: CommandCatalog) -> str:
    parts = []
    names = sorted({s.name for s in skills.found if s.source == "project"})
    if names:
        parts.append("skills (" + ", ".join(names) + ")")
    names = sorted({c.name for c in commands.found if c.source == "project"})
    if names:
        parts.append("commands (" + ", ".join("!" + n for n in names) + ")")
    return " and ".join(parts)


def load_extensions(root: Path | str, ask: TrustQuestion | None = None, home: Path | None = None) -> Extensions:
    """The skills and commands for the project at ``root``. The project's own count when their
    current content was trusted before, or when ``ask`` (None: never ask) says yes now."""
    root = Path(root).resolve()
    skills = discover_skills(root, home=home)
    commands = discover_commands(root)
    digest = project_digest(root, skills, commands)
    summary = _summary(skills, commands)
    trusted = digest is not None and is_trusted_digest(trust_key(root), digest)
    if digest is not None and not trusted and ask is not None and ask(summary) is True:
        # The digest of the bytes that were read and listed, not of a later re-read.
        trust_digest(trust_key(root), digest)
        trusted = True
    skills.project_trusted = commands.project_trusted = trusted
    return Extensions(skills=skills, commands=commands, project_summary=summary)
