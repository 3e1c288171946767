"""Small helpers shared by bench/tools.py, bench/loop.py and bench/startup.py.

Standard library only, so every benchmark can import it before anything heavy.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]


def repo_env(**extra: str) -> dict[str, str]:
    """This process's environment with the checkout first on PYTHONPATH (plus ``extra``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def time_calls(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def cpu_seconds() -> float:
    """User+system CPU of this process and of its waited-for children so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_pair(ours: Callable[[], object], base: Callable[[], object], repeat: int,
              warmup: int = 1) -> tuple[list[float], list[float], list[float], list[float]]:
    """Time two callables alternately (ours, base, ours, base...) so drift hits both equally.

    Returns wall seconds (ours, base) and CPU seconds (ours, base), CPU counting child processes
    (rg, grep) too; CPU time is barely affected by other load on the machine, wall time is.
    """
    for _ in range(warmup):
        ours()
        base()
    walls: tuple[list, list] = ([], [])
    cpus: tuple[list, list] = ([], [])
    for _ in range(repeat):
        for i, fn in enumerate((ours, base)):
            cpu, start = cpu_seconds(), time.perf_counter()
            fn()
            walls[i].append(time.perf_counter() - start)
            cpus[i].append(cpu_seconds() - cpu)
    return walls[0], walls[1], cpus[0], cpus[1]


def code_version() -> str:
    """The commit under test, plus which package files had uncommitted changes when measured."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "llm_coding_agent"],
                               cwd=REPO, capture_output=True, text=True).stdout.split("\n")
    except OSError:
        return "unknown"
    changed = sorted(line[3:].split("/")[-1] for line in dirty if line.strip())
    return f"commit {head}" + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def run_json(argv: Sequence[str], *, env: dict | None = None, cwd: str | Path | None = None,
             timeout: float = 900) -> dict:
    """Run a helper process that prints one JSON object as its last stdout line."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]}... failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"


def ms(seconds: float) -> str:
    value = seconds * 1000
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def mb(kib: float) -> str:
    """ru_maxrss is in KiB on Linux."""
    return f"{kib / 1024:.1f}"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown pipe table, padded so it also reads well in a terminal."""
    # A "|" inside a cell (a shell pipeline) would end the cell in Markdown.
    rows = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [line([str(h) for h in headers]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine_line() -> str:
    """Date, cores, memory, Python: the header every benchmark prints above its table."""
    mem_gib = "?"
    try:
        with open("/proc/meminfo") as fh:
            for row in fh:
                if row.startswith("MemTotal:"):
                    mem_gib = f"{int(row.split()[1]) / 1024 / 1024:.0f}"
                    break
    except OSError:
        pass
    load = " · load avg {:.1f}/{:.1f}/{:.1f} at start".format(*os.getloadavg())
    return (f"{datetime.date.today().isoformat()} · {os.cpu_count()} cores · {mem_gib} GiB RAM · "
            f"Python {platform.python_version()} · {platform.system()} {platform.release()}{load}")


def log(message: str) -> None:
    """Progress to stderr (tables go to stdout)."""
    print(message, file=sys.stderr, flush=True)
