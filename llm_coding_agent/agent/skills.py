"""Skills, as part of :class:`~llm_coding_agent.CodingAgent` (a mixin).

The system prompt lists the skills' names and descriptions (:meth:`AgentSkills.skills_prompt`);
the model loads one with the read-only ``activate_skill`` tool, the user with
:meth:`AgentSkills.activate_skill` (``!skill NAME``: the instructions go with the next message).
An activated skill stays active for the conversation: compaction keeps its instructions with the
summary (:meth:`AgentSkills.pinned_context`, like the todo list), and a continued conversation
finds which skills were active in its history (:meth:`AgentSkills._recover_skills`).

``CodingAgent(skills=...)`` takes ``None`` (the default: the built-in skills, the user's, and the
project's when the project was trusted before; see :mod:`llm_coding_agent.integrations.trust`),
``False`` (none), a :class:`~llm_coding_agent.integrations.skills.SkillCatalog`, or a list of
:class:`~llm_coding_agent.integrations.skills.Skill` objects or skill folders.
"""

from __future__ import annotations

import re
from typing import Any

import llm
from llm.parts import TextPart, ToolCallPart, ToolResultPart

from ..integrations.skills import Skill, SkillCatalog
from ..integrations.trust import Extensions, load_extensions
from ..tools import short_tool_name
from .context import SUMMARY_HEADER
from .results import AgentStateError

__all__ = ["AgentSkills", "ACTIVATE_SKILL", "resolve_skills"]

#: The tool that loads a skill, as the model sees it.
ACTIVATE_SKILL = "activate_skill"
#: Sent with the next message when the user activates a skill (also how a restart finds it).
_USER_ACTIVATED = "[The user activated the skill {name}: apply its instructions below to the request that follows.]"
_USER_ACTIVATED_RE = re.compile(r"^\[The user activated the skill ([a-z0-9-]+):", re.MULTILINE)
#: How compaction keeps an active skill (also how a restart finds it in a summary).
_PINNED_SKILL = "[Active skill {name}, kept when the history was compacted: its instructions still apply]"
_PINNED_SKILL_RE = re.compile(r"^\[Active skill ([a-z0-9-]+), kept when the history was compacted", re.MULTILINE)
#: Characters of active skills' instructions a summary carries at most; beyond, names only.
MAX_PINNED_CHARS = 24_000


def resolve_skills(skills: Any, root) -> tuple[SkillCatalog, list[str]]:
    """The catalog ``CodingAgent(skills=...)`` means, and notices about it (for the default)."""
    if skills is None:
        extensions = load_extensions(root)
        notices = [f"warning: {w}" for w in extensions.skills.warnings]
        if extensions.skills.inactive:
            names = ", ".join(sorted({s.name for s in extensions.skills.inactive}))
            notices.append(f"the project's skills ({names}) are inactive until you trust them (llm code asks)")
        return extensions.skills, notices
    if skills is False:
        return SkillCatalog(), []
    if isinstance(skills, Extensions):
        return skills.skills, []
    if isinstance(skills, SkillCatalog):
        return skills, []
    if isinstance(skills, (str, bytes)) or not hasattr(skills, "__iter__"):
        raise TypeError("skills must be None, False, a SkillCatalog, or a list of Skill objects or skill folders")
    return SkillCatalog.of(skills), []


class AgentSkills:
    """The skills of :class:`~llm_coding_agent.CodingAgent` (uses its ``root``, ``profile``,
    ``history()``, ``_notes``, ``_notice`` and ``_resolve_tool_name``)."""

    def _init_skills(self, skills: Any) -> None:
        """Set up before the tools are assembled (``activate_skill`` is one of them)."""
        self.skills, notices = resolve_skills(skills, self.root)
        #: The skills activated in this conversation, by name, in the order they were activated.
        self.active_skills: dict[str, Skill] = {}
        for notice in notices:
            self._notice(notice)

    def skill_tools(self) -> list[llm.Tool]:
        """``activate_skill``, when there are skills to activate (offered or withheld by the
        profile's ``offers_skills``, also after a model switch: ``offer_profile_tools``)."""
        if not self.skills:
            return []

        def activate_skill(name: str, file: str = "") -> str:
            """Load a skill: its instructions for the task, and the list of its other files. The
            skills are listed in the system prompt; activate one when the request matches its
            description, then follow it. With file (a path from that list), read that file of the
            skill's folder instead."""
            return self._activate_skill_call(name, file)

        activate_skill.read_only = True  # type: ignore[attr-defined]  # loads text, changes nothing
        return [llm.Tool.function(activate_skill)]

    def skills_prompt(self) -> str:
        """The system prompt's list of skills (names and descriptions), or "" when ``activate_skill``
        is not offered (the profile withholds it, or ``disabled_tools`` names it)."""
        if self._tool(ACTIVATE_SKILL) is None:
            return ""
        section = self.skills.prompt_section(compact=self.profile.compact_prompt)
        return "\n\n" + section if section else ""

    def _activate_skill_call(self, name: Any, file: Any = "") -> str:
        skill = self.skills.get(str(name or ""))
        if skill is None:
            return f"Error: there is no skill {name!r}. The skills are: {', '.join(self.skills.skills)}."
        if file:
            try:
                return skill.read_resource(str(file))
            except (OSError, ValueError) as ex:
                return f"Error: {getattr(ex, 'strerror', None) or ex}"
        self.active_skills[skill.name] = skill
        return skill.activation_text(self.root)

    def activate_skill(self, name: str) -> Skill:
        """Activate a skill for the user (``!skill NAME``): its instructions go with the next
        message. Raises AgentStateError for a name that is not a skill."""
        skill = self.skills.get(name)
        if skill is None:
            known = ", ".join(self.skills.skills) or "none"
            raise AgentStateError(f"there is no skill {name!r} (skills: {known})")
        self.active_skills[skill.name] = skill
        self._notes.append(_USER_ACTIVATED.format(name=skill.name) + "\n" + skill.activation_text(self.root))
        return skill

    # -- through compaction and restarts ----------------------------------------------------------

    def pinned_context(self) -> str:
        """What compaction keeps with its summary: the active skills' instructions first, then
        plan mode and the todo list (which a restart reads from the end of the block)."""
        later = super().pinned_context()  # type: ignore[misc]
        blocks, used = [], 0
        for skill in self.active_skills.values():
            text = skill.activation_text(self.root)
            if used + len(text) > MAX_PINNED_CHARS:
                text = f"(too long to keep here: call {ACTIVATE_SKILL} with name {skill.name!r} to read it again)"
            used += len(text)
            blocks.append(_PINNED_SKILL.format(name=skill.name) + "\n" + text)
        return "\n\n".join(blocks + ([later] if later else []))

    def _recover_skills(self) -> None:
        """After ``load()``: the skills the logged conversation activated (by the model's calls,
        by the user, or kept by a compaction's summary)."""
        messages = self.history()
        results = {p.tool_call_id: p for m in messages for p in m.parts if isinstance(p, ToolResultPart)}
        names: list[str] = []
        for message in messages:
            for part in message.parts:
                if isinstance(part, TextPart) and message.role == "user" and part.text:
                    pattern = _PINNED_SKILL_RE if part.text.startswith(SUMMARY_HEADER) else _USER_ACTIVATED_RE
                    names += pattern.findall(part.text)
                elif isinstance(part, ToolCallPart):
                    name = short_tool_name(self._resolve_tool_name(part.name) or str(part.name))
                    arguments = part.arguments if isinstance(part.arguments, dict) else {}
                    result = results.get(part.tool_call_id)
                    output = result.output if result is not None else ""
                    if name == ACTIVATE_SKILL and not arguments.get("file") and output.startswith("Skill "):
                        names.append(str(arguments.get("name", "")).strip().lower())
        for name in names:
            skill = self.skills.get(name)
            if skill is not None:
                self.active_skills[skill.name] = skill
