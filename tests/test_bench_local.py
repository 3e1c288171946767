"""The task runner with an in-process model (code-local: no server, no proxy) and its
"well-formed calls" count, and the verdicts of bench/local_model.py. Needs no model."""
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import llm
import pytest
from llm.models import _ensure_tool_call_id

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import run_tasks  # noqa: E402
from harnesses.base import AgentRun, Harness  # noqa: E402
from harnesses.meter import Meter  # noqa: E402
from harnesses.ours import OursHarness, parse_events  # noqa: E402


def llm_assigned_id() -> str:
    """The id llm gives a call made without one, as the agent's text-form recovery makes them."""
    return _ensure_tool_call_id(llm.ToolCall(name="read_file", arguments={})).tool_call_id


def test_calls_recovered_from_text_are_told_apart_by_their_llm_assigned_id(tmp_path):
    events = [
        {"type": "tool_call", "name": "read_file", "arguments": {}, "id": "Xy3kQ0aZ9bLmN2pR5sT8uV1wX4yZ7aB0"},
        {"type": "tool_result", "name": "read_file", "output": "1\tx", "error": False},
        {"type": "tool_call", "name": "edit_file", "arguments": {}, "id": llm_assigned_id()},
        {"type": "tool_result", "name": "edit_file", "output": "Error: no match", "error": True},
        {"type": "tool_call", "name": "execute_command", "arguments": {}, "id": "call_0"},
        {"type": "tool_result", "name": "execute_command", "output": "ok", "error": False},
        {"type": "final", "usage": {"input": 900, "output": 40}, "model_calls": 3, "status": "ok"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    run = parse_events(path, 0, False, tmp_path / "stderr")
    assert (run.tool_calls, run.text_tool_calls, run.tool_errors) == (3, 1, 1)
    split = run_tasks.split_tool_calls(run, None)
    assert split == {"well_formed_calls": 2, "text_form_calls": 1, "well_formed_source": "events"}


def test_split_falls_back_to_the_real_calls_the_proxy_saw():
    run = AgentRun(tool_calls=4)  # published / mini: the harness cannot tell
    assert run_tasks.split_tool_calls(run, {"native_tool_calls": 1})["well_formed_calls"] == 1
    # calls in responses that the harness never ran (step limit, kill) do not count
    assert run_tasks.split_tool_calls(run, {"native_tool_calls": 9})["text_form_calls"] == 0
    assert run_tasks.split_tool_calls(run, None)["well_formed_calls"] is None
    assert run_tasks.well_formed_cell({"well_formed_calls": None}) == "?"


def test_meter_counts_real_tool_calls_in_plain_and_streamed_responses():
    call = {"type": "function", "function": {"name": "read_file", "arguments": "{}"}}

    class Upstream(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body.get("stream"):
                # two calls, the first in two fragments sharing index 0
                chunks = [
                    {"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "id": "a1", "function": {"name": "read_file", "arguments": ""}}]}}]},
                    {"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "function": {"arguments": "{}"}}]}}]},
                    {"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 1, "id": "b2", "function": {"name": "list_files", "arguments": "{}"}}]}}]},
                    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
                ]
                payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                ctype = "text/event-stream"
            else:
                payload = json.dumps({"choices": [{"message": {"content": "", "tool_calls": [call]}}],
                                      "usage": {"prompt_tokens": 3, "completion_tokens": 4}})
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
            urllib.request.urlopen(req, timeout=10).read()
        snap = meter.snapshot()
        assert (snap["model_calls"], snap["native_tool_calls"], snap["input_tokens"]) == (2, 3, 8)
        meter.reset()
        assert meter.snapshot()["native_tool_calls"] == 0
    finally:
        meter.stop()
        upstream.shutdown()


def test_code_local_weights_reach_the_agent_although_llm_variables_are_dropped(tmp_path, monkeypatch):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF")
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL", str(weights))
    monkeypatch.setenv("LLM_CODE_LOCAL_FETCH", "0")
    monkeypatch.setenv("LLM_OTHER_SETTING", "dropped")
    args = run_tasks.parse_args(["--model", "code-local"])
    ctx = run_tasks.in_process_context(args, tmp_path / "config")
    assert ctx.api_base is None
    env = OursHarness()._env(tmp_path / "user", ctx)
    assert env["LLM_CODE_LOCAL_MODEL"] == str(weights)
    assert env["LLM_CODE_LOCAL_FETCH"] == "0"
    assert "LLM_OTHER_SETTING" not in env


def test_serve_sh_weights_are_the_default_for_code_local(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_CODE_LOCAL_MODEL", raising=False)
    monkeypatch.setenv("LOCALMODEL_HOME", str(tmp_path))
    assert run_tasks.local_weights() is None  # code-local finds its own
    (tmp_path / run_tasks.SERVE_SH_WEIGHTS).write_bytes(b"GGUF")
    assert run_tasks.local_weights() == str(tmp_path / run_tasks.SERVE_SH_WEIGHTS)


class ReportingHarness(Harness):
    """Stands in for `ours`: reports usage the way `llm code --json`'s final event does."""
    name = "ours"
    description = "fake ours"

    def run(self, prompt, workdir, time_limit, ctx, log_dir):
        assert ctx.api_base is None and "LLM_CODE_LOCAL_MODEL" in ctx.env
        return AgentRun(status="ok", exit_code=0, model_calls=4, input_tokens=3000, output_tokens=200,
                        tool_calls=3, tool_errors=0, text_tool_calls=1)


def test_code_local_runs_only_ours_without_a_server_or_proxy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL", str(tmp_path / "model.gguf"))
    monkeypatch.setattr(run_tasks, "get_harness", lambda name, **kw: ReportingHarness())

    def no_server(*args, **kwargs):
        raise AssertionError("code-local must not need the model server")

    monkeypatch.setattr(run_tasks, "local_model_config", no_server)
    monkeypatch.setattr(run_tasks, "Meter", no_server)
    out = tmp_path / "results"
    code = run_tasks.main(["--model", "code-local", "--tasks", "fix_discount_operator",
                           "--smoke", "--out", str(out)])
    assert code == 0  # the other harnesses are skipped, not "unavailable"
    (report_path,) = out.glob("*-ours-code-local.json")
    report = json.loads(report_path.read_text())
    assert report["metering"] == "reported" and report["api_base"] == "in-process"
    assert set(report["skipped_harnesses"]) == {"published", "mini"}
    (record,) = report["results"]
    assert (record["model_calls"], record["input_tokens"], record["output_tokens"]) == (4, 3000, 200)
    assert (record["well_formed_calls"], record["text_form_calls"]) == (2, 1)
    assert report["totals"]["ours"]["well_formed_calls"] == 2
    printed = capsys.readouterr().out
    assert "wf 2/3" in printed and "well-formed calls 2/3" in printed


def test_local_model_speed_verdict_is_within_five_percent():
    import local_model

    def runs(prompt_tps, gen_tps):
        return [{"first": 1.0, "wall": 10.0, "text": "x",
                 "timings": {"prompt_per_second": prompt_tps, "predicted_per_second": gen_tps,
                             "prompt_n": 1500, "cache_n": 3, "predicted_n": 128}}]

    table = local_model.throughput_table({"ours": runs(96.0, 13.0), "server": runs(100.0, 14.0)})
    prompt_row, generation_row = table.splitlines()[2:4]
    assert "PASS" in prompt_row  # 0.96 of the server
    assert "FAIL" in generation_row  # 0.93 of the server


def test_the_scratch_path_is_fixed_and_claimed_by_one_live_run(tmp_path):
    import os
    import subprocess
    import sys

    scratch = tmp_path / "bench-run"
    assert run_tasks.claim_scratch(scratch) == scratch
    (scratch / "left-over").write_text("x")
    assert run_tasks.claim_scratch(scratch) == scratch  # this process again: emptied
    assert sorted(p.name for p in scratch.iterdir()) == ["owner.pid"]
    (scratch / "owner.pid").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(RuntimeError, match="another benchmark run"):
        run_tasks.claim_scratch(scratch)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (scratch / "owner.pid").write_text(done.stdout.strip())  # a run that has ended
    assert run_tasks.claim_scratch(scratch) == scratch
    assert run_tasks.SCRATCH.name == "llm-code-bench-run"
