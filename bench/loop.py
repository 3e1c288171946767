#!/usr/bin/env python3
"""Agent-loop overhead: CodingAgent vs bare llm ``conversation.chain()``, same rounds, same run.

    python bench/loop.py [--quick] [--sizes 100,250,500] [--repeat N] [--no-profile] [--db-dir D]

A scripted model (an in-process ``llm.Model`` with ``supports_tools=True`` that answers instantly)
asks for one small ``read_file`` per response for N rounds, then answers without tools. Both sides
log every response to a fresh SQLite database as it completes:

* ours: ``CodingAgent(model, root, approve=True, undo=False, sandbox="off", db=..., chain_limit=...,
  context_window=BIG_WINDOW).run(prompt)`` (it logs each response itself; the huge window keeps
  context compaction out, so both sides send the same messages). "ours-compacting", measured at
  the largest N only, keeps the default window and so compacts once the history fills up;
* bare: ``model.conversation(tools=[CodingTools(root, sandbox="off")], chain_limit=0)
  .chain(prompt, system=<the same system prompt>)``, iterating ``chain.responses()`` and calling
  ``response.log_to_db(db)`` on each one as it completes.

Every (side, N) runs in its own fresh process (after a 5-round warm-up in that process), alternating
sides, median of --repeat runs. Reported: ms per round at each N (linearity: ms/round should stay
flat), ms per round in the first and last tenth of the largest run, our overhead (ours − bare per
round) in wall and CPU time, RSS growth per round, and tracemalloc's retained/peak memory for the
largest N. A cProfile run at the middle size splits each side's time by package (llm_coding_agent /
llm / sqlite / ...) and lists our slowest functions. logs.db lives in the system temp dir (on disk,
so SQLite's fsync per response is in the wall time) unless --db-dir says otherwise.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, code_version, log, machine_line, md_table, median,  # noqa: E402
                    repo_env, run_json)

OVERHEAD_TARGET_MS = 5.0
FILES = 10
PROMPT = "Read the project's files one by one and summarise them."


# --------------------------------------------------------------------------------------------
# Child side: one measured run in this (fresh) process


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _make_model():
    import llm

    class LoopModel(llm.Model):
        """Instant answers: a tool call per response while rounds remain, then a final text."""

        model_id = "bench-loop-scripted"
        supports_tools = True
        can_stream = True

        def __init__(self):
            self.remaining = 0
            self.calls = 0

        def execute(self, prompt, stream, response, conversation):
            self.calls += 1
            # Only tool-enabled prompts are rounds; a summary request (compaction) is not.
            if self.remaining > 0 and prompt.tools:
                self.remaining -= 1
                yield "Reading the next file."
                response.add_tool_call(llm.ToolCall(
                    name="CodingTools_read_file",
                    # A distinct limit per call (the files are far shorter): the agent stops a
                    # model that repeats an identical call with an identical result.
                    arguments={"path": f"src/file{self.calls % FILES}.py", "limit": 1000 + self.calls},
                    tool_call_id=f"call_{self.calls}",
                ))
            else:
                yield "Done: all files read."
            response.set_usage(input=100, output=10)

    model = LoopModel()

    class _Plugin:
        __name__ = "BenchLoopPlugin"

        @llm.hookimpl
        def register_models(self, register):
            register(model)

    from llm.plugins import pm
    pm.register(_Plugin(), name="bench-loop-plugin")
    assert llm.get_model(model.model_id) is model
    return model


def _make_project(tmp: Path) -> Path:
    root = tmp / "project"
    (root / "src").mkdir(parents=True)
    for i in range(FILES):
        lines = [f"def function_{i}_{j}(x):\n    return x * {j}\n" for j in range(15)]
        (root / "src" / f"file{i}.py").write_text("".join(lines))
    return root


#: Context window given to CodingAgent so that compaction never triggers and it sends exactly the
#: messages bare llm sends. The "ours-compacting" side keeps the default (16,384 tokens for an
#: unknown model id), so the history is compacted over and over once it fills up.
BIG_WINDOW = 10_000_000


def _run_ours(model, root: Path, db, rounds: int, stamps: list, window: int | None = BIG_WINDOW
              ) -> int:
    from llm_coding_agent import CodingAgent

    kwargs = {} if window is None else {"context_window": window}
    agent = CodingAgent(model=model, root=root, approve=True, undo=False, sandbox="off", db=db,
                        chain_limit=10_000, on_tool=lambda call, result: stamps.append(
                            time.perf_counter()), **kwargs)
    model.remaining = rounds
    result = agent.run(PROMPT)
    assert result.stop_reason == "done", result.stop_reason
    errors = [r.output[:200] for _, r in result.tool_calls if r.output.startswith("Error")]
    assert len(result.tool_calls) == rounds and not errors, (len(result.tool_calls), errors[:2])
    return result.model_calls, agent  # the agent (and its conversation) stays alive for memory


def _run_bare(model, root: Path, db, rounds: int, stamps: list) -> int:
    from llm_coding_agent.agent.prompts import system_prompt
    from llm_coding_agent.tools import CodingTools

    conversation = model.conversation(tools=[CodingTools(str(root), sandbox="off")],
                                      chain_limit=0)
    model.remaining = rounds
    chain = conversation.chain(
        PROMPT, system=system_prompt(root),
        after_call=lambda tool, call, result: stamps.append(time.perf_counter()))
    responses = 0
    for response in chain.responses():
        for _ in response:  # stream it, as a caller printing chunks would
            pass
        response.log_to_db(db)
        responses += 1
    assert len(stamps) == rounds, (len(stamps), rounds)
    return responses, conversation


def child(side: str, rounds: int, trace: bool, profile: str | None, db_dir: str | None) -> dict:
    import sqlite_utils

    model = _make_model()
    run = {"ours": _run_ours, "bare": _run_bare,
           "ours-compacting": lambda *a: _run_ours(*a, window=None)}[side]
    with tempfile.TemporaryDirectory(prefix="lca-bench-loop-", dir=db_dir) as tmp_name:
        tmp = Path(tmp_name)
        root = _make_project(tmp)
        db = sqlite_utils.Database(tmp / "logs.db")
        warm = run(model, root, db, 5, [])  # warm-up: imports, migrations, first-call caches
        del warm
        gc.collect()
        if trace:
            import tracemalloc
            tracemalloc.start()
        rss0, maxrss0 = _rss_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stamps: list[float] = []
        profiler = None
        if profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        start, cpu_start = time.perf_counter(), time.process_time()
        responses, keep = run(model, root, db, rounds, stamps)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        traced = None
        if trace:
            import tracemalloc
            gc.collect()
            current, peak = tracemalloc.get_traced_memory()
            traced = {"current": current, "peak": peak}
            tracemalloc.stop()
        gc.collect()
        rss1, maxrss1 = _rss_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        del keep
        db_bytes = (tmp / "logs.db").stat().st_size
    gaps = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    tenth = max(1, rounds // 10)
    return {
        "side": side, "rounds": rounds, "seconds": seconds, "cpu_seconds": cpu, "responses": responses,
        "first_tenth_ms": 1000 * sum(gaps[:tenth]) / tenth,
        "last_tenth_ms": 1000 * sum(gaps[-tenth:]) / tenth,
        "rss_growth_kib": rss1 - rss0, "maxrss_growth_kib": maxrss1 - maxrss0,
        "traced": traced, "db_bytes": db_bytes,
    }


# --------------------------------------------------------------------------------------------
# Parent side


DB_DIR: str | None = None  # --db-dir


def measure(side: str, rounds: int, trace: bool = False, profile: str | None = None) -> dict:
    argv = [sys.executable, __file__, "_child", side, str(rounds)]
    if DB_DIR:
        argv += ["--db-dir", DB_DIR]
    if trace:
        argv.append("--trace")
    if profile:
        argv += ["--profile", profile]
    return run_json(argv, env=repo_env(), cwd=REPO, timeout=1800)


def split_profile(path: str) -> tuple[dict, list]:
    """Own time (tottime) by package, and our slowest functions by own time."""
    import pstats

    stats = pstats.Stats(path).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    groups: dict[str, float] = {}
    ours = []
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in stats.items():
        f = filename.replace("\\", "/")
        if "/llm_coding_agent/" in f:
            group = "llm_coding_agent"
            ours.append((tt, f"{f.split('/llm_coding_agent/')[1]}:{line} {func}", nc))
        elif "/site-packages/llm/" in f:
            group = "llm"
        elif "sqlite" in f or "sqlite3" in func or func.startswith("<method '") and (
                "sqlite3" in func or "Connection" in func or "Cursor" in func):
            group = "sqlite (sqlite_utils + sqlite3)"
        elif "/pydantic" in f:
            group = "pydantic"
        elif f == "~" or "/lib/python3" in f and "site-packages" not in f:
            group = "Python stdlib/builtins"
        elif "/bench/" in f:
            group = "benchmark + scripted model"
        else:
            group = "other packages"
        groups[group] = groups.get(group, 0.0) + tt
    ours.sort(reverse=True)
    return groups, ours[:6]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 20,50,100, one run each")
    parser.add_argument("--sizes", help="comma-separated round counts (default 100,250,500)")
    parser.add_argument("--repeat", type=int, help="runs per (side, size) (default 3, quick 1)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile split")
    parser.add_argument("--db-dir", help="directory for the project and logs.db (default: the "
                        "system temp dir, on disk; e.g. /dev/shm takes fsync out of wall time)")
    args = parser.parse_args()
    global DB_DIR
    DB_DIR = args.db_dir
    sizes = [int(s) for s in (args.sizes or ("20,50,100" if args.quick else "100,250,500"))
             .split(",")]
    repeat = args.repeat or (1 if args.quick else 3)
    started = time.perf_counter()
    header = machine_line()

    results: dict[tuple[str, int], list[dict]] = {}
    for rep in range(repeat):
        for n in sizes:
            for side in ("ours", "bare") if rep % 2 == 0 else ("bare", "ours"):
                log(f"run {rep + 1}/{repeat}: {side} × {n} rounds")
                results.setdefault((side, n), []).append(measure(side, n))
        log(f"run {rep + 1}/{repeat}: ours-compacting × {sizes[-1]} rounds")
        results.setdefault(("ours-compacting", sizes[-1]), []).append(
            measure("ours-compacting", sizes[-1]))

    def med(side, n, key):
        return median(r[key] for r in results[(side, n)])

    rows = []
    for n in sizes:
        o_ms, b_ms = (1000 * med(side, n, "seconds") / n for side in ("ours", "bare"))
        o_cpu, b_cpu = (1000 * med(side, n, "cpu_seconds") / n for side in ("ours", "bare"))
        over, over_cpu = o_ms - b_ms, o_cpu - b_cpu
        rows.append([
            n, f"{o_ms:.2f}", f"{b_ms:.2f}", f"{over:+.2f}",
            f"{o_cpu:.2f}", f"{b_cpu:.2f}", f"{over_cpu:+.2f}", f"< {OVERHEAD_TARGET_MS:g}",
            f"{'PASS' if over < OVERHEAD_TARGET_MS else 'FAIL'} / "
            f"{'PASS' if over_cpu < OVERHEAD_TARGET_MS else 'FAIL'}",
            f"{med('ours', n, 'rss_growth_kib') / n:.1f} / {med('bare', n, 'rss_growth_kib') / n:.1f}",
        ])
    big, small = sizes[-1], sizes[0]
    c_ms = 1000 * med("ours-compacting", big, "seconds") / big
    c_cpu = 1000 * med("ours-compacting", big, "cpu_seconds") / big
    b_ms = 1000 * med("bare", big, "seconds") / big
    b_cpu = 1000 * med("bare", big, "cpu_seconds") / big
    rows.append([f"{big}, ours with the default window (compacting)", f"{c_ms:.2f}", f"{b_ms:.2f}",
                 f"{c_ms - b_ms:+.2f}", f"{c_cpu:.2f}", f"{b_cpu:.2f}", f"{c_cpu - b_cpu:+.2f}",
                 "info", "",
                 f"{med('ours-compacting', big, 'rss_growth_kib') / big:.1f} / "
                 f"{med('bare', big, 'rss_growth_kib') / big:.1f}"])
    growth = {side: (1000 * med(side, big, "seconds") / big) / (1000 * med(side, small, "seconds") / small)
              for side in ("ours", "bare")}
    tenth_rows = [[side, f"{med(side, big, 'first_tenth_ms'):.2f}",
                   f"{med(side, big, 'last_tenth_ms'):.2f}",
                   f"{med(side, big, 'last_tenth_ms') / med(side, big, 'first_tenth_ms'):.1f}×",
                   f"{growth[side]:.2f}×",
                   f"{med(side, big, 'db_bytes') / 2**20:.1f}"] for side in ("ours", "bare")]

    mid = sizes[len(sizes) // 2]
    log(f"tracemalloc runs at {mid} rounds")
    traced = {side: measure(side, mid, trace=True)["traced"] for side in ("ours", "bare")}
    mem_rows = [[side, f"{traced[side]['current'] / 1024 / mid:.1f}",
                 f"{traced[side]['peak'] / 2**20:.1f}",
                 f"{med(side, mid, 'rss_growth_kib') / 1024:.1f}",
                 f"{med(side, big, 'rss_growth_kib') / 1024:.1f}",
                 f"{med(side, big, 'maxrss_growth_kib') / 1024:.1f}"] for side in ("ours", "bare")]

    profile_rows, top_rows = [], []
    if not args.no_profile:
        log(f"cProfile runs at {mid} rounds")
        with tempfile.TemporaryDirectory(prefix="lca-bench-prof-") as tmp:
            splits = {}
            for side in ("ours", "bare"):
                path = os.path.join(tmp, f"{side}.prof")
                measure(side, mid, profile=path)
                splits[side], top = split_profile(path)
                if side == "ours":
                    top_rows = [[name, f"{calls:,}", f"{1000 * tt / mid:.3f}"] for tt, name, calls in top]
        groups = sorted(set(splits["ours"]) | set(splits["bare"]),
                        key=lambda g: -splits["ours"].get(g, 0))
        for g in groups:
            o, b = splits["ours"].get(g, 0.0), splits["bare"].get(g, 0.0)
            profile_rows.append([g, f"{1000 * o / mid:.2f}", f"{1000 * b / mid:.2f}",
                                 f"{1000 * (o - b) / mid:+.2f}"])
        tot_o, tot_b = sum(splits["ours"].values()), sum(splits["bare"].values())
        profile_rows.append(["**total (under cProfile)**", f"{1000 * tot_o / mid:.2f}",
                             f"{1000 * tot_b / mid:.2f}", f"{1000 * (tot_o - tot_b) / mid:+.2f}"])

    print(f"## Loop overhead{' (--quick)' if args.quick else ''}\n")
    where = args.db_dir or tempfile.gettempdir()
    print(f"{header} · {code_version()}\nScripted instant model, one small `read_file` per round, "
          f"every response logged to SQLite ({where}/…/logs.db) as it completes; fresh process per "
          f"run, median of {repeat}; total benchmark time {time.perf_counter() - started:.0f} s.\n")
    print(md_table(["rounds", "ours ms/round", "bare ms/round", "overhead ms/round",
                    "ours CPU ms/round", "bare CPU ms/round", "overhead CPU ms/round", "target",
                    "result wall / CPU", "RSS growth KiB/round ours / bare"], rows))
    print(f"\nOurs: `CodingAgent(..., approve=True, undo=False, sandbox=\"off\", db=db, "
          f"chain_limit=10_000).run(prompt)`. Bare: `model.conversation(tools=[CodingTools(root, "
          f"sandbox=\"off\")], chain_limit=0).chain(prompt, system=<same system prompt>)`, "
          f"`response.log_to_db(db)` after each response. Overhead = ours − bare. Ours gets "
          f"`context_window={BIG_WINDOW:_}` so it never compacts and sends the same messages as "
          f"bare; the last row keeps the default window (16,384 tokens for this unknown model), "
          f"where the history fills up after ~60 rounds and is compacted again and again. Wall time includes "
          f"SQLite's fsync per logged response (logs.db on the local disk); CPU time is this "
          f"process's user+system time, which other load on the machine barely affects.\n")
    print(f"### Linearity ({big} rounds)\n")
    print(md_table(["side", f"ms/round, first {max(1, big // 10)} rounds",
                    f"ms/round, last {max(1, big // 10)} rounds", "last / first",
                    f"ms/round at {big} ÷ at {small}", "logs.db MiB"], tenth_rows))
    print("\nLinear total time means flat ms/round: both ratios would be ≈ 1.0×.\n")
    print("### Memory\n")
    print(md_table(["side", f"tracemalloc retained KiB/round ({mid} rounds)",
                    f"tracemalloc peak MiB ({mid})", f"RSS growth MiB ({mid})",
                    f"RSS growth MiB ({big})", f"max-RSS growth MiB ({big})"], mem_rows))
    print("\nRetained = Python memory still allocated after the run, with the agent/conversation "
          "still alive; measured in a separate run with tracemalloc on (it slows the run ~3×). "
          "RSS growth: resident set after the run minus before, same process.\n")
    if profile_rows:
        print(f"### Where the time goes (cProfile, {mid} rounds, own time per round in ms)\n")
        print(md_table(["package", "ours", "bare", "difference"], profile_rows))
        print("\nOur slowest functions (own time):\n")
        print(md_table(["llm_coding_agent function", "calls", "ms/round"], top_rows))
        print("\ncProfile inflates everything (roughly 2×); read the split, not the totals.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        p = argparse.ArgumentParser()
        p.add_argument("cmd")
        p.add_argument("side", choices=["ours", "bare", "ours-compacting"])
        p.add_argument("rounds", type=int)
        p.add_argument("--trace", action="store_true")
        p.add_argument("--profile")
        p.add_argument("--db-dir")
        a = p.parse_args()
        sys.path.insert(0, str(REPO))
        print(json.dumps(child(a.side, a.rounds, a.trace, a.profile, a.db_dir)))
        sys.exit(0)
    sys.exit(main())
