"""`ours`: this checkout's ``llm code -p TASK --yolo --json`` (headless, JSON Lines events)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from .base import REPO_ROOT, AgentRun, Harness, HarnessUnavailable, base_env, llm_user_dir, run_process

LAUNCHER = Path(__file__).with_name("ours_launcher.py")
# The id llm gives a tool call that has none: "tc_" + a lowercase ULID (llm.models
# _ensure_tool_call_id). Calls the agent recovers from text (agent/textcalls.py, added in
# CodingAgent.consume) are created without an id, so they get one of these; a real tool call
# keeps the id the model made (llama.cpp: 32 letters and digits, no "_"; code-local: the same,
# or call_N). The --json stream has no field saying which is which, so the id is the tell.
LLM_ASSIGNED_ID = re.compile(r"tc_[0-9a-z]{26}")


class OursHarness(Harness):
    name = "ours"
    description = "llm code -p TASK --yolo --json (this checkout)"

    def __init__(self, python: str | None = None, extra_args: list[str] | None = None):
        self.python = python or sys.executable
        # Extra `llm code` flags for a variant run, e.g. ["--context-window", "1000000"]
        # (compaction never triggers) against the default (compaction at the model's window).
        self.extra_args = list(extra_args or [])
        if self.extra_args:
            self.description += " " + " ".join(self.extra_args)

    def _env(self, user_dir: Path, ctx):
        return base_env(LLM_USER_PATH=user_dir, PYTHONPATH=REPO_ROOT, **ctx.env)

    def setup(self, ctx):
        probe = subprocess.run([self.python, "-P", str(LAUNCHER), "code", "--help"],
                               capture_output=True, text=True, timeout=120,
                               env=self._env(ctx.llm_config_dir, ctx), cwd=REPO_ROOT)
        if probe.returncode != 0 or "Usage" not in probe.stdout:
            raise HarnessUnavailable(
                "`llm code` is not available from this checkout with "
                f"{self.python}: {(probe.stderr or probe.stdout).strip()[-800:]}")
        help_text = probe.stdout
        for flag in ("--json", "--yolo", "-p"):
            if flag not in help_text:
                raise HarnessUnavailable(f"`llm code` has no {flag} option yet")
        self.extra_flags = []
        if "--sandbox" in help_text:
            self.extra_flags += ["--sandbox", "off"]
        if "--chain-limit" in help_text:
            self.extra_flags += ["--chain-limit", str(ctx.max_steps)]

    def run(self, prompt, workdir, time_limit, ctx, log_dir):
        user_dir = llm_user_dir(ctx, log_dir / "llm-user")
        cmd = [self.python, "-P", str(LAUNCHER), "code", "-p", prompt, "--yolo", "--json",
               "-d", str(workdir), "-m", ctx.model, *self.extra_flags, *self.extra_args]
        stdout = log_dir / "events.jsonl"
        rc, timed_out, _ = run_process(cmd, cwd=workdir, env=self._env(user_dir, ctx),
                                       timeout=time_limit, stdout_path=stdout,
                                       stderr_path=log_dir / "stderr.txt")
        run = parse_events(stdout, rc, timed_out, log_dir / "stderr.txt")
        run.extra["compactions"] = count_compactions(log_dir / "stderr.txt")
        return run


def count_compactions(stderr_path: Path) -> int:
    """Automatic compactions in a run (the CLI reports each on stderr)."""
    try:
        text = Path(stderr_path).read_text(errors="replace")
    except OSError:
        return 0
    return text.count("compacted context:")


def parse_events(path: Path, rc, timed_out, stderr_path: Path) -> AgentRun:
    """Turn the JSON Lines event stream into an AgentRun (tolerates a truncated stream)."""
    tool_calls = tool_errors = text_calls = 0
    final = None
    bad_lines = 0
    for line in Path(path).read_text(errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            bad_lines += 1
            continue
        kind = event.get("type")
        if kind == "tool_call":
            tool_calls += 1
            text_calls += is_text_form_call(event)
        elif kind == "tool_result":
            output = event.get("output")
            output = output if isinstance(output, str) else json.dumps(output)
            if event.get("error") or output.lstrip().startswith("Error:"):
                tool_errors += 1
        elif kind == "final":
            final = event
    run = AgentRun(exit_code=rc, tool_calls=tool_calls, tool_errors=tool_errors,
                   text_tool_calls=text_calls)
    if bad_lines:
        run.extra["non_json_lines"] = bad_lines
    if final:
        usage = final.get("usage") or {}
        run.model_calls = final.get("model_calls")
        run.input_tokens = usage.get("input")
        run.output_tokens = usage.get("output")
        run.extra.update({k: final[k] for k in ("stop_reason", "hit_limit") if k in final})
        run.status = str(final.get("status") or "ok")  # ok | limit | error | other stop reasons
        if final.get("error"):
            run.detail = str(final["error"])[:600]
    if timed_out:
        run.status = "timeout"
    elif final is None:
        run.status = "crashed"
        try:
            run.detail = Path(stderr_path).read_text(errors="replace")[-600:]
        except OSError:
            pass
    return run


def is_text_form_call(event: dict) -> bool:
    """Whether a ``tool_call`` event is a call the agent recovered from the model's text."""
    call_id = event.get("id")
    return not call_id or bool(LLM_ASSIGNED_ID.fullmatch(str(call_id)))
