"""Runs inside the venv holding mini-swe-agent.

Drives mini-swe-agent's DefaultAgent (no confirmation prompts) with a
LocalEnvironment rooted at the task copy and a litellm model pointed at the
OpenAI-compatible endpoint. Cost tracking is off (litellm has no price for a
local model) and the step limit bounds the run. A JSON stats file is rewritten
after every step so numbers survive a kill at the time limit.

    python mini_driver.py --workdir DIR --prompt-file F --api-base URL --model-name NAME
                          --stats OUT --trajectory OUT [--mode text|toolcall] [--step-limit N]
"""
import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--api-base", required=True)
    ap.add_argument("--model-name", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--trajectory", required=True)
    ap.add_argument("--mode", choices=["text", "toolcall"], default="text")
    ap.add_argument("--step-limit", type=int, default=25)
    ap.add_argument("--command-timeout", type=int, default=60)
    ap.add_argument("--request-timeout", type=float, default=1800,
                    help="seconds per model request (litellm's default of 600 s is too short "
                         "for a slow local model on a busy machine)")
    args = ap.parse_args()

    import yaml
    from minisweagent import package_dir
    from minisweagent.agents.default import DefaultAgent
    from minisweagent.environments.local import LocalEnvironment

    if args.mode == "text":
        from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel as ModelClass
        config_file = "mini_textbased.yaml"
    else:
        from minisweagent.models.litellm_model import LitellmModel as ModelClass
        config_file = "mini.yaml"
    config = yaml.safe_load((Path(package_dir) / "config" / config_file).read_text())

    stats = {"status": "running", "mode": args.mode, "config": config_file}

    def collect(agent):
        inp = out = tool_calls = tool_errors = format_errors = 0
        for msg in agent.messages:
            extra = msg.get("extra") or {}
            response = extra.get("response")
            if isinstance(response, dict):
                usage = response.get("usage") or {}
                inp += usage.get("prompt_tokens") or 0
                out += usage.get("completion_tokens") or 0
            if extra.get("interrupt_type") == "FormatError":
                format_errors += 1
            if "returncode" in extra:
                tool_calls += 1
                if extra.get("returncode") != 0 or extra.get("exception_info"):
                    tool_errors += 1
        stats.update(model_calls=agent.n_calls, input_tokens=inp, output_tokens=out,
                     tool_calls=tool_calls, tool_errors=tool_errors + format_errors,
                     nonzero_exit_commands=tool_errors, format_errors=format_errors)
        with open(args.stats, "w") as f:
            json.dump(stats, f)

    class BenchAgent(DefaultAgent):
        def save(self, path, *extra_dicts):
            data = super().save(path, *extra_dicts)
            collect(self)
            return data

    model_config = dict(config.get("model", {}))
    model_config["model_kwargs"] = {
        **model_config.get("model_kwargs", {}),
        "api_base": args.api_base,
        "api_key": "dummy-key-local-model",
        "drop_params": True,
        "timeout": args.request_timeout,
    }
    model_config["model_name"] = args.model_name
    model_config["cost_tracking"] = "ignore_errors"
    model = ModelClass(**model_config)

    env_config = dict(config.get("environment", {}))
    env_config.pop("environment_class", None)
    env = LocalEnvironment(cwd=args.workdir, timeout=args.command_timeout,
                           env=env_config.get("env", {}))

    agent_config = dict(config["agent"])
    agent_config.pop("agent_class", None)
    agent_config.update(step_limit=args.step_limit, cost_limit=0,
                        output_path=Path(args.trajectory))
    agent = BenchAgent(model, env, **agent_config)

    prompt = open(args.prompt_file).read()
    collect(agent)  # a stats file exists even if the first model call never returns
    start = time.monotonic()
    try:
        result = agent.run(prompt)
        exit_status = result.get("exit_status", "")
        stats["exit_status"] = exit_status
        stats["status"] = {"Submitted": "ok", "LimitsExceeded": "limit",
                           "TimeExceeded": "limit"}.get(exit_status, "error")
        if stats["status"] == "error":
            stats["error"] = f"exit status {exit_status}"
    except Exception as ex:
        traceback.print_exc()
        stats["status"] = "error"
        stats["error"] = f"{type(ex).__name__}: {ex}"[:1000]
    stats["seconds"] = round(time.monotonic() - start, 2)
    collect(agent)
    print(json.dumps({k: v for k, v in stats.items()}), flush=True)
    return 0 if stats["status"] != "error" else 1


if __name__ == "__main__":
    sys.exit(main())
