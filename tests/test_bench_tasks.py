"""The benchmark task suite in bench/tasks/ is well-formed and every hidden
check really discriminates: it fails on the untouched repo and passes once the
task's reference.patch is applied. Needs no model."""
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from harnesses.suite import load_tasks, validate_tasks  # noqa: E402

TASKS = load_tasks()
NAMES = [t.name for t in TASKS]


def test_suite_size_and_smoke_selection():
    assert len(TASKS) >= 15
    smoke = [t.name for t in TASKS if t.smoke]
    assert 2 <= len(smoke) <= 3, smoke


@pytest.mark.parametrize("task", TASKS, ids=NAMES)
def test_task_layout(task):
    assert task.prompt, "task.md must not be empty"
    assert task.check_dir.is_dir()
    assert task.reference_patch.is_file()
    if (task.path / "meta.json").exists():
        meta = json.loads((task.path / "meta.json").read_text())
        assert set(meta) <= {"time_limit", "tags", "smoke"}, meta
    files = [p for p in task.repo.rglob("*") if p.is_file()]
    assert 1 <= len(files) <= 4, files
    assert not any("__pycache__" in p.parts for p in files)


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    # All tasks at once: the checks run batched in two interpreters (before / after).
    return validate_tasks(TASKS, tmp_path_factory.mktemp("bench_tasks"))


@pytest.mark.parametrize("name", NAMES)
def test_check_fails_before_and_passes_after_reference_fix(validation, name):
    problems = validation[name]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- runner pieces (no model)
def test_ours_event_stream_parsing(tmp_path):
    from harnesses.ours import parse_events

    events = [
        {"type": "text", "text": "Looking"},
        {"type": "tool_call", "name": "read_file", "arguments": {"path": "a.py"}, "id": "1"},
        {"type": "tool_result", "name": "read_file", "output": "1\tx = 1", "id": "1", "error": False},
        {"type": "tool_call", "name": "edit_file", "arguments": {}, "id": "2"},
        {"type": "tool_result", "name": "edit_file", "output": "Error: old_string not found",
         "id": "2", "error": True},
        {"type": "final", "text": "done", "usage": {"input": 120, "output": 30},
         "model_calls": 3, "hit_limit": False, "status": "ok"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\nnot json\n")
    run = parse_events(path, 0, False, tmp_path / "missing")
    assert (run.status, run.tool_calls, run.tool_errors) == ("ok", 2, 1)
    assert (run.model_calls, run.input_tokens, run.output_tokens) == (3, 120, 30)
    # cut off at the time limit: no final event
    path.write_text("\n".join(json.dumps(e) for e in events[:5]) + '\n{"type": "te')
    run = parse_events(path, -9, True, tmp_path / "missing")
    assert (run.status, run.tool_calls, run.tool_errors, run.model_calls) == ("timeout", 2, 1, None)


def test_meter_counts_plain_and_streamed_calls():
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from harnesses.meter import Meter

    class Upstream(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body.get("stream"):
                call = [{"index": 0, "function": {"name": "write_file", "arguments": '{"path"'}}]
                more = [{"index": 0, "function": {"arguments": ': "a"}'}}]
                chunks = [{"choices": [{"delta": {"content": "hi"}}]},
                          {"choices": [{"delta": {"tool_calls": call}}]}, {"choices": [{"delta": {"tool_calls": more}}]},
                          {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}]
                payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                ctype = "text/event-stream"
            else:
                payload = json.dumps({"choices": [{"message": {"content": "hi"}}],
                                      "usage": {"prompt_tokens": 11, "completion_tokens": 3}})
                ctype = "application/json"
            data = payload.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    meter = Meter(f"http://127.0.0.1:{upstream.server_address[1]}/v1").start()
    try:
        for stream in (False, True):
            req = urllib.request.Request(
                meter.api_base + "/chat/completions",
                data=json.dumps({"model": "m", "stream": stream, "messages": []}).encode(),
                headers={"Content-Type": "application/json"})
            body = urllib.request.urlopen(req, timeout=10).read()
            assert b"hi" in body
        snap = meter.snapshot()
        assert (snap["model_calls"], snap["input_tokens"], snap["output_tokens"]) == (2, 18, 5)
        # What the streamed call generated is kept (a runaway answer can be read afterwards).
        assert meter.outputs == ["hi", 'hi\n[tool call write_file] {"path": "a"}']
        meter.reset()
        assert meter.snapshot()["model_calls"] == 0 and meter.outputs == []
    finally:
        meter.stop()
        upstream.shutdown()


def test_time_limit_kills_the_whole_process_tree(tmp_path):
    import os
    import time

    from harnesses.base import run_process

    pidfile = tmp_path / "pids"
    # a grandchild in its own session, as agents' command runners often start them
    script = (f"setsid sleep 60 & echo $! >> {pidfile}; sleep 60 & echo $! >> {pidfile}; wait")
    start = time.monotonic()
    rc, timed_out, seconds = run_process(["bash", "-c", script], cwd=tmp_path, env=dict(os.environ),
                                         timeout=1, stdout_path=tmp_path / "o",
                                         stderr_path=tmp_path / "e")
    assert timed_out and time.monotonic() - start < 15
    time.sleep(0.2)
    for pid in map(int, pidfile.read_text().split()):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # a zombie awaiting its (dead) parent's reaper is not running any more
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z", pid


def test_meter_drops_the_upstream_request_when_the_agent_dies():
    # A harness killed at its time limit must not leave the model server generating.
    import select
    import socket
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from harnesses.meter import Meter

    upstream_saw_hangup = threading.Event()

    class SlowUpstream(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            ready, _, _ = select.select([self.connection], [], [], 20)
            if ready and not self.connection.recv(1, socket.MSG_PEEK):
                upstream_saw_hangup.set()

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), SlowUpstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    meter = Meter(f"http://127.0.0.1:{upstream.server_address[1]}/v1").start()
    try:
        req = urllib.request.Request(meter.api_base + "/chat/completions", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(OSError):
            urllib.request.urlopen(req, timeout=0.5)
        assert upstream_saw_hangup.wait(10)
        assert meter.snapshot()["model_calls"] == 1
    finally:
        meter.stop()
        upstream.shutdown()


def test_report_tables_put_runs_side_by_side_with_cost_per_solved_task(tmp_path, capsys):
    import report_tasks

    def record(harness, task, solved, tokens, status="ok", compactions=0):
        return {"harness": harness, "task": task, "solved": solved, "status": status, "seconds": 10.0,
                "model_calls": 2, "input_tokens": tokens, "output_tokens": 100, "tool_errors": 1,
                "reported": {"compactions": compactions}}

    before = {"args": {"harnesses": ["ours"]}, "results": [record("ours", "a", False, 5000), record("ours", "b", True, 3000)]}
    after = {"args": {"harnesses": ["ours", "mini"], "ours_args": "--context-window 4096"},
             "results": [record("ours", "a", True, 2000, compactions=2), record("ours", "b", True, 2000),
                         record("mini", "a", False, 9000, status="timeout")]}
    (tmp_path / "b.json").write_text(json.dumps(before))
    (tmp_path / "a.json").write_text(json.dumps(after))
    assert report_tasks.main([f"before={tmp_path / 'b.json'}", f"new={tmp_path / 'a.json'}"]) == 0
    labelled = capsys.readouterr().out
    assert "| new: ours " in labelled and "| new: mini " in labelled
    assert report_tasks.main([f"before={tmp_path / 'b.json'}", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "| before " in out and "ours --context-window 4096" in out and "| mini " in out
    assert "**yes** · 10 s · 2.1k · solved" in out and "no · 10 s · 9.1k · time limit" in out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "8,000" in rows["before"] and "1/2" in rows["before"]          # 8,000 tokens / 1 solved
    assert "2,000" in rows["ours --context-window 4096"].split("|")[10]   # 4,000 / 2 solved
    assert rows["ours --context-window 4096"].split("|")[11].strip() == "2"
    assert "none solved" in rows["mini"]
    assert rows["mini"].split("|")[9].strip() == "—"                       # its runs reported no split


def test_report_counts_well_formed_calls_and_names_a_missing_file(tmp_path, capsys):
    import report_tasks

    runs = [{"harness": "ours", "task": t, "solved": False, "status": "ok", "seconds": 5.0, "model_calls": 3,
             "input_tokens": 100, "output_tokens": 10, "tool_errors": 0, "tool_calls": calls,
             "well_formed_calls": real} for t, calls, real in (("a", 4, 3), ("b", 2, 2))]
    (tmp_path / "r.json").write_text(json.dumps({"args": {"harnesses": ["ours"]}, "results": runs}))
    assert report_tasks.main([str(tmp_path / "r.json")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| ours "))
    assert row.split("|")[9].strip() == "5/6"
    assert report_tasks.main([f"x={tmp_path / 'nope.json'}"]) == 2
    assert capsys.readouterr().err.strip() == f"Error: no such results file: {tmp_path / 'nope.json'}"


def test_a_run_in_parts_reads_as_one_and_a_later_record_replaces_an_earlier(tmp_path, capsys):
    import report_tasks

    def record(harness, task, solved):
        return {"harness": harness, "task": task, "solved": solved, "status": "ok", "seconds": 1.0,
                "model_calls": 1, "input_tokens": 10, "output_tokens": 1, "tool_errors": 0}

    (tmp_path / "p1.json").write_text(json.dumps({"args": {"harnesses": ["ours", "mini"]}, "results": [
        record("ours", "a", False), record("mini", "a", False), record("ours", "b", False)]}))
    (tmp_path / "p2.json").write_text(json.dumps({"args": {"harnesses": ["ours"]}, "results": [
        record("ours", "b", True), record("ours", "c", True)]}))
    both = f"{tmp_path / 'p1.json'},{tmp_path / 'p2.json'}"
    assert report_tasks.main([f"run={both}"]) == 0
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert rows["run: ours"].split("|")[2].strip() == "2/3" and rows["run: mini"].split("|")[2].strip() == "0/1"
    assert "**yes**" in rows["b"] and rows["c"].split("|")[3].strip() == "—"  # mini did not run c
    assert report_tasks.main([f"{tmp_path / 'p1.json'},{tmp_path / 'p3.json'}"]) == 2
    assert capsys.readouterr().err.strip() == f"Error: no such results file: {tmp_path / 'p3.json'}"
