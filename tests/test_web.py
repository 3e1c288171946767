"""``llm code web`` over HTTP (Starlette's TestClient, and real HTTP on 127.0.0.1): the security
rules, starting a task, answering pending calls, restarting, the browser and the stats page."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from llm.cli import cli, logs_db_path
from starlette.testclient import TestClient

from conftest import Step, tool
from llm_coding_agent import CodingAgent
from llm_coding_agent.web.app import WebServer, create_app
from llm_coding_agent.web.diffhtml import diff_html
from llm_coding_agent.web.live import SessionRegistry

PORT = 8765
TOKEN = "test-token"
CSRF = "test-csrf"
EDIT = tool("edit_file", path="app.py", old_string="return a - b", new_string="return a + b")


def make_client(project, port=PORT, registry=None):
    registry = registry or SessionRegistry(logs_db_path(), {"sandbox": "off"})
    app = create_app(registry, port=port, token=TOKEN, csrf=CSRF, directory=str(project))
    client = TestClient(app, base_url=f"http://127.0.0.1:{port}")
    client.cookies.set(f"llm_code_web_{port}", TOKEN)
    return client, registry


def post(client, url, body, csrf=CSRF):
    return client.post(url, content=json.dumps(body),
                       headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})


def wait_for(session, *states):
    """Until the session's worker thread has left it in one of ``states``."""
    with session.changed:
        assert session.changed.wait_for(lambda: session.state in states, timeout=30), session.state


# -- security -------------------------------------------------------------------------------------


def test_no_token_is_403_and_the_token_in_the_url_sets_a_cookie(project):
    registry = SessionRegistry(logs_db_path())
    app = create_app(registry, port=PORT, token=TOKEN, csrf=CSRF, directory=str(project))
    client = TestClient(app, base_url=f"http://127.0.0.1:{PORT}")
    for path in ("/", "/sessions", "/stats", "/static/app.js", "/session/x/events"):
        assert client.get(path).status_code == 403, path
    assert client.get("/?token=wrong").status_code == 403
    first = client.get(f"/?token={TOKEN}")
    assert first.status_code == 200 and "Start a task" in first.text
    assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
    # The cookie is enough from now on.
    assert client.get("/sessions").status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "localhost", "127.0.0.1.nip.io:8765", ""])
def test_a_wrong_host_header_is_403_even_with_the_token(project, host):
    client, _ = make_client(project)
    response = client.get(f"/?token={TOKEN}", headers={"Host": host})
    assert response.status_code == 403
    assert "Host" in response.text


def test_both_local_hosts_are_served(project):
    client, _ = make_client(project)
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}"):
        assert client.get("/", headers={"Host": host}).status_code == 200


def test_a_post_without_the_csrf_token_is_403_and_starts_nothing(project, model):
    client, registry = make_client(project)
    task = {"directory": str(project), "task": "fix add", "model": "scripted"}
    # A cross-site form post: the browser sends the cookie but cannot know the CSRF token.
    forged = client.post("/start", data={"task": "x"}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    assert post(client, "/start", task, csrf="").status_code == 403
    assert post(client, "/start", task, csrf="guess").status_code == 403
    # The right token from another origin is refused too.
    wrong_origin = client.post("/start", content=json.dumps(task), headers={
        "Content-Type": "application/json", "X-CSRF-Token": CSRF, "Origin": "http://evil.example"})
    assert wrong_origin.status_code == 403
    # A form body (what a cross-site <form> can send) is refused even with the token.
    form = client.post("/start", data=task, headers={"X-CSRF-Token": CSRF})
    assert form.status_code == 403
    assert registry.live() == [] and model.prompts == []


def test_no_cors_headers_and_strict_page_headers(project):
    client, _ = make_client(project)
    response = client.get("/", headers={"Origin": "http://evil.example"})
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    preflight = client.options("/start", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


def test_real_http_on_127_0_0_1_applies_the_same_rules(project, model):
    server = WebServer(logs_db_path(), directory=str(project), port=0)
    server.start_in_thread()
    try:
        base = f"http://127.0.0.1:{server.port}"

        def status(url, headers=None, data=None):
            request = urllib.request.Request(url, headers=headers or {}, data=data)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as ex:
                return ex.code

        assert status(base + "/") == 403
        assert status(server.url) == 200
        assert server.url.startswith(base) and server.token in server.url
        assert status(server.url, headers={"Host": f"evil.example:{server.port}"}) == 403
        body = json.dumps({"task": "x", "directory": str(project)}).encode()
        assert status(base + f"/start?token={server.token}", data=body,
                      headers={"Content-Type": "application/json"}) == 403
    finally:
        server.stop()
    assert model.prompts == []


def test_stopping_the_server_ends_open_event_streams(project, model):
    """A tab left open must not keep `llm code web` from stopping."""
    model.script("Hello.")
    server = WebServer(logs_db_path(), directory=str(project), port=0)
    server.start_in_thread()
    session = server.registry.start(str(project), "hi", model="scripted")
    wait_for(session, "idle")
    url = f"http://127.0.0.1:{server.port}/session/{session.conversation_id}/events?token={server.token}"
    lines = []

    def read():
        with urllib.request.urlopen(url, timeout=30) as response:
            for line in response:
                lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for _ in range(300):  # until the stream has delivered the answer
        if any(b"Hello." in line for line in lines):
            break
        time.sleep(0.1)
    server.stop()
    reader.join(timeout=20)
    assert not reader.is_alive() and not server._thread.is_alive()
    assert any(b"Hello." in line for line in lines)


# -- running tasks --------------------------------------------------------------------------------


def test_start_approve_and_the_file_changes(project, model):
    model.script(Step(tool_calls=[EDIT]), "Fixed.")
    client, registry = make_client(project)
    started = post(client, "/start", {"directory": str(project), "task": "fix add", "model": "scripted"})
    assert started.status_code == 200, started.text
    cid = started.json()["id"]
    session = registry.get(cid)
    wait_for(session, "waiting")
    pending = [e for e in session.events if e["kind"] == "pending"][-1]
    (call,) = pending["calls"]
    assert call["title"] == "Edit app.py?" and "<mark>-</mark>" in call["diff_html"] and "<mark>+</mark>" in call["diff_html"]
    assert "return a - b" in (project / "app.py").read_text()
    page = client.get(f"/session/{cid}")
    assert page.status_code == 200 and "fix add" in page.text
    assert post(client, f"/session/{cid}/answer", {"id": call["id"], "answer": "approve"}).status_code == 200
    wait_for(session, "idle")
    assert "return a + b" in (project / "app.py").read_text()
    kinds = [e["kind"] for e in session.events]
    assert "tool" in kinds and any(e["kind"] == "text" for e in session.events)
    assert "".join(e["text"] for e in session.events if e["kind"] == "text").endswith("Fixed.")


def test_decline_with_a_reason_tells_the_model(project, model):
    model.script(Step(tool_calls=[EDIT]), "OK, I will leave it.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "fix add", "model": "scripted"}).json()["id"]
    session = registry.get(cid)
    wait_for(session, "waiting")
    call_id = session.agent.pending_tool_calls[0].tool_call_id
    post(client, f"/session/{cid}/answer", {"id": call_id, "answer": "decline", "reason": "use operator.add"})
    wait_for(session, "idle")
    assert "return a - b" in (project / "app.py").read_text()
    sent = [r.output for r in model.prompts[-1].tool_results]
    assert sent and "declined" in sent[0] and "use operator.add" in sent[0]


def test_approve_always_lets_the_next_edit_through(project, model):
    second = tool("edit_file", path="README.md", old_string="# Demo", new_string="# Demo app")
    model.script(Step(tool_calls=[EDIT]), Step(tool_calls=[second]), "Done.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "fix", "model": "scripted"}).json()["id"]
    session = registry.get(cid)
    wait_for(session, "waiting")
    call_id = session.agent.pending_tool_calls[0].tool_call_id
    post(client, f"/session/{cid}/answer", {"id": call_id, "answer": "always"})
    wait_for(session, "idle")
    assert (project / "README.md").read_text() == "# Demo app\n"
    assert any("allowed all file edits" in e.get("text", "") for e in session.events)


def test_a_command_shows_the_rule_verdict(project, model):
    model.script(Step(tool_calls=[tool("execute_command", command="rm -rf build")]), "ok")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "clean", "model": "scripted"}).json()["id"]
    session = registry.get(cid)
    wait_for(session, "waiting")
    (call,) = [e for e in session.events if e["kind"] == "pending"][-1]["calls"]
    assert call["preview"] == "$ rm -rf build" and call["destructive"] and "rm" in call["reason"]
    assert call["always"] is None  # a destructive command is never allowed "always"
    post(client, f"/session/{cid}/answer", {"id": call["id"], "answer": "decline"})
    wait_for(session, "idle")


def test_a_restarted_server_shows_the_same_pending_call_and_continues(project, model):
    model.script(Step(tool_calls=[EDIT]), "Fixed after the restart.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "fix add", "model": "scripted"}).json()["id"]
    first = registry.get(cid)
    wait_for(first, "waiting")
    call_id = first.agent.pending_tool_calls[0].tool_call_id
    # A new server: nothing in memory, a new registry; the session comes back from the logs.
    client, registry = make_client(project, port=PORT + 1)
    page = client.get(f"/session/{cid}")
    assert page.status_code == 200
    session = registry.get(cid)
    assert session is not first and session.state == "waiting"
    (call,) = [e for e in session.events if e["kind"] == "pending"][-1]["calls"]
    assert call["id"] == call_id and call["title"] == "Edit app.py?"
    assert [e["text"] for e in session.events if e["kind"] == "request"] == ["fix add"]
    post(client, f"/session/{cid}/answer", {"id": call_id, "answer": "approve"})
    wait_for(session, "idle")
    assert "return a + b" in (project / "app.py").read_text()


def test_a_busy_or_idle_session_refuses_answers_with_one_line(project, model):
    model.script("Nothing to do.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "hi", "model": "scripted"}).json()["id"]
    wait_for(registry.get(cid), "idle")
    refused = post(client, f"/session/{cid}/answer", {"id": "x", "answer": "approve"})
    assert refused.status_code == 400 and refused.json() == {"error": "no tool call is waiting for an answer"}
    missing = post(client, "/start", {"directory": str(project / "nope"), "task": "x"})
    assert missing.status_code == 400 and "does not exist" in missing.json()["error"]
    assert client.get("/session/no-such-id").status_code == 400


def test_undo_puts_the_last_turn_back(project, model):
    model.script(Step(tool_calls=[EDIT]), "Fixed.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "fix add", "model": "scripted"}).json()["id"]
    session = registry.get(cid)
    wait_for(session, "waiting")
    post(client, f"/session/{cid}/answer", {"id": session.agent.pending_tool_calls[0].tool_call_id, "answer": "approve"})
    wait_for(session, "idle")
    undone = post(client, f"/session/{cid}/undo", {})
    assert undone.status_code == 200 and "restored app.py" in undone.json()["summary"]
    assert "return a - b" in (project / "app.py").read_text()


def test_plan_mode_plan_is_answered_on_the_page(project, model):
    plan = tool("present_plan", steps=["fix add in app.py", "run the tests"])
    model.script(Step(tool_calls=[("present_plan", plan[1])]), "Carrying it out.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "fix add", "model": "scripted", "plan": True}).json()["id"]
    session = registry.get(cid)
    wait_for(session, "waiting")
    pending = [e for e in session.events if e["kind"] == "pending"][-1]
    assert pending["plan"]["steps"] == ["fix add in app.py", "run the tests"]
    assert post(client, f"/session/{cid}/plan", {"answer": "approve"}).status_code == 200
    wait_for(session, "idle")
    assert not session.agent.planning
    todos = [e for e in session.events if e["kind"] == "todos"][-1]["items"]
    assert [t["step"] for t in todos] == ["fix add in app.py", "run the tests"]


def test_events_stream_replays_from_last_event_id(project, model):
    model.script("Hello there.")
    client, registry = make_client(project)
    cid = post(client, "/start", {"directory": str(project), "task": "hi", "model": "scripted"}).json()["id"]
    session = registry.get(cid)
    wait_for(session, "idle")
    registry.sessions[cid].emit("state", state="idle")
    seen = []
    with client.stream("GET", f"/session/{cid}/events", headers={"Last-Event-ID": "1"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if seen[-1]["n"] == len(session.events):
                    break
    assert [e["n"] for e in seen] == list(range(2, len(session.events) + 1))


# -- browsing the logs ----------------------------------------------------------------------------


def test_the_session_browser_lists_terminal_and_web_sessions(project, model):
    import sqlite_utils
    from llm.migrations import migrate

    db = sqlite_utils.Database(logs_db_path())
    migrate(db)
    model.script(Step(tool_calls=[EDIT], usage=(100, 20)), Step(text="Fixed.", usage=(120, 5)))
    agent = CodingAgent("scripted", root=project, approve=None, db=db, sandbox="off")
    agent.run("fix the add function")  # paused on the edit
    client, _ = make_client(project)
    page = client.get("/sessions")
    assert page.status_code == 200
    assert "fix the add function" in page.text and agent.conversation_id in page.text
    assert "waiting for approval" in page.text and "100 / 20" in page.text
    stats = client.get("/stats")
    assert stats.status_code == 200 and "<svg" in stats.text and "tasks per project" in stats.text
    assert "<title>input: 100</title>" in stats.text and "<title>output: 20</title>" in stats.text
    assert "1 session · 1 task" in stats.text


def test_stats_and_sessions_pages_are_empty_without_logs(project):
    client, _ = make_client(project)
    assert "No llm code sessions" in client.get("/sessions").text
    assert "No llm code tasks" in client.get("/stats").text


def test_diff_html_escapes_and_marks_changed_characters():
    diff = "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n keep\n-if a < b: <script>\n+if a <= b: <script>\n"
    html = diff_html(diff)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>=</mark>" in html
    assert 'class="diff unified"' in html and 'class="diff split"' in html


def test_llm_code_web_is_a_subcommand(project):
    result = CliRunner().invoke(cli, ["code", "web", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "token" in result.output
    bad = CliRunner().invoke(cli, ["code", "web", "-d", str(project / "missing")])
    assert bad.exit_code == 1 and "directory does not exist" in bad.output


def test_the_command_prints_the_url_and_serves(project, monkeypatch):
    """`llm code web --port 0` prints the address with the token; the server answers on it."""
    from llm_coding_agent.web import app as web_app

    served = {}

    def fake_serve(self):
        served["url"] = self.url
        self.start_in_thread()
        with urllib.request.urlopen(self.url, timeout=10) as response:
            served["status"] = response.status
        self.stop()

    monkeypatch.setattr(web_app.WebServer, "serve", fake_serve)
    result = CliRunner().invoke(cli, ["code", "web", "--port", "0", "-d", str(project)])
    assert result.exit_code == 0, result.output
    assert served["status"] == 200 and served["url"] in result.output


def test_several_sessions_wait_at_once_and_are_answered_separately(project, model):
    readme = tool("edit_file", path="README.md", old_string="# Demo", new_string="# Demo app")
    client, registry = make_client(project)
    model.script(Step(tool_calls=[EDIT]))
    first = registry.get(post(client, "/start", {"directory": str(project), "task": "fix add", "model": "scripted"}).json()["id"])
    wait_for(first, "waiting")
    model.script(Step(tool_calls=[readme]))
    second = registry.get(post(client, "/start", {"directory": str(project), "task": "rename", "model": "scripted"}).json()["id"])
    wait_for(second, "waiting")
    assert first is not second and {s.state for s in registry.live()} == {"waiting"}
    model.script("README renamed.")
    post(client, f"/session/{second.conversation_id}/answer", {"id": second.agent.pending_tool_calls[0].tool_call_id, "answer": "approve"})
    wait_for(second, "idle")
    assert first.state == "waiting" and (project / "README.md").read_text() == "# Demo app\n"
    assert "return a - b" in (project / "app.py").read_text()
    model.script("add fixed.")
    post(client, f"/session/{first.conversation_id}/answer", {"id": first.agent.pending_tool_calls[0].tool_call_id, "answer": "approve"})
    wait_for(first, "idle")
    assert "return a + b" in (project / "app.py").read_text()
    index = client.get("/")
    assert "fix add" in index.text and "rename" in index.text


def test_the_web_uses_only_the_public_agent_api():
    """No private attribute of an agent, and only names the agent modules export: the page is the
    proof that the public API is enough for an application."""
    import ast
    import importlib
    from pathlib import Path

    import llm_coding_agent.web as web

    for path in sorted(Path(web.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = ast.unparse(node.value)
                assert "agent" not in owner.lower(), f"{path.name}: {owner}.{node.attr}"
            if isinstance(node, ast.ImportFrom) and node.level == 2 and (node.module or "").startswith("agent"):
                module = importlib.import_module(f"llm_coding_agent.{node.module}")
                for alias in node.names:
                    assert alias.name in module.__all__, f"{path.name} imports {node.module}.{alias.name}"
