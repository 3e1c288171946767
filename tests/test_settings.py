"""Settings files: user rules always apply; a project file's allow rules only once trusted."""

from __future__ import annotations

import json
import os

import llm
import pytest

from llm_coding_agent.safety.settings import (
    SettingsError,
    add_user_rule,
    is_trusted,
    load_settings,
    project_settings_path,
    trust_file,
    user_settings_path,
)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


def test_paths_follow_llm_user_dir(project, user_dir):
    assert user_settings_path() == llm.user_dir() / "llm-code" / "settings.json"
    assert str(user_settings_path()).startswith(str(user_dir))
    assert project_settings_path(project) == project / ".llm-code" / "settings.json"


def test_no_files(project):
    s = load_settings(project)
    assert s.allow == [] and s.deny == [] and s.network is None and s.sandbox is None
    assert s.env_allow == [] and s.untrusted_project_file is None and s.project_allow_pending == []


def test_user_settings_apply(project):
    write(user_settings_path(), {"allow": ["pytest*"], "deny": ["git push*"], "network": True,
                                 "sandbox": "off", "env_allow": ["GITHUB_TOKEN"]})
    s = load_settings(project)
    assert s.allow == ["pytest*"] and s.deny == ["git push*"]
    assert s.network is True and s.sandbox == "off" and s.env_allow == ["GITHUB_TOKEN"]


def test_untrusted_project_allow_inactive_deny_active(project):
    write(project_settings_path(project), {"allow": ["curl*"], "deny": ["rm*"], "network": True,
                                           "sandbox": "off", "env_allow": ["AWS_SECRET"]})
    s = load_settings(project)
    assert s.allow == [] and s.deny == ["rm*"] and s.env_allow == []
    assert s.network is None and s.sandbox is None
    assert s.project_allow_pending == ["curl*"]
    assert s.project_pending == {"allow": ["curl*"], "network": True, "sandbox": "off",
                                 "env_allow": ["AWS_SECRET"]}
    assert s.untrusted_project_file == project_settings_path(project)


def test_tightening_project_options_always_apply(project):
    write(user_settings_path(), {"network": True, "sandbox": "off"})
    write(project_settings_path(project), {"network": False, "sandbox": "on"})
    s = load_settings(project)
    assert s.network is False and s.sandbox == "on"
    assert s.untrusted_project_file is None  # nothing to trust: it only tightens


def test_untrusted_project_sandbox_auto_tightens_user_off(project):
    write(user_settings_path(), {"sandbox": "off"})
    write(project_settings_path(project), {"sandbox": "auto"})
    s = load_settings(project)
    assert s.sandbox == "auto" and s.untrusted_project_file is None


def test_trusted_project_cannot_override_explicit_user_choice(project):
    write(user_settings_path(), {"network": False, "sandbox": "on", "allow": ["ls*"]})
    path = project_settings_path(project)
    write(path, {"network": True, "sandbox": "off", "allow": ["make test"]})
    trust_file(path)
    s = load_settings(project)
    assert s.network is False and s.sandbox == "on"
    assert s.allow == ["ls*", "make test"]


def test_trusted_project_fills_unset_options(project):
    path = project_settings_path(project)
    write(path, {"network": True, "sandbox": "off", "env_allow": ["NPM_TOKEN"]})
    trust_file(path)
    s = load_settings(project)
    assert s.network is True and s.sandbox == "off" and s.env_allow == ["NPM_TOKEN"]
    assert s.untrusted_project_file is None


def test_merge_order_user_first_and_no_duplicates(project):
    write(user_settings_path(), {"allow": ["pytest*", "ls*"], "deny": ["git push*"]})
    path = project_settings_path(project)
    write(path, {"allow": ["ls*", "make test"], "deny": ["git push*", "curl*"]})
    trust_file(path)
    s = load_settings(project)
    assert s.allow == ["pytest*", "ls*", "make test"]
    assert s.deny == ["git push*", "curl*"]


def test_trust_callback_asked_once_and_recorded(project):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})
    asked = []
    s = load_settings(project, trust=lambda p, data: asked.append((p, data)) or True)
    assert s.allow == ["make test"] and len(asked) == 1
    assert asked[0] == (path, {"allow": ["make test"]})
    assert is_trusted(path)
    s = load_settings(project, trust=lambda p, d: pytest.fail("asked again"))
    assert s.allow == ["make test"]


def test_trust_records_the_content_that_was_shown(project):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})

    def swap_then_accept(p, data):
        # The file changes while the user reads the prompt: trust must not carry over.
        write(path, {"allow": ["*"]})
        return True

    s = load_settings(project, trust=swap_then_accept)
    assert s.allow == ["make test"]
    assert not is_trusted(path)
    assert load_settings(project).allow == []


def test_trust_callback_not_called_when_nothing_to_trust(project):
    write(project_settings_path(project), {"deny": ["rm*"], "network": False})
    s = load_settings(project, trust=lambda p, d: pytest.fail("asked"))
    assert s.deny == ["rm*"] and s.network is False


@pytest.mark.parametrize("answer", [False, None, "yes"])
def test_declined_trust_keeps_rules_inactive(project, answer):
    write(project_settings_path(project), {"allow": ["make test"], "deny": ["rm*"]})
    s = load_settings(project, trust=lambda p, d: answer)
    assert s.allow == [] and s.project_allow_pending == ["make test"] and s.deny == ["rm*"]
    assert not is_trusted(project_settings_path(project))


def test_changed_file_is_untrusted_again(project):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})
    trust_file(path)
    assert load_settings(project).allow == ["make test"]
    write(path, {"allow": ["make test", "curl*"]})
    assert not is_trusted(path)
    s = load_settings(project)
    assert s.allow == [] and s.project_allow_pending == ["make test", "curl*"]
    # Changing it back restores trust: the record is of content, not of a moment.
    write(path, {"allow": ["make test"]})
    assert load_settings(project).allow == ["make test"]


def test_trust_is_per_path(project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    data = {"allow": ["make test"]}
    write(project_settings_path(project), data)
    write(project_settings_path(other), data)
    trust_file(project_settings_path(project))
    assert load_settings(project).allow == ["make test"]
    assert load_settings(other).allow == []


def test_symlinked_project_file_does_not_borrow_trust(project, tmp_path):
    trusted_path = project_settings_path(project)
    write(trusted_path, {"allow": ["make deploy"]})
    trust_file(trusted_path)
    repo = tmp_path / "cloned"
    (repo / ".llm-code").mkdir(parents=True)
    os.symlink(trusted_path, project_settings_path(repo))
    s = load_settings(repo)
    assert s.allow == [] and s.project_allow_pending == ["make deploy"]


def test_trust_record_format_and_atomic_write(project, user_dir):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})
    trust_file(path)
    record = json.loads((user_dir / "llm-code" / "trusted.json").read_text())
    import hashlib

    assert record == {str(path): hashlib.sha256(path.read_bytes()).hexdigest()}
    assert [p.name for p in (user_dir / "llm-code").iterdir()] == ["trusted.json"]  # no temp files


def test_damaged_trust_record_means_untrusted(project, user_dir):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})
    write(user_dir / "llm-code" / "trusted.json", "{oops")
    assert not is_trusted(path)
    trust_file(path)
    assert is_trusted(path)


def test_trust_file_requires_existing_file(project):
    with pytest.raises(SettingsError, match="does not exist"):
        trust_file(project_settings_path(project))


def test_add_user_rule_creates_and_keeps_other_settings(project):
    assert add_user_rule("pytest*") is True
    assert add_user_rule("pytest*") is False
    write(user_settings_path(), {"network": False, "allow": ["ls*"]})
    assert add_user_rule("git push*", kind="deny")
    assert add_user_rule("git diff*")
    data = json.loads(user_settings_path().read_text())
    assert data == {"network": False, "allow": ["ls*", "git diff*"], "deny": ["git push*"]}
    s = load_settings(project)
    assert s.allow == ["ls*", "git diff*"] and s.deny == ["git push*"]


def test_add_user_rule_refuses_bad_input(project):
    with pytest.raises(SettingsError):
        add_user_rule("  ")
    with pytest.raises(ValueError):
        add_user_rule("x", kind="maybe")
    write(user_settings_path(), "{oops")
    with pytest.raises(SettingsError, match="not valid JSON"):
        add_user_rule("pytest*")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ({"allowed": ["x"]}, "unknown setting 'allowed'"),
        ({"allow": "pytest*"}, "'allow' must be a list of strings"),
        ({"allow": [1]}, "'allow' must be a list of strings"),
        ({"deny": [""]}, "'deny' must be a list of strings"),
        ({"network": "yes"}, "'network' must be bool"),
        ({"sandbox": "maybe"}, "'sandbox' must be one of"),
        ({"sandbox": 1}, "'sandbox' must be str"),
        ({"env_allow": ["NOT A NAME"]}, "'env_allow' entry 'NOT A NAME'"),
    ],
)
@pytest.mark.parametrize("which", ["user", "project"])
def test_invalid_files_name_the_problem(project, content, message, which):
    path = user_settings_path() if which == "user" else project_settings_path(project)
    write(path, content)
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(project)
    assert str(path) in str(info.value)


def test_settings_path_that_is_a_directory(project):
    project_settings_path(project).mkdir(parents=True)
    with pytest.raises(SettingsError, match="is a directory"):
        load_settings(project)


def test_agent_tools_cannot_write_settings(project):
    from llm_coding_agent import CodingTools

    tools = CodingTools(str(project), sandbox="off")
    out = tools.write_file(".llm-code/settings.json", json.dumps({"allow": ["*"]}))
    assert out.startswith("Error:") and "settings" in out
    assert not project_settings_path(project).exists()


def test_cli_reports_bad_settings_in_one_line(model, project):
    from click.testing import CliRunner
    from llm.cli import cli

    write(user_settings_path(), "{oops")
    result = CliRunner().invoke(cli, ["code", "-m", "scripted", "-d", str(project), "-p", "hi"])
    assert result.exit_code == 1 and "not valid JSON" in result.stderr
    assert "Traceback" not in result.output
