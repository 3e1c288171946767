"""Skills and custom commands in ``llm code``: the project's trust question, ``!skills``,
``!skill NAME``, ``!NAME args`` for the user's command files (in ``!help`` and Tab completion),
and ``llm code skills``.

What skills and commands are, and where they are found: :mod:`llm_coding_agent.integrations.skills`
and :mod:`llm_coding_agent.integrations.commands`; the trust: :mod:`llm_coding_agent.integrations.trust`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..agent.results import AgentStateError
from ..integrations.commands import CustomCommand
from ..integrations.skills import Skill, SkillCatalog
from ..integrations.trust import Extensions, load_extensions
from .session_commands import HELP_FOOTER

__all__ = ["SkillsAndCommands", "skills_command", "skills_table"]

#: Characters of a description in a listing.
_LISTED_DESCRIPTION = 110


def skills_table(catalog: SkillCatalog, active: set[str] = frozenset()) -> str:
    """One line per skill found: name, where from, description; skills not offered say why."""
    if not catalog.found:
        return "No skills found."
    offered = catalog.skills
    lines = []
    for skill in catalog.found:
        if not catalog.usable(skill):
            mark = "  [inactive: the project is not trusted]"
        elif offered.get(skill.name) is not skill:
            mark = f"  [hidden by the {offered[skill.name].source} skill of that name]"
        else:
            hidden = catalog.overridden(skill)
            mark = f"  (overrides the {hidden.source} skill)" if hidden is not None else ""
            mark += "  (active)" if skill.name in active else ""
        lines.append(f"  {skill.name:<20} {skill.where:<18} {_short(skill.description)}{mark}")
    return "\n".join(lines)


def _short(text: str) -> str:
    return text if len(text) <= _LISTED_DESCRIPTION else text[: _LISTED_DESCRIPTION - 1].rstrip() + "…"


class SkillsAndCommands:
    """The session's skills and custom commands, as part of :class:`~.session.Session` (uses its
    ``ui``, ``root``, ``headless``, ``agent`` and ``_turn``)."""

    extensions: Extensions

    def _load_extensions(self) -> Extensions:
        """The skills and commands of this project, asking whether to trust the project's own
        (interactive sessions; headless ones say in one line what they leave out)."""
        extensions = load_extensions(self.root, ask=None if self.headless else self._trust_extensions)
        for warning in extensions.warnings:
            self.ui.notice(f"warning: {warning}")
        notice = extensions.untrusted_notice()
        if notice and not self.headless:  # the user just said no
            notice = f"the project's {extensions.project_summary} are not used in this session"
        if notice:
            self.ui.notice(notice)
        builtin = set(self.builtin_command_names())
        for command in extensions.commands.commands.values():
            if command.name in builtin:
                self.ui.notice(f"custom command {command.where} is not used: !{command.name} is a built-in command")
        return extensions

    def _trust_extensions(self, summary: str) -> bool:
        return self.ui.confirm(
            f"This project supplies {summary}: instructions for the model, from the repository. Use them?"
        )

    def custom_commands(self) -> dict[str, CustomCommand]:
        """The custom commands ``!NAME`` runs (not those a built-in command hides)."""
        builtin = set(self.builtin_command_names())
        return {n: c for n, c in self.extensions.commands.commands.items() if n not in builtin}

    # -- how the session sees them ------------------------------------------------------------------

    def command_names(self) -> list[str]:
        return sorted(set(super().command_names()) | set(self.custom_commands()))  # type: ignore[misc]

    def help_text(self) -> str:
        text = super().help_text()  # type: ignore[misc]
        commands = self.custom_commands()
        if not commands:
            return text
        lines = ["Your commands (Markdown files; arguments replace $ARGUMENTS, $1...):"]
        for command in commands.values():
            label = f"!{command.name} {command.argument_hint}".rstrip()
            lines.append(f"  {label:<17}{command.description}  ({command.where})")
        head, _, footer = text.rpartition(HELP_FOOTER)
        return head + "\n".join(lines) + "\n" + HELP_FOOTER + footer

    def _other_command(self, name: str, arg: str) -> str | None:
        command = self.custom_commands().get(name)
        if command is None:
            return super()._other_command(name, arg)  # type: ignore[misc]
        self.ui.notice(f"(!{command.name}: sending {command.where})", style="dim")
        self._turn(command.expand(arg))
        return None

    def _custom_task(self, task: str) -> str:
        """A headless task that names a custom command (``-p "!review app.py"``), expanded."""
        name, _, arg = task.strip()[1:].partition(" ")
        if task.strip()[:1] in ("!", "/"):
            command = self.custom_commands().get(name.lower())
            if command is not None:
                return command.expand(arg)
        return task

    # -- the commands -----------------------------------------------------------------------------

    def _cmd_skills(self, arg: str) -> None:
        """list the skills: name, where from, what for"""
        catalog = self.agent.skills
        table = skills_table(catalog, set(self.agent.active_skills))
        self.ui.notice("Skills (!skill NAME sends one's instructions with your next message):\n" + table, style="")

    def _cmd_skill(self, arg: str) -> None:
        """NAME  use a skill: its instructions go with your next message"""
        if not arg:
            self._cmd_skills(arg)
            return
        try:
            skill: Skill = self.agent.activate_skill(arg)
        except AgentStateError as ex:
            self.ui.error(str(ex))
            return
        self.ui.notice(f"skill {skill.name} ({skill.where}): its instructions go with your next message", style="")


@click.command(name="skills")
@click.option("-d", "--directory", metavar="DIR", help="The project (default: the current directory)")
@click.option("--json", "json_output", is_flag=True, help="Print JSON (for scripts)")
def skills_command(directory, json_output):
    """The skills llm code offers the model in a project, and where each comes from.

    \b
    Looked up (first wins for a name):
      project  .llm-code/skills, .agents/skills, .claude/skills  (once you trust the project)
      user     <llm user dir>/llm-code/skills, ~/.agents/skills, ~/.claude/skills
      built-in fix-failing-test, extract-function, sync-docs
    A skill is a folder NAME/SKILL.md with `name` and `description` frontmatter.
    """
    root = Path(directory or ".").expanduser()
    if not root.is_dir():
        raise click.ClickException(f"directory does not exist: {directory}")
    extensions = load_extensions(root)
    catalog = extensions.skills
    if json_output:
        offered = catalog.skills
        click.echo(json.dumps({
            "skills": [
                {"name": s.name, "source": s.source, "where": s.where, "path": str(s.path),
                 "description": s.description, "offered": offered.get(s.name) is s,
                 "inactive_reason": None if catalog.usable(s) else "project not trusted"}
                for s in catalog.found
            ],
            "warnings": catalog.warnings,
        }, indent=2))
        return
    click.echo(skills_table(catalog))
    for warning in catalog.warnings:
        click.echo(f"warning: {warning}", err=True)
    if catalog.inactive:
        click.echo("Project skills count once you trust them: start `llm code` here and answer y.", err=True)
