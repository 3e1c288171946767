"""`published`: the llm-coding-agent==0.1a0 package from the index, driven through
its Python API (CodingAgent) in its own cached venv."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .base import AgentRun, Harness, HarnessUnavailable, base_env, ensure_venv, llm_user_dir, run_process

REQUIREMENT = "llm-coding-agent==0.1a0"
DRIVER = Path(__file__).with_name("published_driver.py")


class PublishedHarness(Harness):
    name = "published"
    description = f"{REQUIREMENT} (Python API, approve=True)"

    def setup(self, ctx):
        self.python = ensure_venv("published", [REQUIREMENT, "llm"])
        probe = subprocess.run(
            [str(self.python), "-P", "-c", "from llm_coding_agent import CodingAgent"],
            capture_output=True, text=True, cwd="/")
        if probe.returncode != 0:
            raise HarnessUnavailable(f"{REQUIREMENT} installed but cannot be imported: "
                                     f"{(probe.stderr.strip().splitlines() or ['?'])[-1][-300:]}")

    def run(self, prompt, workdir, time_limit, ctx, log_dir):
        prompt_file = log_dir / "prompt.md"
        prompt_file.write_text(prompt)
        stats_file = log_dir / "stats.json"
        env = base_env(LLM_USER_PATH=llm_user_dir(ctx, log_dir / "llm-user"))
        cmd = [str(self.python), "-P", str(DRIVER), "--workdir", str(workdir), "--prompt-file",
               str(prompt_file), "--model", ctx.model, "--stats", str(stats_file),
               "--chain-limit", str(ctx.max_steps)]
        rc, timed_out, _ = run_process(cmd, cwd=workdir, env=env, timeout=time_limit,
                                       stdout_path=log_dir / "stdout.txt",
                                       stderr_path=log_dir / "stderr.txt")
        stats = {}
        if stats_file.exists():
            try:
                stats = json.loads(stats_file.read_text())
            except ValueError:
                pass
        run = AgentRun(exit_code=rc, model_calls=stats.get("model_calls"),
                       input_tokens=stats.get("input_tokens"), output_tokens=stats.get("output_tokens"),
                       tool_calls=stats.get("tool_calls"), tool_errors=stats.get("tool_errors"))
        if timed_out:
            run.status = "timeout"
        elif stats.get("status") in ("ok", "limit", "error"):
            run.status = stats["status"]
            run.detail = stats.get("error", "")
        else:
            run.status = "crashed"
            run.detail = _tail(log_dir / "stderr.txt")
        return run


def _tail(path, n=600):
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""
