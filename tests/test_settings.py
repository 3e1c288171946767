"""Settings files: user rules always apply; a project file's allow rules only once trusted."""

from __future__ import annotations

import json

import pytest

from llm_coding_agent.settings import (
    SettingsError,
    is_trusted,
    load_settings,
    project_settings_path,
    trust_file,
    user_settings_path,
)


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)


def test_no_files(project):
    s = load_settings(project)
    assert s.allow == [] and s.deny == [] and s.network is None and s.sandbox is None


def test_user_settings_apply(project):
    write(user_settings_path(), {"allow": ["pytest*"], "deny": ["git push*"], "network": True,
                                 "sandbox": "off", "env_allow": ["GITHUB_TOKEN"]})
    s = load_settings(project)
    assert s.allow == ["pytest*"] and s.deny == ["git push*"]
    assert s.network is True and s.sandbox == "off" and s.env_allow == ["GITHUB_TOKEN"]


def test_untrusted_project_allow_inactive_deny_active(project):
    write(project_settings_path(project), {"allow": ["curl*"], "deny": ["rm*"], "network": True, "sandbox": "off"})
    s = load_settings(project)
    assert s.allow == [] and s.deny == ["rm*"]
    assert s.network is None and s.sandbox is None
    assert s.project_allow_pending == ["curl*"]
    assert s.untrusted_project_file == project_settings_path(project)


def test_tightening_project_options_always_apply(project):
    write(user_settings_path(), {"network": True})
    write(project_settings_path(project), {"network": False, "sandbox": "on"})
    s = load_settings(project)
    assert s.network is False and s.sandbox == "on"
    assert s.untrusted_project_file is None  # nothing to trust: it only tightens


def test_trust_callback_asked_once_and_recorded(project):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})
    asked = []
    s = load_settings(project, trust=lambda p, data: asked.append((p, data)) or True)
    assert s.allow == ["make test"] and len(asked) == 1
    assert asked[0][1] == {"allow": ["make test"]}
    assert is_trusted(path)
    s = load_settings(project, trust=lambda p, d: pytest.fail("asked again"))
    assert s.allow == ["make test"]


def test_declined_trust_keeps_rules_inactive(project):
    write(project_settings_path(project), {"allow": ["make test"]})
    s = load_settings(project, trust=lambda p, d: False)
    assert s.allow == [] and s.project_allow_pending == ["make test"]
    assert not is_trusted(project_settings_path(project))


def test_changed_file_is_untrusted_again(project):
    path = project_settings_path(project)
    write(path, {"allow": ["make test"]})
    trust_file(path)
    assert load_settings(project).allow == ["make test"]
    write(path, {"allow": ["make test", "curl*"]})
    s = load_settings(project)
    assert s.allow == [] and s.project_allow_pending == ["make test", "curl*"]


def test_trust_is_per_path(project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    data = {"allow": ["make test"]}
    write(project_settings_path(project), data)
    write(project_settings_path(other), data)
    trust_file(project_settings_path(project))
    assert load_settings(project).allow == ["make test"]
    assert load_settings(other).allow == []


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ({"allowed": ["x"]}, "unknown setting 'allowed'"),
        ({"allow": "pytest*"}, "'allow' must be a list of strings"),
        ({"allow": [1]}, "'allow' must be a list of strings"),
        ({"network": "yes"}, "'network' must be bool"),
        ({"sandbox": "maybe"}, "'sandbox' must be one of"),
    ],
)
def test_invalid_files_name_the_problem(project, content, message):
    write(user_settings_path(), content)
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(project)
    assert str(user_settings_path()) in str(info.value)


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
