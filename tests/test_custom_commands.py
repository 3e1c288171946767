"""Custom commands (Markdown prompt files): `!NAME args` sends the body with the arguments
substituted, they show in !help and Tab completion, the project's count only once trusted,
the project's hide the user's, built-in commands win, and a bad file is skipped with a warning."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import llm
import pytest
from click.testing import CliRunner
from llm.cli import cli

from llm_coding_agent.integrations.commands import discover_commands, expand_command
from llm_coding_agent.integrations.trust import load_extensions


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def user_commands() -> Path:
    return llm.user_dir() / "llm-code" / "commands"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


REVIEW = "---\ndescription: Review a file for bugs\nargument-hint: FILE [FOCUS]\n---\nReview $1 carefully, focusing on $2.\n"


def run_cli(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", "--no-undo", *extra]


# -- substitution ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body, arguments, expected", [
    ("Fix issue #$ARGUMENTS now.", "123 urgently", "Fix issue #123 urgently now."),
    ("Review $1, focusing on $2.", 'app.py "error handling"', "Review app.py, focusing on error handling."),
    ("Review $1 and $2.", "app.py", "Review app.py and ."),  # a missing argument is empty
    ("Summarise the changes.", "in French", "Summarise the changes.\n\nARGUMENTS: in French"),
    ("Summarise the changes.\n", "", "Summarise the changes."),
    ("All: $ARGUMENTS; first: $1", "it's broken", "All: it's broken; first: it's"),  # unclosed quote
])
def test_arguments_are_substituted_or_appended(body, arguments, expected):
    assert expand_command(body, arguments) == expected


def test_the_file_name_is_the_name_and_the_frontmatter_is_help(project):
    write(user_commands(), "Review", REVIEW)
    write(user_commands() / "git", "commit", "Write a commit message for the staged changes.")
    catalog = discover_commands(project)
    review, commit = catalog.get("review"), catalog.get("commit")
    assert review.description == "Review a file for bugs" and review.argument_hint == "FILE [FOCUS]"
    assert "description" not in review.body and review.body.startswith("Review $1")
    assert commit.description == "Write a commit message for the staged changes. (git)"  # first line, folder
    assert catalog.expand("review", "a.py security") == "Review a.py carefully, focusing on security."
    with pytest.raises(KeyError, match="no custom command 'nope'"):
        catalog.expand("nope")


# -- in a session ---------------------------------------------------------------------------------


def test_bang_name_sends_the_expanded_body(model, project):
    write(user_commands(), "review", REVIEW)
    model.script("looks fine")
    result = run_cli(base(project), input='!review app.py "the maths"\n')
    assert result.exit_code == 0, result.output
    assert "(!review: sending " in result.output and "llm-code/commands/review.md)" in result.output
    assert model.prompts[0].prompt.endswith("Review app.py carefully, focusing on the maths.")
    # A file the body names is attached as for any message (app.py's content went along).
    assert "return a - b" in model.prompts[0].prompt


def test_slash_name_works_too_and_arguments_are_appended_without_a_placeholder(model, project):
    write(user_commands(), "explain", "Explain this project's layout.")
    model.script("ok")
    result = run_cli(base(project), input="/explain briefly please\n")
    assert result.exit_code == 0, result.output
    assert model.prompts[0].prompt == "Explain this project's layout.\n\nARGUMENTS: briefly please"


def test_help_lists_custom_commands_with_hint_description_and_file(model, project):
    write(user_commands(), "review", REVIEW)
    result = run_cli(base(project), input="!help\n")
    out = result.output
    assert "Your commands (Markdown files; arguments replace $ARGUMENTS, $1...):" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("!review"))
    assert "!review FILE [FOCUS]" in line and "Review a file for bugs" in line and "commands/review.md" in line
    assert out.index("Your commands") < out.index("Messages: Enter sends")  # before the footer
    assert "!skill NAME" in out and "!skills" in out


def test_project_commands_need_trust_and_then_override_the_users(model, project):
    write(user_commands(), "deploy", "User deploy steps.")
    write(project / ".claude" / "commands", "deploy", "Project deploy steps.")
    write(project / ".llm-code" / "commands", "audit", "Audit everything.")
    model.script("ok", "ok")
    declined = run_cli(base(project), input="n\n!deploy\n!audit\n")
    assert "This project supplies commands (!audit, !deploy)" in declined.output
    assert "Error: unknown command !audit" in declined.output
    assert model.prompts[0].prompt == "User deploy steps."  # the project's does not count

    model.prompts.clear()
    trusted = run_cli(base(project), input="y\n!deploy\n")
    assert model.prompts[0].prompt == "Project deploy steps."
    assert "supplies" in trusted.output
    model.script("ok")
    again = run_cli(base(project), input="!deploy\n")
    assert "supplies" not in again.output  # trusted as it is: not asked again
    assert model.prompts[-1].prompt == "Project deploy steps."


def test_headless_runs_skip_untrusted_project_commands_and_say_so(model, project):
    write(project / ".claude" / "commands", "deploy", "Project deploy steps.")
    write(user_commands(), "review", REVIEW)
    model.script("ok")
    result = CliRunner().invoke(cli, ["code", *base(project), "-p", "!review app.py speed"])
    assert result.exit_code == 0, result.stderr
    assert "the project's commands (!deploy) are inactive until you trust them" in result.stderr
    assert model.prompts[0].prompt.endswith("Review app.py carefully, focusing on speed.")
    assert not load_extensions(project).project_trusted


def test_built_in_commands_win_over_a_custom_one_of_the_same_name(model, project):
    write(user_commands(), "help", "Send this instead of the help.")
    write(user_commands(), "undo", "Also hidden.")
    result = run_cli(base(project), input="!help\n")
    assert result.exit_code == 0
    assert "llm-code/commands/help.md is not used: !help is a built-in command" in result.output
    assert "In-session commands" in result.output and model.prompts == []


def test_a_bad_command_file_is_skipped_with_a_warning(model, project):
    write(user_commands(), "broken", "---\ndescription: never closed\nBody\n")
    write(user_commands(), "empty", "---\ndescription: nothing else\n---\n")
    write(user_commands(), "fine", "Do the fine thing.")
    model.script("ok")
    result = run_cli(base(project), input="!broken\n!fine\n")
    assert result.exit_code == 0, result.output
    assert "llm-code/commands/broken.md skipped: the frontmatter starts with --- but has no closing --- line" in result.output
    assert "llm-code/commands/empty.md skipped: it has no prompt after the frontmatter" in result.output
    assert result.output.count("warning: command ") == 2
    assert "Error: unknown command !broken" in result.output
    assert [p.prompt for p in model.prompts] == ["Do the fine thing."]


# -- a real terminal: Tab completion ------------------------------------------------------------


def test_a_custom_command_completes_with_tab_and_runs_in_a_pty(project, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    repo = Path(__file__).resolve().parent.parent
    user = tmp_path / "user"
    write(user / "llm-code" / "commands", "review", REVIEW)
    steps = tmp_path / "steps.json"
    steps.write_text(json.dumps([{"echo": True, "text": "done"}]))
    env = dict(os.environ, SCRIPTED_STEPS=str(steps), LLM_USER_PATH=str(user), TERM="xterm-256color",
               PROMPT_TOOLKIT_NO_CPR="1", HOME=str(tmp_path / "home"),
               PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = pexpect.spawn(
        sys.executable,
        [str(repo / "tests" / "support" / "scripted_llm.py"), "code", "-m", "scripted", "-d", str(project),
         "--sandbox", "off", "--no-attach"],
        env=env, encoding="utf-8", timeout=30, dimensions=(40, 120),
    )
    try:
        child.expect("›")
        child.send("!revi")
        child.send("\t")  # completes to !review: the message below could not run otherwise
        child.expect("ew")
        child.send(" app.py docs\r")
        child.expect("got: Review app.py carefully, focusing on docs.")
        child.expect("done")
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
