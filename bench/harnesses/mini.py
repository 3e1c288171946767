"""`mini`: mini-swe-agent from the index in its own cached venv, pointed at the same
OpenAI-compatible endpoint through litellm (``openai/<model name>``)."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from .base import AgentRun, Harness, HarnessUnavailable, base_env, ensure_venv, run_process

REQUIREMENT = "mini-swe-agent==2.4.6"
DRIVER = Path(__file__).with_name("mini_driver.py")


class MiniHarness(Harness):
    name = "mini"
    description = f"{REQUIREMENT} (DefaultAgent + LocalEnvironment, litellm openai/<model>)"

    def setup(self, ctx):
        self.python = ensure_venv("mini", [REQUIREMENT])
        probe = subprocess.run([str(self.python), "-P", "-c", "import minisweagent"],
                               capture_output=True, text=True, cwd="/",
                               env=self._env(Path(tempfile.gettempdir()) / "bench-mswea-probe"))
        if probe.returncode != 0:
            raise HarnessUnavailable(f"{REQUIREMENT} installed but cannot be imported: "
                                     f"{(probe.stderr.strip().splitlines() or ['?'])[-1][-300:]}")
        self.description += f", mode={ctx.mini_mode}"

    @staticmethod
    def _env(config_dir: Path):
        config_dir.mkdir(parents=True, exist_ok=True)
        return base_env(
            MSWEA_SILENT_STARTUP="1",
            MSWEA_GLOBAL_CONFIG_DIR=config_dir,    # not ~/.config: no stray .env or keys
            MSWEA_COST_TRACKING="ignore_errors",   # litellm has no price for a local model
            MSWEA_CONFIGURED="true",
            LITELLM_LOCAL_MODEL_COST_MAP="True",   # no download of the price list at import
            OPENAI_API_KEY="dummy-key-local-model",
        )

    def run(self, prompt, workdir, time_limit, ctx, log_dir):
        prompt_file = log_dir / "prompt.md"
        prompt_file.write_text(prompt)
        stats_file = log_dir / "stats.json"
        cmd = [str(self.python), "-P", str(DRIVER), "--workdir", str(workdir),
               "--prompt-file", str(prompt_file), "--api-base", ctx.api_base,
               "--model-name", f"openai/{ctx.upstream_model_name}",
               "--stats", str(stats_file), "--trajectory", str(log_dir / "trajectory.json"),
               "--mode", ctx.mini_mode, "--step-limit", str(ctx.max_steps),
               "--request-timeout", str(int(time_limit) + 60)]
        rc, timed_out, _ = run_process(cmd, cwd=workdir, env=self._env(log_dir / "mswea-config"),
                                       timeout=time_limit, stdout_path=log_dir / "stdout.txt",
                                       stderr_path=log_dir / "stderr.txt")
        stats = {}
        if stats_file.exists():
            try:
                stats = json.loads(stats_file.read_text())
            except ValueError:
                pass
        run = AgentRun(exit_code=rc, model_calls=stats.get("model_calls"),
                       input_tokens=stats.get("input_tokens"),
                       output_tokens=stats.get("output_tokens"),
                       tool_calls=stats.get("tool_calls"), tool_errors=stats.get("tool_errors"),
                       extra={k: stats[k] for k in ("exit_status", "format_errors",
                                                    "nonzero_exit_commands") if k in stats})
        if timed_out:
            run.status = "timeout"
        elif stats.get("status") in ("ok", "limit", "error"):
            run.status = stats["status"]
            run.detail = stats.get("error", "")
        else:
            run.status = "crashed"
            try:
                run.detail = (log_dir / "stderr.txt").read_text(errors="replace")[-600:]
            except OSError:
                pass
        return run
