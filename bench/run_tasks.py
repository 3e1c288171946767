#!/usr/bin/env python3
"""Run coding-agent harnesses over the task suite in bench/tasks/ with a real model.

    python bench/run_tasks.py [--harness ours,published,mini] [--tasks a,b] [--smoke]
                              [--model local-qwen|code-local] [--time-limit S] [--out bench/results/]

For every task and harness: copy the task's repo to a fresh temp dir (git-initialised,
one commit), run the harness on the task's request with a wall-clock limit (the whole
process tree is killed on timeout), then copy the hidden check in and run it.

Recorded per run: solved, seconds (agent wall clock), model calls, input/output tokens,
tool calls (and how many were well-formed), tool errors, the agent's status, and its
diff. Model calls and tokens are measured the same way for every harness by a metering
proxy in front of the model server (harness-reported numbers are kept too, under
"reported"; an in-process model has no proxy, see below). A table and per-harness
totals are printed; everything is saved to <out>/<timestamp>-<harnesses>.json, with the
raw logs (event streams, trajectories, stderr) in <out>/<timestamp>-<harnesses>.logs/.

Well-formed calls: of each run's tool calls, how many arrived as real tool calls (the rest
the agent recovered from text the model wrote, e.g. a fenced JSON block). Ours: from the
tool_call events' ids (a call recovered from text carries the id llm makes up for a call
without one, "tc_<ulid>"); published and mini: the real tool calls the proxy saw in the
model's responses (mini in text mode has none: all its commands are text).

Tool errors: ours counts tool results flagged error / starting with "Error:"; published
counts tool results starting with "Error" (or raising); mini counts commands that exited
non-zero or raised, plus replies it rejected for their format. A call still running when
a harness is killed counts as a model call; its output tokens are estimated from the
streamed chunks and its input tokens are unknown (0). Seconds depend heavily on machine
load: the model server has one slot, is shared, and runs on the same 2 cores.

Harnesses:
  ours       this checkout's `llm code -p TASK --yolo --json` (--sandbox off)
  published  llm-coding-agent==0.1a0 from the package index, via its Python API, in a
             cached venv under bench/.venvs/published
  mini       mini-swe-agent from the package index in bench/.venvs/mini, litellm model
             openai/<server model name> at the same endpoint, cost tracking off, step-limited

The model: by default the local llama.cpp server of /work/shared/localmodel/serve.sh
(started if it is not running); `serve.sh llm-config` registers it with llm as local-qwen.
`--model code-local` is the plugin's built-in model, llama.cpp inside the agent's process:
no server and no proxy, so only `ours` can use it (published and mini are skipped) and model
calls and tokens are the harness-reported ones (the final --json event; unknown for a run
killed at its time limit). Its weights: $LLM_CODE_LOCAL_MODEL, else serve.sh's file if it
exists, else wherever code-local finds them itself.

Exit status (CI runs `--smoke --harness ours` and needs a regression signal, but a 1.5B
model on 2 CPU cores solves little, so "solved" alone would make CI flaky or always red):
  0  every harness ran; with --smoke also: no run crashed and model calls went through
  1  a --smoke gate failed: a run crashed (the agent exited without finishing: a
     traceback, no final event) or no model call succeeded in any task; or a harness
     solved fewer than --min-solved tasks (default 0: opt in to a solve bar with e.g.
     --min-solved 1 once the agent reliably solves the smoke tasks)
  2  a requested harness could not start at all (not installable, no `llm code`, or it
     crashed on every task), or the model server is unreachable
Timeouts and unsolved tasks are results, not failures: they are in the table and JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harnesses import HARNESS_NAMES, get_harness  # noqa: E402
from harnesses.base import HarnessUnavailable, RunContext  # noqa: E402
from harnesses.meter import Meter  # noqa: E402
from harnesses.suite import load_tasks, prepare_workdir, run_check, workdir_diff  # noqa: E402


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- model server
# llm models that run inside the agent's process: no HTTP endpoint to meter or share.
IN_PROCESS_MODELS = ("code-local",)
SERVE_SH_WEIGHTS = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def local_weights() -> str | None:
    """The GGUF file for code-local: $LLM_CODE_LOCAL_MODEL, else serve.sh's copy if it exists."""
    given = os.environ.get("LLM_CODE_LOCAL_MODEL")
    if given:
        return given
    home = os.environ.get("LOCALMODEL_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-code-localmodel"
    path = Path(home) / SERVE_SH_WEIGHTS
    return str(path) if path.is_file() else None


def find_serve_sh() -> Path | None:
    candidates = [os.environ.get("LOCALMODEL_SERVE_SH"),
                  BENCH_DIR.parent.parent / "shared" / "localmodel" / "serve.sh",
                  "/work/shared/localmodel/serve.sh"]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def local_model_config(dest: Path) -> tuple[str, Path]:
    """Make sure the local model server runs; write its llm registration into dest.
    Returns (api_base, path of extra-openai-models.yaml)."""
    serve = find_serve_sh()
    if serve is None:
        raise RuntimeError("cannot find serve.sh (set LOCALMODEL_SERVE_SH) and no --llm-config given")
    status = subprocess.run(["bash", str(serve), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        log(f"model server not running; starting it with {serve} start")
        started = subprocess.run(["bash", str(serve), "start"], capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"serve.sh start failed: {started.stderr.strip()[-500:]}")
    subprocess.run(["bash", str(serve), "llm-config", str(dest)], check=True, capture_output=True)
    return status.stdout.strip(), dest / "extra-openai-models.yaml"


def metered_config(source_yaml: Path, model: str, dest_dir: Path, meter_factory):
    """Copy an extra-openai-models.yaml, pointing `model` at a metering proxy.
    Returns (meter, upstream model name, upstream api_base)."""
    import yaml  # PyYAML: a dependency of llm

    entries = yaml.safe_load(Path(source_yaml).read_text()) or []
    entry = next((e for e in entries if e.get("model_id") == model), None)
    if entry is None or not entry.get("api_base"):
        raise RuntimeError(f"model {model!r} with an api_base is not in {source_yaml}")
    upstream = entry["api_base"]
    meter = meter_factory(upstream)
    entry["api_base"] = meter.api_base
    dest_dir.mkdir(parents=True, exist_ok=True)
    (dest_dir / "extra-openai-models.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))
    return meter, entry.get("model_name") or model, upstream


def in_process_context(args, config_dir: Path) -> RunContext:
    """The run context for a model inside the agent's process: no endpoint, an empty llm config,
    and the code-local settings (weights path, cache, fetch) passed on to the agent."""
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.startswith("LLM_CODE_LOCAL_")}
    weights = local_weights()
    if weights:
        env["LLM_CODE_LOCAL_MODEL"] = weights
    return RunContext(model=args.model, api_base=None, llm_config_dir=config_dir,
                      upstream_model_name=Path(weights).name if weights else args.model,
                      max_steps=args.max_steps, mini_mode=args.mini_mode, env=env)


def model_usage(run, metered: dict | None) -> dict:
    """Model calls and tokens of one run: the proxy's counts, or (no proxy) the harness's."""
    if metered is not None:
        return {"model_calls": metered["model_calls"], "input_tokens": metered["input_tokens"],
                "output_tokens": metered["output_tokens"],
                "model_seconds": metered["model_seconds"],
                "failed_model_calls": metered["failed_calls"],
                # real tool calls in the model's responses (whether or not the harness ran them)
                "model_tool_calls": metered["native_tool_calls"]}
    return {"model_calls": run.model_calls, "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens, "model_seconds": None, "failed_model_calls": None,
            "model_tool_calls": None}


# ---------------------------------------------------------------- table
def fmt_tokens(n):
    if n is None:
        return "-"
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def cell(r):
    if r["status"] == "unavailable":
        return "n/a"
    mark = "PASS" if r["solved"] else "fail"
    note = "" if r["status"] in ("ok",) else f" ({r['status']})"
    tokens = (r.get("input_tokens") or 0) + (r.get("output_tokens") or 0)
    return f"{mark} {r['seconds']:.0f}s {fmt_tokens(tokens)} wf {well_formed_cell(r)}{note}"


def well_formed_cell(r):
    """Well-formed (real) tool calls / all tool calls, e.g. 3/4; ? when unknown."""
    if r.get("well_formed_calls") is None:
        return "?"
    return f"{r['well_formed_calls']}/{r.get('tool_calls') or 0}"


def split_tool_calls(run, metered) -> dict:
    """Of a run's tool calls: how many arrived as real tool calls, how many were recovered from
    text, and how that is known (the harness's events, or the real calls the proxy saw)."""
    total = run.tool_calls
    if total is None:
        return {"well_formed_calls": None, "text_form_calls": None, "well_formed_source": None}
    if run.text_tool_calls is not None:
        text, source = run.text_tool_calls, "events"
    elif metered and metered.get("native_tool_calls") is not None:
        # calls the model made but the harness never ran (a step limit, a kill) are not counted
        text, source = total - min(total, metered["native_tool_calls"]), "proxy"
    else:
        return {"well_formed_calls": None, "text_form_calls": None, "well_formed_source": None}
    return {"well_formed_calls": total - text, "text_form_calls": text, "well_formed_source": source}


def totals_for(records, harness):
    rs = [r for r in records if r["harness"] == harness]
    ran = [r for r in rs if r["status"] != "unavailable"]
    solved = sum(r["solved"] for r in rs)
    input_tokens = sum(r.get("input_tokens") or 0 for r in ran)
    split = [r for r in ran if r.get("well_formed_calls") is not None]
    return {
        "tasks": len(rs),
        "solved": solved,
        "seconds": round(sum(r["seconds"] for r in ran), 1),
        "model_calls": sum(r.get("model_calls") or 0 for r in ran),
        "input_tokens": input_tokens,
        "output_tokens": sum(r.get("output_tokens") or 0 for r in ran),
        "tool_errors": sum(r.get("tool_errors") or 0 for r in ran),
        "tool_calls": sum(r.get("tool_calls") or 0 for r in ran),
        # Over the runs where it is known (tool_calls_split of them): real vs recovered calls.
        "well_formed_calls": sum(r["well_formed_calls"] for r in split),
        "text_form_calls": sum(r.get("text_form_calls") or 0 for r in split),
        "tool_calls_split": sum(r.get("tool_calls") or 0 for r in split),
        "timeouts": sum(r["status"] == "timeout" for r in ran),
        # What a solved task costs, failed attempts included: all input tokens sent / solved.
        "input_tokens_per_solved": round(input_tokens / solved) if solved else None,
        "compactions": sum((r.get("reported") or {}).get("compactions") or 0 for r in ran),
    }


def print_table(records, harnesses, tasks, availability):
    width = max([len(t.name) for t in tasks] + [8])
    colw = 34
    log()
    log("task".ljust(width) + "".join(f"  {h:<{colw}}" for h in harnesses))
    log("-" * (width + (colw + 2) * len(harnesses)))
    by_key = {(r["harness"], r["task"]): r for r in records}
    for t in tasks:
        row = t.name.ljust(width)
        for h in harnesses:
            r = by_key.get((h, t.name))
            row += f"  {(cell(r) if r else '...'):<{colw}}"
        log(row)
    log("-" * (width + (colw + 2) * len(harnesses)))
    log("TOTALS")
    for h in harnesses:
        if not availability[h]["available"]:
            log(f"  {h:<10} harness unavailable: {availability[h]['reason']}")
            continue
        tot = totals_for(records, h)
        log(f"  {h:<10} solved {tot['solved']}/{tot['tasks']}  time {tot['seconds']:.0f}s  "
            f"tokens {fmt_tokens(tot['input_tokens'])} in + {fmt_tokens(tot['output_tokens'])} out  "
            f"model calls {tot['model_calls']}  tool errors {tot['tool_errors']}  "
            f"timeouts {tot['timeouts']}  input tokens per solved task "
            f"{fmt_tokens(tot['input_tokens_per_solved'])}  compactions {tot['compactions']}  "
            f"well-formed calls {tot['well_formed_calls']}/{tot['tool_calls_split']}")


# ---------------------------------------------------------------- main
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--harness", default=",".join(HARNESS_NAMES),
                    help="comma-separated: ours,published,mini (default: all)")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    ap.add_argument("--smoke", action="store_true", help="only the tasks marked smoke in meta.json")
    ap.add_argument("--model", default="local-qwen",
                    help="llm model id (default: local-qwen; code-local: the built-in in-process model)")
    ap.add_argument("--llm-config", type=Path,
                    help="an extra-openai-models.yaml registering --model (default: serve.sh llm-config)")
    ap.add_argument("--time-limit", type=float,
                    help="wall-clock seconds per task (default: the task's meta.json, else 300)")
    ap.add_argument("--max-steps", type=int, default=25,
                    help="tool-loop bound given to each harness (chain limit / step limit; default 25)")
    ap.add_argument("--mini-mode", choices=["text", "toolcall"], default="text",
                    help="mini-swe-agent action format: fenced bash blocks in text (default; what "
                         "the local model's native template produces) or native tool calls")
    ap.add_argument("--ours-python", help="interpreter for `llm code` (default: this one)")
    ap.add_argument("--ours-args", default="",
                    help="extra `llm code` flags for ours, e.g. \"--context-window 1000000\" "
                         "(compaction never triggers)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR / "results",
                    help="results directory (default: bench/results/)")
    ap.add_argument("--min-solved", type=int, default=0,
                    help="exit 1 if a harness solves fewer tasks than this (default 0)")
    ap.add_argument("--keep", action="store_true", help="keep the task copies (paths in the JSON)")
    args = ap.parse_args(argv)
    args.harnesses = [h.strip() for h in args.harness.split(",") if h.strip()]
    for h in args.harnesses:
        if h not in HARNESS_NAMES:
            ap.error(f"unknown harness {h!r}; choose from {', '.join(HARNESS_NAMES)}")
    args.task_names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    return args


#: Where every run copies the tasks. One fixed path, not a fresh temporary one: the agent's
#: system prompt names the project's path, and with a random path in it the local model (which
#: decodes greedily) answered the same task of the same commit differently from run to run
#: (fix_leap_year_logic, 2026-12-06: a write from one run, prose from the next, only the path
#: differing), so a change's effect could not be told from the path's.
SCRATCH = Path(tempfile.gettempdir()) / "llm-code-bench-run"


def claim_scratch(path: Path = SCRATCH) -> Path:
    """Empty ``path`` for this run and mark it as this process's; RuntimeError when another
    run that is still alive holds it (two runs at once would also share the machine's cores)."""
    owner = path / "owner.pid"
    try:
        pid = int(owner.read_text())
    except (OSError, ValueError):
        pid = None
    if pid and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise RuntimeError(f"another benchmark run (pid {pid}) is using {path}") from None
        else:
            raise RuntimeError(f"another benchmark run (pid {pid}) is using {path}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    owner.write_text(str(os.getpid()))
    return path


def main(argv=None):
    args = parse_args(argv)
    try:
        tasks = load_tasks(args.task_names or None, smoke=args.smoke)
    except KeyError as ex:
        log(f"error: {ex.args[0]}")
        return 2
    if not tasks:
        log("error: no tasks selected")
        return 2

    in_process = args.model in IN_PROCESS_MODELS
    skipped = {}
    if in_process:
        for name in args.harnesses:
            if name != "ours":
                skipped[name] = (f"{args.model} runs inside the agent's own process; {name} can "
                                 "only reach a model over HTTP")
                log(f"[{name}] skipped: {skipped[name]}")
        args.harnesses = [h for h in args.harnesses if h not in skipped]
        if not args.harnesses:
            log(f"error: only the `ours` harness can use {args.model}")
            return 2

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = f"{stamp}-{'+'.join(args.harnesses)}" + (f"-{args.model}" if in_process else "")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{stem}.json"
    logs_root = args.out / f"{stem}.logs"
    try:
        scratch = claim_scratch()
    except RuntimeError as ex:
        log(f"error: {ex}")
        return 2

    meter = None
    try:
        if in_process:
            ctx = in_process_context(args, scratch / "llm-config")
            server_model_name, upstream = ctx.upstream_model_name, "in-process"
            log(f"model {args.model} (llama.cpp in the agent's process, weights "
                f"{ctx.env.get('LLM_CODE_LOCAL_MODEL') or 'located by code-local'}); no proxy: "
                "model calls and tokens as the agent reports them")
        else:
            try:
                if args.llm_config:
                    source_yaml, upstream_hint = args.llm_config, None
                else:
                    upstream_hint, source_yaml = local_model_config(scratch / "serve-config")
                meter, server_model_name, upstream = metered_config(
                    source_yaml, args.model, scratch / "llm-config",
                    lambda base: Meter(base).start())
            except (RuntimeError, subprocess.CalledProcessError, OSError) as ex:
                log(f"error: model unavailable: {ex}")
                return 2
            ctx = RunContext(model=args.model, api_base=meter.api_base,
                             llm_config_dir=scratch / "llm-config",
                             upstream_model_name=server_model_name, max_steps=args.max_steps,
                             mini_mode=args.mini_mode)
            log(f"model {args.model} ({server_model_name}) at {upstream}, "
                f"metered via {meter.api_base}")
        log(f"{len(tasks)} task(s): {', '.join(t.name for t in tasks)}")

        harnesses, availability = {}, {}
        for name in args.harnesses:
            h = get_harness(name, ours_python=args.ours_python, ours_args=shlex.split(args.ours_args))
            try:
                t0 = time.monotonic()
                h.setup(ctx)
                harnesses[name] = h
                availability[name] = {"available": True, "description": h.description,
                                      "setup_seconds": round(time.monotonic() - t0, 1)}
                log(f"[{name}] ready: {h.description}")
            except HarnessUnavailable as ex:
                availability[name] = {"available": False, "reason": str(ex).splitlines()[0][:300],
                                      "detail": str(ex)[:2000], "description": h.description}
                log(f"[{name}] UNAVAILABLE: {ex}")

        report = {
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": args.model, "server_model_name": server_model_name, "api_base": upstream,
            # proxy: model calls and tokens counted by the metering proxy; reported: by the
            # harness (an in-process model has no endpoint to meter)
            "metering": "reported" if in_process else "proxy",
            "model_env": ctx.env, "skipped_harnesses": skipped,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "args": {"harnesses": args.harnesses, "tasks": [t.name for t in tasks],
                     "smoke": args.smoke, "time_limit": args.time_limit,
                     "max_steps": args.max_steps, "mini_mode": args.mini_mode,
                     "ours_args": args.ours_args},
            "harnesses": availability, "results": [], "totals": {},
            "logs": str(logs_root),
        }
        records = report["results"]

        def save():
            report["totals"] = {h: totals_for(records, h) for h in args.harnesses}
            json_path.write_text(json.dumps(report, indent=2) + "\n")

        for name in args.harnesses:
            if not availability[name]["available"]:
                for task in tasks:
                    records.append({"harness": name, "task": task.name, "solved": False,
                                    "status": "unavailable", "seconds": 0.0,
                                    "detail": availability[name]["reason"]})
        save()

        for task in tasks:
            limit = args.time_limit or task.time_limit
            for name, harness in harnesses.items():
                log_dir = logs_root / name / task.name
                log_dir.mkdir(parents=True, exist_ok=True)
                workdir = prepare_workdir(task, scratch / "work" / name / task.name)
                log(f"[{name}] {task.name}: running (limit {limit:.0f}s) ...")
                if meter is not None:
                    meter.reset()
                t0 = time.monotonic()
                try:
                    run = harness.run(task.prompt, workdir, limit, ctx, log_dir)
                except Exception as ex:  # an adapter bug must not lose the other results
                    from harnesses.base import AgentRun
                    run = AgentRun(status="crashed", detail=f"adapter error: {type(ex).__name__}: {ex}")
                seconds = time.monotonic() - t0
                metered = None
                if meter is not None:
                    meter.wait_idle(15)
                    metered = meter.snapshot()
                    (log_dir / "model-output.txt").write_text("".join(
                        f"--- model call {n} ---\n{text}\n" for n, text in enumerate(meter.outputs, 1)))
                usage = model_usage(run, metered)
                stat, diff = workdir_diff(workdir)
                check = run_check(task, workdir)
                (log_dir / "check.txt").write_text(check.output)
                (log_dir / "diff.patch").write_text(diff)
                record = {
                    "harness": name, "task": task.name, "solved": check.passed,
                    "status": run.status, "exit_code": run.exit_code,
                    "seconds": round(seconds, 1), "time_limit": limit,
                    **usage,
                    "tool_calls": run.tool_calls, "tool_errors": run.tool_errors,
                    **split_tool_calls(run, metered),
                    "reported": {"model_calls": run.model_calls, "input_tokens": run.input_tokens,
                                 "output_tokens": run.output_tokens, **run.extra},
                    "detail": run.detail, "diff_stat": stat.strip(), "diff": diff,
                    "check_output": "" if check.passed else check.output[-3000:],
                    "check_seconds": round(check.seconds, 1),
                }
                if args.keep:
                    record["workdir"] = str(workdir)
                records.append(record)
                save()
                log(f"[{name}] {task.name}: {'SOLVED' if check.passed else 'not solved'} "
                    f"status={run.status} {seconds:.0f}s calls={usage['model_calls']} "
                    f"tokens={usage['input_tokens']}+{usage['output_tokens']} "
                    f"tool_errors={run.tool_errors} well-formed calls={well_formed_cell(record)}")
                if run.status in ("crashed", "error") and run.detail:
                    log("    " + run.detail.strip().splitlines()[-1][:300])
    finally:
        if meter is not None:
            meter.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    print_table(records, args.harnesses, tasks, availability)
    log(f"\nresults: {json_path}\nlogs:    {logs_root}")

    code = 0
    for name in args.harnesses:
        if not availability[name]["available"]:
            code = 2
            continue
        rs = [r for r in records if r["harness"] == name]
        if rs and all(r["status"] == "crashed" for r in rs):
            log(f"[{name}] crashed on every task: treating the harness as unable to start")
            code = 2
            continue
        if sum(r["solved"] for r in rs) < args.min_solved:
            log(f"[{name}] solved {sum(r['solved'] for r in rs)} < --min-solved {args.min_solved}")
            code = max(code, 1)
        if args.smoke:
            crashed = [r["task"] for r in rs if r["status"] == "crashed"]
            answered = sum((r.get("model_calls") or 0) - (r.get("failed_model_calls") or 0)
                           for r in rs)
            if crashed:
                log(f"[{name}] smoke: crashed on {', '.join(crashed)} (see the logs)")
                code = max(code, 1)
            if not answered:
                log(f"[{name}] smoke: no model call succeeded")
                code = max(code, 1)
    return code


if __name__ == "__main__":
    sys.exit(main())
