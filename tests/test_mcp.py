"""MCP servers: configuration files, trust, real servers (the SDK's MCPServer over stdio and
streamable HTTP on 127.0.0.1), failures, rules, `llm code mcp`, `!mcp` and the CLI end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from llm.cli import cli

from conftest import Step
from llm_coding_agent import CodingAgent
from llm_coding_agent.integrations.mcp import MAX_RESULT_CHARS, cap_output, mcp_tool_name
from llm_coding_agent.integrations.mcp_config import (
    McpConfigError, expand_variables, load_server_set, project_mcp_path, user_mcp_path,
)
from llm_coding_agent.safety.approval import ApprovalPolicy
from llm_coding_agent.safety.rules import CommandRules, Verdict
from llm_coding_agent.safety.settings import is_trusted, trust_file

SERVER = str(Path(__file__).parent / "support" / "mcp_dt_server.py")


def dt_entry(pid_file: Path | None = None, **env: str) -> dict:
    if pid_file is not None:
        env["MCP_PID_FILE"] = str(pid_file)
    return {"command": sys.executable, "args": [SERVER], "env": env}


def servers(**entries: dict) -> dict:
    return {"mcpServers": entries}


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def sent_tools(prompt) -> dict:
    return {t.name: t for t in prompt.tools}


def results_of(prompt) -> list[str]:
    return [p.output for m in prompt.messages for p in m.parts if hasattr(p, "output")]


def run_cli(args, input=None):
    return CliRunner().invoke(cli, ["code", *args], input=input, catch_exceptions=False)


def base(project, *extra):
    return ["-m", "scripted", "-d", str(project), "--sandbox", "off", *extra]


# -- configuration ----------------------------------------------------------------------------------


def test_variables_expand_with_defaults_and_unset_ones_stay_with_a_warning(monkeypatch):
    monkeypatch.setenv("MCP_T_HOST", "example.org")
    monkeypatch.delenv("MCP_T_UNSET", raising=False)
    warnings: list[str] = []
    text = expand_variables("https://${MCP_T_HOST}/${MCP_T_UNSET:-v1}/${MCP_T_UNSET}", warnings, "f: server 'x'")
    assert text == "https://example.org/v1/${MCP_T_UNSET}"
    assert warnings == ["f: server 'x': ${MCP_T_UNSET} is not set, so it stays as written"]


def test_user_entries_win_over_the_project_and_run_files_over_both(project, monkeypatch):
    monkeypatch.setenv("MCP_T_ARG", "from-env")
    project_mcp_path(project).write_text(json.dumps(servers(
        dt={"command": "project-dt"}, only_project={"command": "p", "args": ["${MCP_T_ARG}"], "cwd": "sub"},
    )))
    trust_file(project_mcp_path(project))
    user_mcp_path().parent.mkdir(parents=True, exist_ok=True)
    user_mcp_path().write_text(json.dumps(servers(
        dt={"command": "user-dt"}, web={"type": "http", "url": "http://127.0.0.1:9/mcp"},
    )))
    found = load_server_set(project, extra=[servers(web={"type": "streamable-http", "url": "http://127.0.0.1:8/mcp"})])
    by_name = {s.name: s for s in found.servers}
    assert by_name["dt"].command == "user-dt" and by_name["dt"].scope == "user"
    assert by_name["only_project"].args == ["from-env"]
    assert by_name["only_project"].cwd == str(project / "sub")
    assert by_name["web"].url == "http://127.0.0.1:8/mcp" and by_name["web"].scope == "run"
    assert not load_server_set(project, default_files=False).servers


def test_unusable_entries_are_refused_with_the_file_and_server_named(project, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(servers(old={"type": "sse", "url": "http://x"})))
    with pytest.raises(McpConfigError, match="bad.json: server 'old'.*SSE"):
        load_server_set(project, extra=[str(bad)])
    with pytest.raises(McpConfigError, match="no such MCP server file"):
        load_server_set(project, extra=[str(tmp_path / "missing.json")])
    # A broken project file is skipped with a warning; the session goes on.
    project_mcp_path(project).write_text("{not json")
    found = load_server_set(project)
    assert not found.servers and "not valid JSON" in found.warnings[0]


def test_untrusted_project_file_starts_nothing_until_trusted(project):
    path = project_mcp_path(project)
    path.write_text(json.dumps(servers(dt={"command": "dt"})))
    found = load_server_set(project)
    assert not found.servers and found.untrusted_servers == ["dt"] and found.untrusted_project_file == path
    asked = []
    found = load_server_set(project, trust=lambda p, specs: asked.append([s.name for s in specs]) or True)
    assert asked == [["dt"]] and [s.name for s in found.servers] == ["dt"] and is_trusted(path)
    path.write_text(json.dumps(servers(dt={"command": "something-else"})))  # changed: untrusted again
    assert not load_server_set(project).servers


def test_timeouts_come_from_the_settings_files_the_users_first(project):
    from llm_coding_agent.safety.settings import load_settings, project_settings_path, user_settings_path

    project_settings_path(project).parent.mkdir()
    project_settings_path(project).write_text(json.dumps({"mcp_startup_timeout": 30, "mcp_tool_timeout": 5}))
    user_settings_path().parent.mkdir(parents=True, exist_ok=True)
    user_settings_path().write_text(json.dumps({"mcp_startup_timeout": 20}))
    layer = load_settings(project).config_layer()
    assert layer["mcp_startup_timeout"] == 20 and layer["mcp_tool_timeout"] == 5


def test_tool_names_are_safe_for_model_apis():
    assert mcp_tool_name("dt", "now") == "mcp__dt__now"
    assert mcp_tool_name("my server", "get.issue") == "mcp__my_server__get_issue"
    assert len(mcp_tool_name("s" * 50, "t" * 50)) == 64


def test_long_results_keep_their_start_and_end():
    text = "".join(f"{i:06d}\n" for i in range(20_000))
    capped = cap_output(text)
    assert len(capped) < MAX_RESULT_CHARS + 200 and "output truncated" in capped
    assert capped.startswith("000000") and capped.endswith("019999\n")


# -- rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule, allowed", [
    ("mcp__dt__*", True), ("mcp__dt", True), ("mcp__dt__now", True), ("mcp__dt__add_days", False),
    ("mcp__other__*", False), ("mcp__d", False), ("*", False),
])
def test_allow_rules_name_mcp_tools(tmp_path, rule, allowed):
    policy = ApprovalPolicy(root=tmp_path, rules=CommandRules(allow=[rule]))
    verdict = policy.decide("mcp__dt__now", {}).verdict
    assert verdict is (Verdict.ALLOW if allowed else Verdict.ASK)


def test_deny_rules_on_mcp_tools_win_even_over_yolo(tmp_path):
    policy = ApprovalPolicy(root=tmp_path, rules=CommandRules(allow=["mcp__dt__*"], deny=["mcp__dt__crash"]), yolo=True)
    assert policy.decide("mcp__dt__crash", {}).verdict is Verdict.DENY
    assert policy.decide("mcp__dt__now", {}).verdict is Verdict.ALLOW
    # A tool rule never approves a command, and a command rule never an MCP tool.
    policy = ApprovalPolicy(root=tmp_path, rules=CommandRules(allow=["mcp__dt__*", "echo*"]))
    assert policy.decide("CodingTools_execute_command", {"command": "mcp__dt__now"}).verdict is Verdict.ASK
    assert ApprovalPolicy(root=tmp_path, rules=CommandRules(allow=["mcp*"])).decide("mcp__dt__now", {}).verdict is Verdict.ASK


# -- real servers through the agent -----------------------------------------------------------------


def test_stdio_server_tools_reach_the_model_and_answer(model, project, tmp_path):
    pid_file = tmp_path / "dt.pid"
    notices: list[str] = []
    model.script(
        Step(tool_calls=[("mcp__dt__add_days", {"date": "2026-12-30", "days": 3})]),
        Step(tool_calls=[("mcp__dt__broken", {})]),
        "done",
    )
    with CodingAgent(
        "scripted", root=project, approve=True, on_notice=notices.append, mcp_config=[servers(dt=dt_entry(pid_file))],
    ) as agent:
        result = agent.run("what date is three days after 2026-12-30?")
        pid = int(pid_file.read_text())
        assert running(pid)
    assert result.stop_reason == "done"
    tools = sent_tools(model.prompts[0])
    assert tools["mcp__dt__now"].description.startswith("The current date and time")
    assert tools["mcp__dt__add_days"].input_schema["required"] == ["date", "days"]
    outputs = results_of(model.prompts[-1])
    assert outputs[0] == "2027-01-02"
    assert outputs[1].startswith("Error:") and "the calendar is closed" in outputs[1]
    assert any(n.startswith("MCP: dt") for n in notices)
    assert not running(pid), "the server outlived the agent"


def test_mcp_tools_ask_first_and_a_decline_runs_nothing(model, project, tmp_path):
    asked = []
    model.script(Step(tool_calls=[("mcp__dt__now", {})]), "ok")
    with CodingAgent(
        "scripted", root=project, approve=lambda tool, call: asked.append(tool.name) or False,
        mcp_config=[servers(dt=dt_entry())],
    ) as agent:
        agent.run("time?")
    assert asked == ["mcp__dt__now"]
    assert results_of(model.prompts[-1])[0].startswith("Cancelled:")


def test_a_server_that_crashes_mid_call_is_withdrawn_and_the_session_goes_on(model, project, tmp_path):
    pid_file = tmp_path / "dt.pid"
    notices: list[str] = []
    model.script(
        Step(tool_calls=[("mcp__dt__crash", {})]),
        Step(tool_calls=[("mcp__dt__now", {})]),
        "carried on",
    )
    with CodingAgent(
        "scripted", root=project, approve=True, on_notice=notices.append, mcp_config=[servers(dt=dt_entry(pid_file))],
    ) as agent:
        result = agent.run("crash it")
        assert result.stop_reason == "done" and result.text == "carried on"
        assert "mcp__dt__now" in sent_tools(model.prompts[0])
        assert not any(name.startswith("mcp__") for name in sent_tools(model.prompts[1]))
        assert not any(name.startswith("mcp__") for name in sent_tools(model.prompts[2]))
        first, second = results_of(model.prompts[-1])
        assert first.startswith("Error: the MCP server dt stopped during this call")
        assert second.startswith("Error:")
        assert [n for n in notices if "stopped" in n] == [
            "MCP server dt stopped (Connection closed); its tools are withdrawn"
        ]
        assert not running(int(pid_file.read_text()))
        agent.run("and now?")  # later requests work, without the server
        assert not any(name.startswith("mcp__") for name in sent_tools(model.prompts[-1]))


def test_a_server_that_never_finishes_starting_times_out_and_is_stopped(model, project, tmp_path):
    pid_file = tmp_path / "hang.pid"
    notices: list[str] = []
    model.script("ok")
    with CodingAgent(
        "scripted", root=project, approve=True, on_notice=notices.append, mcp_startup_timeout=1,
        # dt's own start-up timeout wins over the session's 1 s.
        mcp_config=[servers(hang=dt_entry(pid_file, MCP_HANG_AT_START="1"), dt={**dt_entry(), "startup_timeout_sec": 60})],
    ) as agent:
        agent.run("hi")
        assert [s.status for s in agent.mcp.statuses()] == ["failed", "running"]
    assert "MCP server hang failed to start: did not finish starting within 1 s; its tools are not available" in notices
    tools = sent_tools(model.prompts[0])
    assert "mcp__dt__now" in tools and not any(n.startswith("mcp__hang") for n in tools)
    assert not running(int(pid_file.read_text()))


def test_a_call_past_the_tool_timeout_is_cancelled_and_the_server_stays(model, project):
    model.script(Step(tool_calls=[("mcp__dt__slow", {}), ("mcp__dt__add_days", {"date": "2026-01-01", "days": 1})]), "ok")
    entry = {**dt_entry(), "tool_timeout_sec": 1}
    with CodingAgent("scripted", root=project, approve=True, mcp_config=[servers(dt=entry)]) as agent:
        agent.run("wait")
        assert [s.status for s in agent.mcp.statuses()] == ["running"]
    slow, after = results_of(model.prompts[-1])
    assert slow.startswith("Error: mcp__dt__slow did not answer within 1 s (the call was cancelled)")
    assert after == "2026-01-02"


def test_a_missing_command_is_reported_in_one_line(model, project):
    notices: list[str] = []
    model.script("ok")
    with CodingAgent(
        "scripted", root=project, on_notice=notices.append,
        mcp_config=[servers(gone={"command": "no-such-mcp-server-program"})],
    ) as agent:
        assert agent.run("hi").stop_reason == "done"
    assert notices == [
        "MCP server gone failed to start: command not found: no-such-mcp-server-program; its tools are not available"
    ]


def test_a_server_that_exits_at_start_says_why_without_a_traceback(model, project, capfd):
    notices: list[str] = []
    entries = servers(
        bad={"command": sys.executable, "args": ["-c", "raise SystemExit('no config file')"]},
        chatty={"command": "echo", "args": ["not json-rpc"]},
    )
    with CodingAgent("scripted", root=project, on_notice=notices.append, mcp_config=[entries]):
        pass
    assert notices == [
        "MCP server bad failed to start: it exited before answering (stderr: no config file); "
        "its tools are not available",
        "MCP server chatty failed to start: it exited or closed the connection before answering "
        "(is it an MCP server?); its tools are not available",
    ]
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture
def http_server(tmp_path):
    """The test server over streamable HTTP on 127.0.0.1, on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the HTTP test server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    process.kill()
    process.wait()


def test_http_server_with_headers_from_the_environment(model, project, http_server, monkeypatch):
    monkeypatch.setenv("MCP_T_TOKEN", "s3cret")
    model.script(Step(tool_calls=[("mcp__web__header", {"name": "Authorization"}), ("mcp__web__now", {})]), "ok")
    entry = {"type": "http", "url": http_server, "headers": {"Authorization": "Bearer ${MCP_T_TOKEN}"}}
    with CodingAgent("scripted", root=project, approve=True, mcp_config=[servers(web=entry)]) as agent:
        agent.run("who am I?")
    header, now = results_of(model.prompts[-1])
    assert header == "Bearer s3cret"
    assert now[:4].isdigit() and "T" in now


def test_an_http_server_that_dies_mid_call_is_withdrawn(model, project, http_server):
    notices: list[str] = []
    model.script(Step(tool_calls=[("mcp__web__crash", {})]), "carried on")
    with CodingAgent(
        "scripted", root=project, approve=True, on_notice=notices.append,
        mcp_config=[servers(web={"type": "http", "url": http_server})],
    ) as agent:
        assert agent.run("crash it").text == "carried on"
        assert [s.status for s in agent.mcp.statuses()] == ["exited"]
    assert results_of(model.prompts[-1])[0].startswith("Error: the MCP server web stopped during this call")
    assert not any(name.startswith("mcp__") for name in sent_tools(model.prompts[-1]))
    assert "MCP server web stopped (Connection closed); its tools are withdrawn" in notices


def test_an_unreachable_http_server_fails_to_start_in_one_line(model, project):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes
    notices: list[str] = []
    model.script("ok")
    entry = {"type": "http", "url": f"http://127.0.0.1:{port}/mcp"}
    with CodingAgent("scripted", root=project, on_notice=notices.append, mcp_config=[servers(web=entry)]):
        pass
    assert len(notices) == 1 and notices[0].startswith(f"MCP server web failed to start: http://127.0.0.1:{port}/mcp")


def test_long_results_are_capped(model, project):
    model.script(Step(tool_calls=[("mcp__dt__big", {"lines": 5000})]), "ok")
    with CodingAgent("scripted", root=project, approve=True, mcp_config=[servers(dt=dt_entry())]) as agent:
        agent.run("big")
    output = results_of(model.prompts[-1])[0]
    assert "output truncated" in output and len(output) < MAX_RESULT_CHARS + 200
    assert output.startswith("line 0 ") and output.endswith("line 4999 " + "x" * 40)


# -- the CLI ----------------------------------------------------------------------------------------


def write_config(tmp_path, **entries) -> str:
    path = tmp_path / "servers.json"
    path.write_text(json.dumps(servers(**entries)))
    return str(path)


def test_cli_json_run_calls_an_mcp_tool_allowed_by_a_rule(model, project, tmp_path):
    pid_file = tmp_path / "dt.pid"
    config = write_config(tmp_path, dt=dt_entry(pid_file))
    model.script(Step(tool_calls=[("mcp__dt__add_days", {"date": "2026-02-27", "days": 2})]), "It is March 1st.")
    result = run_cli(base(project, "-p", "date?", "--json", "--mcp-config", config, "--allow", "mcp__dt__*"))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    tool_results = [e for e in events if e["type"] == "tool_result"]
    assert tool_results == [{
        "type": "tool_result", "id": tool_results[0]["id"], "name": "mcp__dt__add_days",
        "output": "2026-03-01", "error": False,
    }]
    assert events[-1]["type"] == "final" and events[-1]["status"] == "ok"
    assert not running(int(pid_file.read_text()))


def test_cli_headless_declines_an_mcp_tool_without_a_rule_and_says_which_rule(model, project, tmp_path):
    config = write_config(tmp_path, dt=dt_entry())
    model.script(Step(tool_calls=[("mcp__dt__now", {})]), "no")
    result = run_cli(base(project, "-p", "time?", "--mcp-config", config))
    assert result.exit_code == 0, result.output
    assert results_of(model.prompts[-1])[0].startswith("Cancelled:")
    assert '--allow "mcp__dt__now"' in result.stderr


def test_cli_deny_rule_in_the_settings_refuses_an_mcp_tool(model, project, tmp_path):
    user_mcp_path().parent.mkdir(parents=True, exist_ok=True)
    (user_mcp_path().parent / "settings.json").write_text(json.dumps({"deny": ["mcp__dt"]}))
    user_mcp_path().write_text(json.dumps(servers(dt=dt_entry())))
    model.script(Step(tool_calls=[("mcp__dt__now", {})]), "no")
    result = run_cli(base(project, "-p", "time?", "--yolo"))
    assert result.exit_code == 0, result.output
    assert "refused by a deny rule" in results_of(model.prompts[-1])[0]


def test_cli_headless_skips_an_untrusted_project_file_and_says_so(model, project, tmp_path):
    pid_file = tmp_path / "never.pid"
    project_mcp_path(project).write_text(json.dumps(servers(dt=dt_entry(pid_file))))
    model.script("ok")
    result = run_cli(base(project, "-p", "hi", "--yolo"))
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.stderr.splitlines() if ".mcp.json" in line]
    assert len(skipped) == 1 and "not trusted" in skipped[0] and "(dt)" in skipped[0]
    assert not pid_file.exists(), "an untrusted project server was started"
    assert not any(name.startswith("mcp__") for name in sent_tools(model.prompts[0]))


def test_cli_interactive_asks_to_trust_the_project_file_then_lists_it_with_mcp(model, project):
    project_mcp_path(project).write_text(json.dumps(servers(dt=dt_entry())))
    result = run_cli(base(project), input="y\n!mcp\n!quit\n")
    assert result.exit_code == 0, result.output
    assert "wants to start MCP servers: dt (stdio:" in result.output
    assert is_trusted(project_mcp_path(project))
    assert "dt  (project .mcp.json" in result.output and "running, 7 tools" in result.output
    assert "mcp__dt__add_days  The date (YYYY-MM-DD)" in result.output


def test_cli_interactive_declined_trust_starts_nothing(model, project, tmp_path):
    pid_file = tmp_path / "never.pid"
    project_mcp_path(project).write_text(json.dumps(servers(dt=dt_entry(pid_file))))
    result = run_cli(base(project), input="n\n!mcp\n!quit\n")
    assert result.exit_code == 0, result.output
    assert not pid_file.exists() and not is_trusted(project_mcp_path(project))
    assert "not started: the file is not trusted" in result.output


def test_cli_bad_mcp_config_file_is_one_line_and_exit_1(project, tmp_path):
    result = run_cli(base(project, "-p", "hi", "--mcp-config", str(tmp_path / "nope.json")))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {tmp_path / 'nope.json'}: no such MCP server file"


def test_llm_code_mcp_lists_servers_status_and_tools(project, tmp_path):
    user_mcp_path().parent.mkdir(parents=True, exist_ok=True)
    user_mcp_path().write_text(json.dumps(servers(dt=dt_entry(), gone={"command": "no-such-mcp-server-program"})))
    project_mcp_path(project).write_text(json.dumps(servers(repo={"command": "repo-server"})))
    result = run_cli(["mcp", "-d", str(project)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("dt  (your mcp.json · stdio: ") and lines[0].endswith("running, 7 tools")
    assert "  mcp__dt__now  The current date and time (ISO 8601) at a UTC offset in hours." in lines
    assert any(
        line.startswith("gone  (your mcp.json") and line.endswith("failed (command not found: no-such-mcp-server-program)")
        for line in lines
    )
    assert any(line.startswith("repo  (") and "not trusted" in line for line in lines)
    as_json = json.loads(run_cli(["mcp", "-d", str(project), "--json"]).output)
    assert [(s["name"], s["status"]) for s in as_json["servers"]] == [("dt", "running"), ("gone", "failed")]
    assert as_json["untrusted"]["servers"] == ["repo"]


def test_llm_code_mcp_without_servers_says_how_to_add_them(project):
    result = run_cli(["mcp", "-d", str(project)])
    assert result.exit_code == 0 and result.output.startswith("No MCP servers configured.")
