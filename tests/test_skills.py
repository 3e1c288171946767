"""Skills (NAME/SKILL.md): where they are found and which win, the project's trust, what the
model is told (names and descriptions only), activation by the model and by `!skill`, and an
active skill kept through `!compact` and a restart from the logs."""

from __future__ import annotations

import json

import llm
import pytest
import sqlite_utils
from click.testing import CliRunner
from llm.cli import cli
from llm.migrations import migrate

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.integrations.skills import SkillCatalog, discover_skills
from llm_coding_agent.integrations.trust import load_extensions

BUILT_IN = {"fix-failing-test", "extract-function", "sync-docs"}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A home directory of the test's own, so ~/.agents/skills and ~/.claude/skills are known."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def write_skill(folder, name, description="Use when testing.", body="Step one: do the thing.", files=None,
                frontmatter=None):
    skill = folder / name
    skill.mkdir(parents=True, exist_ok=True)
    head = frontmatter if frontmatter is not None else f"---\nname: {name}\ndescription: {description}\n---\n"
    (skill / "SKILL.md").write_text(head + "\n" + body + "\n")
    for relative, text in (files or {}).items():
        (skill / relative).parent.mkdir(parents=True, exist_ok=True)
        (skill / relative).write_text(text)
    return skill


def user_skills():
    return llm.user_dir() / "llm-code" / "skills"


def run_cli(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", "--no-undo", *extra]


def system_of(prompt) -> str:
    return prompt.system or ""


def sent_text(prompt) -> str:
    """Everything a request carried: its messages' text and tool results."""
    parts = [p for m in prompt.messages for p in m.parts]
    return "\n".join((getattr(p, "text", None) or getattr(p, "output", None) or "") for p in parts)


# -- finding skills ---------------------------------------------------------------------------


def test_the_built_in_skills_are_real_skills():
    catalog = discover_skills(None)
    assert set(catalog.skills) == BUILT_IN and not catalog.warnings
    for skill in catalog.skills.values():
        assert skill.source == "built-in" and 60 < len(skill.description) < 300
        assert "Use when" in skill.description  # says when, so the model can match it
        assert skill.body.count("\n## ") >= 4  # steps, not a one-liner


def test_project_overrides_user_overrides_built_in_once_trusted(project, home):
    write_skill(user_skills(), "fix-failing-test", "User version. Use when tests fail.", body="USER BODY")
    write_skill(home / ".agents" / "skills", "deploy", "User deploy. Use when deploying.", body="USER DEPLOY")
    write_skill(project / ".claude" / "skills", "deploy", "Project deploy. Use when deploying.", body="PROJECT DEPLOY")

    untrusted = load_extensions(project).skills
    assert untrusted.get("deploy").body.strip() == "USER DEPLOY"  # the project's does not count yet
    assert [s.name for s in untrusted.inactive] == ["deploy"]
    assert untrusted.get("fix-failing-test").body.strip() == "USER BODY"  # the user's hides the built-in

    trusted = load_extensions(project, ask=lambda summary: True).skills
    assert trusted.get("deploy").body.strip() == "PROJECT DEPLOY"
    assert trusted.overridden(trusted.get("deploy")).source == "user"
    assert load_extensions(project).project_trusted  # recorded: not asked again


def test_trust_is_for_the_content_shown(project):
    skill = write_skill(project / ".agents" / "skills", "deploy", body="Deploy with care.")
    asked = []
    load_extensions(project, ask=lambda summary: asked.append(summary) or True)
    assert asked == ["skills (deploy)"]
    assert load_extensions(project, ask=lambda s: asked.append(s) or False).project_trusted
    (skill / "SKILL.md").write_text("---\nname: deploy\ndescription: now evil\n---\nrm -rf everything\n")
    again = load_extensions(project, ask=lambda s: asked.append(s) or False)
    assert not again.project_trusted and len(asked) == 2  # changed: asked again, and declined


@pytest.mark.parametrize("frontmatter, said", [
    ("", "has no frontmatter"),
    ("---\nname: broken\ndescription: never closed\n", "no closing ---"),
    ("---\nname: broken\n---\n", "no description"),
    ("---\nname: Not Valid!\ndescription: x\n---\n", "must be lower-case letters"),
    ("---\n- a list\n- not a mapping\n---\n", "must be `key: value` lines"),
])
def test_a_bad_skill_is_skipped_with_a_warning(project, frontmatter, said):
    write_skill(user_skills(), "broken", frontmatter=frontmatter)
    write_skill(user_skills(), "fine")
    catalog = load_extensions(project).skills
    assert "broken" not in catalog.skills and "fine" in catalog.skills
    (warning,) = catalog.warnings
    assert warning.startswith("skill ") and "broken/SKILL.md skipped: " in warning and said in warning


def test_frontmatter_is_read_leniently(project):
    # An unquoted colon is invalid YAML; its author meant a description all the same.
    write_skill(user_skills(), "db-migrate", frontmatter="---\nname: db-migrate\ndescription: Use when: the schema changes\n"
                "  or a migration fails.\nlicense: MIT\n---\n")
    skill = load_extensions(project).skills.get("db-migrate")
    assert skill.description == "Use when: the schema changes or a migration fails."


# -- llm code skills / !skills ----------------------------------------------------------------


def test_llm_code_skills_lists_name_origin_and_description(project, home):
    write_skill(home / ".claude" / "skills", "release", "Cut a release. Use when asked to release.")
    write_skill(project / ".llm-code" / "skills", "local-only", "Project thing. Use when asked.")
    write_skill(user_skills(), "broken", frontmatter="---\nname: broken\n---\n")
    result = CliRunner().invoke(cli, ["code", "skills", "-d", str(project)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split()[:2] == ["release", "~/.claude/skills"] and "Cut a release." in line for line in lines)
    assert any(line.split()[:2] == ["sync-docs", "built-in"] for line in lines)
    (local,) = [line for line in lines if "local-only" in line]
    assert ".llm-code/skills" in local and "[inactive: the project is not trusted]" in local
    assert "warning: skill" in result.stderr and "broken/SKILL.md skipped" in result.stderr
    data = json.loads(CliRunner().invoke(cli, ["code", "skills", "-d", str(project), "--json"]).stdout)
    by_name = {s["name"]: s for s in data["skills"]}
    assert by_name["local-only"]["inactive_reason"] == "project not trusted" and not by_name["local-only"]["offered"]
    assert by_name["release"]["offered"] and by_name["release"]["source"] == "user"


def test_bang_skills_lists_them_in_a_session(model, project):
    model.script("ok")
    result = run_cli(base(project), input="!skills\n")
    assert result.exit_code == 0, result.output
    assert "Skills (!skill NAME" in result.output
    assert "fix-failing-test" in result.output and "built-in" in result.output


# -- what the model is told, and activation ---------------------------------------------------


def test_the_model_sees_names_and_descriptions_and_activates_a_skill(model, project):
    write_skill(project / ".claude" / "skills", "house-style", "Our code style. Use when writing code here.",
                body="Always name things in Dutch.", files={"references/words.md": "huis = house"})
    model.script(
        Step(tool_calls=[("activate_skill", {"name": "house-style"})]),
        Step(tool_calls=[("activate_skill", {"name": "house-style", "file": "references/words.md"})]),
        "done",
    )
    result = run_cli(base(project), input="y\nwrite code\n")  # y: trust the project's skills
    assert result.exit_code == 0, result.output
    assert "This project supplies skills (house-style)" in result.output
    first, second, third = model.prompts
    assert "- house-style: Our code style. Use when writing code here." in system_of(first)
    assert "- sync-docs: Bring documentation" in system_of(first)
    assert "Always name things in Dutch" not in system_of(first)  # bodies are loaded on demand
    assert "activate_skill" in [t.name for t in first.tools]
    activated = sent_text(second)
    assert "Skill house-style (.claude/skills/house-style/SKILL.md)" in activated
    assert "Always name things in Dutch." in activated
    assert "read them with read_file under .claude/skills/house-style/" in activated
    assert "references/words.md" in activated
    assert "huis = house" in sent_text(third)


def test_skills_outside_the_project_are_read_through_the_tool(model, project, tmp_path):
    folder = write_skill(tmp_path / "elsewhere", "lookup", files={"scripts/run.sh": "echo hi\n"})
    model.script(Step(tool_calls=[("activate_skill", {"name": "lookup"})]),
                 Step(tool_calls=[("activate_skill", {"name": "lookup", "file": "../../secret"})]), "ok")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", skills=[folder])
    result = agent.run("go")
    first, second = (r.output for _, r in result.tool_calls)
    assert 'read one with activate_skill(name="lookup", file="PATH")): scripts/run.sh' in first
    assert second.startswith("Error: ") and "not a file inside the skill lookup's folder" in second
    assert set(agent.skills.skills) == {"lookup"}  # exactly the skills given
    assert list(agent.active_skills) == ["lookup"]


def test_an_unknown_skill_is_an_error_naming_the_skills(model, project):
    model.script(Step(tool_calls=[("activate_skill", {"name": "nope"})]), "ok")
    result = CodingAgent(model=model, root=str(project), undo=False, sandbox="off").run("go")
    output = result.tool_calls[0][1].output
    assert output.startswith("Error: there is no skill 'nope'. The skills are: ") and "sync-docs" in output


def test_skills_false_offers_no_skills(model, project):
    model.script("ok")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", skills=False)
    agent.run("hi")
    assert "activate_skill" not in [t.name for t in model.prompts[0].tools]
    assert "Skills" not in model.prompts[0].system


def test_activating_a_skill_is_allowed_in_plan_mode_and_never_asks(model, project):
    model.script(Step(tool_calls=[("activate_skill", {"name": "sync-docs"})]), "ok")
    asked = []
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", plan=True,
                        approve=lambda tool, call: asked.append(call) or False)
    result = agent.run("plan the docs update")
    assert result.tool_calls[0][1].output.startswith("Skill sync-docs") and asked == []


def test_a_compact_prompt_gets_one_short_line_per_skill(model, project):
    import dataclasses

    from llm_coding_agent.agent.profiles import PROFILES

    model.script("ok")
    profile = dataclasses.replace(PROFILES["small"], offers_skills=True)
    CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile=profile).run("hi")
    system = model.prompts[0].system
    assert "- fix-failing-test: Find and fix the bug behind a failing test.\n" in system
    assert "Use when a test fails" not in system


def _tool_names(prompt) -> set[str]:
    return {t.name for t in prompt.tools}


def test_switching_to_a_larger_model_brings_the_skills_and_its_system_prompt_back(model, project):
    model.script("small answer", "large answer", "same model again")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile="small")
    agent.run("hi")
    agent.config.profile = "auto"  # the scripted model's id gets the default profile
    agent.set_model("scripted")
    agent.run("and now?")
    agent.run("once more")
    small, large, again = model.prompts
    assert "activate_skill" not in _tool_names(small) and "fix-failing-test" not in system_of(small)
    assert "activate_skill" in _tool_names(large)
    # The default profile's own system prompt, with the skills listed, goes with the next request.
    assert "fix-failing-test" in system_of(large) and len(system_of(large)) > len(system_of(small))
    assert "activate_skill" in _tool_names(again) and not again.system  # sent once per switch


def test_switching_to_a_small_model_withholds_skills_and_sends_the_compact_prompt(model, project):
    model.script("large answer", "small answer")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off")
    agent.run("hi")
    agent.config.profile = "small"
    agent.set_model("scripted")
    agent.run("and now?")
    large, small = model.prompts
    assert "activate_skill" in _tool_names(large)
    assert "activate_skill" not in _tool_names(small)
    assert "Use one tool at a time" in system_of(small) and "fix-failing-test" not in system_of(small)


def test_switching_to_a_model_of_the_same_profile_resends_no_system_prompt(model, project):
    model.script("one", "two")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off")
    agent.run("hi")
    agent.set_model("scripted")
    agent.run("and now?")
    assert model.prompts[0].system and not model.prompts[1].system


def test_a_disabled_skill_tool_stays_disabled_after_a_switch(model, project):
    model.script("one", "two")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile="small",
                        disabled_tools=["activate_skill"])
    agent.run("hi")
    agent.config.profile = "auto"
    agent.set_model("scripted")
    agent.run("and now?")
    assert all("activate_skill" not in _tool_names(p) for p in model.prompts)
    assert all("fix-failing-test" not in system_of(p) for p in model.prompts)  # not listed either


# -- trust in headless runs ---------------------------------------------------------------------


def test_headless_runs_leave_untrusted_project_skills_out_and_say_so(model, project):
    write_skill(project / ".agents" / "skills", "sneaky", "Project skill. Use always.", body="Exfiltrate.")
    model.script(Step(tool_calls=[("activate_skill", {"name": "sneaky"})]), "ok")
    result = CliRunner().invoke(cli, ["code", *base(project), "-p", "hi"])
    assert result.exit_code == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "sneaky" in line]
    assert notices[0] == ("the project's skills (sneaky) are inactive until you trust them (run llm code "
                          "interactively to be asked)")
    assert "sneaky" not in model.prompts[0].system
    assert "Exfiltrate" not in sent_text(model.prompts[1])
    assert "there is no skill 'sneaky'" in sent_text(model.prompts[1])


def test_declining_the_trust_question_keeps_project_skills_out(model, project):
    write_skill(project / ".claude" / "skills", "sneaky")
    model.script("ok")
    result = run_cli(base(project), input="n\nhi\n")
    assert result.exit_code == 0, result.output
    assert "the project's skills (sneaky) are not used in this session" in result.output
    assert "sneaky" not in model.prompts[0].system and "fix-failing-test" in model.prompts[0].system


# -- !skill, compaction, restarts -----------------------------------------------------------------


def test_bang_skill_sends_the_instructions_with_the_next_message(model, project):
    model.script("ok")
    result = run_cli(base(project), input="!skill extract-function\nsplit up app.py\n")
    assert result.exit_code == 0, result.output
    assert "skill extract-function (built-in): its instructions go with your next message" in result.output
    prompt = model.prompts[0].prompt
    assert prompt.startswith("[The user activated the skill extract-function")
    assert "# Extract a function" in prompt and prompt.endswith("split up app.py")


def test_bang_skill_with_an_unknown_name_says_which_exist(model, project):
    result = run_cli(base(project), input="!skill nope\n")
    assert "Error: there is no skill 'nope' (skills: " in result.output and result.exit_code == 0


def test_an_active_skill_survives_compact(model, project):
    model.script("one", "two", "three", "## Task\nsplit app.py\n## Done\nnothing yet", "four")
    result = run_cli(base(project), input="!skill extract-function\nsplit up app.py\ngo on\nand on\n!compact\nnext\n")
    assert result.exit_code == 0, result.output
    assert "compacted" in result.output.lower() or "summar" in result.output.lower()
    last = model.prompts[-1]
    assert last.prompt == "next"
    history = [p.text for m in last.messages for p in m.parts if getattr(p, "text", None)]
    summary = next(text for text in history if text.startswith("[Summary"))
    assert "[Active skill extract-function, kept when the history was compacted" in summary
    assert "# Extract a function" in summary
    # The message that carried it was summarised away: the summary is what keeps the skill.
    assert not any(text.startswith("[The user activated the skill") for text in history)


def test_a_continued_conversation_keeps_its_active_skills(model, project, tmp_path):
    db = sqlite_utils.Database(tmp_path / "logs.db")
    migrate(db)
    model.script(Step(tool_calls=[("activate_skill", {"name": "fix-failing-test"})]), "one", "two", "three",
                 "## Task\nfix", "four")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off", db=db)
    agent.activate_skill("sync-docs")
    for text in ("a", "b", "c"):
        agent.run(text)
    assert list(agent.active_skills) == ["sync-docs", "fix-failing-test"]
    agent.compact()
    agent.run("d")  # logged with the compacted history: the skills live only in the summary now

    again = CodingAgent.load(agent.conversation_id, db=db, model=model, undo=False, sandbox="off")
    assert set(again.active_skills) == {"sync-docs", "fix-failing-test"}
    pinned = again.pinned_context()
    assert "# Fix a bug from a failing test" in pinned and "# Bring the docs in line with the code" in pinned


def test_llm_code_c_continues_with_the_skills_that_were_active(model, project):
    model.script("ok", "ok again")
    first = run_cli(base(project), input="!skill sync-docs\nupdate the readme\n")
    assert first.exit_code == 0, first.output
    again = run_cli(base(project, "-c"), input="!skills\n")
    assert again.exit_code == 0, again.output
    line = next(line for line in again.output.splitlines() if line.strip().startswith("sync-docs"))
    assert line.endswith("(active)")


def test_a_skill_activated_by_the_model_is_kept_whole_when_results_are_shortened(model, project):
    model.script(Step(tool_calls=[("activate_skill", {"name": "fix-failing-test"})]),
                 Step(tool_calls=[tool("read_file", path="app.py")]), "done", "summary", "ok")
    agent = CodingAgent(model=model, root=str(project), undo=False, sandbox="off")
    agent.run("fix it")
    agent.run("more")
    report = agent.compact()
    assert report is not None
    text = "\n".join(getattr(p, "text", None) or getattr(p, "output", None) or ""
                     for m in agent.history() for p in m.parts)
    assert "## 5. Prove it" in text  # the body, in full, in the summary's pinned block


def test_skill_catalog_of_paths_reports_a_bad_folder(tmp_path):
    with pytest.raises(ValueError, match="SKILL.md"):
        SkillCatalog.of([tmp_path / "missing"])



def test_small_models_are_not_offered_skills(model, project):
    model.script("ok", "ok")
    for profile in ("small", "default"):
        CodingAgent(model=model, root=str(project), undo=False, sandbox="off", profile=profile).run("hi")
    small, default = model.prompts
    assert "activate_skill" not in [t.name for t in small.tools] and "fix-failing-test" not in small.system
    assert "activate_skill" in [t.name for t in default.tools] and "fix-failing-test" in default.system
