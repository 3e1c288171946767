#!/usr/bin/env python3
"""Tool speed and memory against the command-line tools they stand in for, in one run.

    python bench/tools.py [--quick] [--repeat N] [--keep] [--tmp DIR]

Builds a synthetic project under /tmp (about 50,000 files, nested .gitignore rules with negations,
node_modules, __pycache__, hidden directories, and a 1 GiB log that .gitignore excludes), then
prints one table per group, each against a baseline measured in the same run on the same tree:

* ``search_files`` vs ``rg -n PATTERN`` with exactly our ignore flags (target ≤ 1.3×)
* ``list_files`` vs ``rg --files`` with exactly our ignore flags (target ≤ 1.5×)
* the pure-Python fallback (``use_rg=False``) vs ``grep -rEn`` with exclusions equivalent to the
  tree's ignore rules (no target; match counts are checked equal)
* ``read_file`` of a late page of the 1 GiB log vs ``tail -n +N | head -n L``, and
  ``execute_command("cat <1 GiB>")`` vs ``cat >/dev/null`` and ``cat | wc -c``: time and peak RSS,
  each run in a fresh process (target: peak RSS < 100 MB)

Search and listing run in this process, warm cache, alternating ours/baseline, median of N runs.
Everything is deleted afterwards unless --keep. --quick: a 2,000-file tree and a 64 MiB log.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (REPO, code_version, log, machine_line, mb, md_table, median, ms,  # noqa: E402
                    repo_env, run_json, time_pair, verdict)

SEARCH_TARGET = 1.3
LIST_TARGET = 1.5
RSS_TARGET_MB = 100

RARE = "BENCH_RARE_TOKEN"
LOG_REL = "logs/app.log"


# --------------------------------------------------------------------------------------------
# The synthetic tree

FULL = dict(pkgs=360, per_pkg=100, tests=4000, docs=2000, build=4000, node_modules=3000,
            generated=1000, tmp=500, cache=500, coverage=200, pycache_pkgs=90, log_mib=1024)
QUICK = dict(pkgs=14, per_pkg=100, tests=160, docs=80, build=160, node_modules=120,
             generated=40, tmp=20, cache=20, coverage=8, pycache_pkgs=4, log_mib=64)

ROOT_GITIGNORE = """\
# build outputs and logs
build/
*.log
*.tmp
!important.tmp
/coverage/
generated/**/*.pb.py
"""
NESTED_GITIGNORE = "*.gen.py\n!keep.gen.py\n"
# Files re-included by a negation hold no searched word, so grep's exclusions (which cannot
# express negation) find exactly the same matches as the gitignore-aware engines.
NEGATED_CONTENT = "# kept by a negation rule\n"


def _line_pool(rng: random.Random, n: int = 6000) -> list[str]:
    words = ("alpha beta gamma delta item value result count index cache config user order "
             "parse render update fetch store load save token queue batch node graph").split()
    pool = []
    for _ in range(n):
        a, b, c = rng.choice(words), rng.choice(words), rng.choice(words)
        kind = rng.random()
        if kind < 0.12:
            pool.append(f"def {a}_{b}{'_handler' if rng.random() < 0.1 else ''}(self, {c}):")
        elif kind < 0.30:
            pool.append(f"    return {a}.{b}({c}, {rng.randint(0, 999)})")
        elif kind < 0.55:
            pool.append(f"    {a}_{b} = {c}({rng.randint(0, 99)}, '{a}-{b}')")
        elif kind < 0.70:
            pool.append(f"    # {a} {b} {c}: {rng.choice(words)} {rng.choice(words)}")
        elif kind < 0.80:
            pool.append(f"import {a}.{b}")
        elif kind < 0.88:
            pool.append(f"class {a.title()}{b.title()}({c.title()}):")
        elif kind < 0.90:
            pool.append(f"    # TODO: {a} {b} {c}")
        else:
            pool.append(f"    if {a} > {b}: {c} += 1")
    return pool


class TreeWriter:
    def __init__(self, root: Path, rng: random.Random):
        self.root = root
        self.rng = rng
        self.pool = _line_pool(rng)
        self.count = 0
        self.visible = 0

    def text(self, marker: bool) -> str:
        lines = self.rng.sample(self.pool, self.rng.randint(25, 60))
        if marker:
            lines.insert(self.rng.randrange(len(lines)), f"    # {RARE} {self.count}")
        return "\n".join(lines) + "\n"

    def file(self, rel: str, visible: bool, content: str | None = None) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            # Ignored files carry the rare marker too, so an ignore bug shows up as extra matches.
            content = self.text(marker=self.count % 97 == 0)
        path.write_text(content)
        self.count += 1
        self.visible += visible


def build_tree(root: Path, size: dict) -> dict:
    rng = random.Random(20261126)
    w = TreeWriter(root, rng)
    (root / ".gitignore").write_text(ROOT_GITIGNORE)
    (root / ".env.example").write_text("DEBUG=1\n")
    w.count += 2
    w.visible += 2
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for p in range(size["pkgs"]):
        pkg = f"src/pkg{p:03d}"
        for m in range(size["per_pkg"]):
            w.file(f"{pkg}/mod{m:03d}.py", True)
        if p % 10 == 0:  # nested .gitignore with a negation
            (root / pkg / ".gitignore").write_text(NESTED_GITIGNORE)
            w.visible += 1
            for g in range(5):
                w.file(f"{pkg}/schema{g}.gen.py", False)
            w.file(f"{pkg}/keep.gen.py", True, NEGATED_CONTENT)
        if p < size["pycache_pkgs"]:
            for c in range(10):
                w.file(f"{pkg}/__pycache__/mod{c:03d}.cpython-311.pyc", False)
        if p % 20 == 5:  # excluded by a rule of the root .gitignore, not of src's own
            w.file(f"{pkg}/scratch.tmp", False)
    for t in range(size["tests"]):
        w.file(f"tests/unit/test_{t:04d}.py", True)
    for d in range(size["docs"]):
        w.file(f"docs/section{d % 20:02d}/page{d:04d}.md", True)
    for b in range(size["build"]):
        w.file(f"build/lib/pkg{b % 50:02d}/mod{b:04d}.py", False)
    for n in range(size["node_modules"]):
        w.file(f"node_modules/lib{n % 100:03d}/index{n:04d}.js", False)
    for g in range(size["generated"]):
        w.file(f"generated/proto{g % 10}/msg{g:04d}.pb.py", False)
    w.file("generated/README.md", True)
    for t in range(size["tmp"]):
        w.file(f"scratch/run{t:04d}.tmp", False)
    w.file("scratch/important.tmp", True, NEGATED_CONTENT)
    for c in range(size["cache"]):
        w.file(f".cache/blob{c:04d}.txt", False)
    for c in range(size["coverage"]):
        w.file(f"coverage/cov{c:04d}.py", False)
    log_lines = write_log(root / LOG_REL, size["log_mib"] << 20)
    w.count += 1
    return {"files": w.count, "visible": w.visible, "log_lines": log_lines}


def write_log(path: Path, target_bytes: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    written = lines = 0
    block = 20_000
    with open(path, "w") as fh:
        while written < target_bytes:
            start = lines
            chunk = "".join(
                f"2026-11-26T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z "
                f"INFO [worker-{i % 16:02d}] req={i} GET /api/v1/items/{i * 7919 % 100000} "
                f"status=200 dur_ms={i % 997}\n"
                for i in range(start, start + block)
            )
            fh.write(chunk)
            written += len(chunk)
            lines += block
    return lines


# --------------------------------------------------------------------------------------------
# Baselines


def rg_walk_flags() -> list[str]:
    from llm_coding_agent.tools import search
    return list(search._RG_WALK_FLAGS)


def rg_search_flags() -> list[str]:
    from llm_coding_agent.tools import search
    return list(search._RG_SEARCH_FLAGS)


def type_flags(glob: str | None) -> list[str]:
    return [] if glob is None else [f"--type-add=bench:{glob}", "--type=bench"]


GREP_EXCLUDES = ["--exclude-dir=.git", "--exclude-dir=.cache", "--exclude-dir=node_modules",
                 "--exclude-dir=__pycache__", "--exclude-dir=build", "--exclude-dir=coverage",
                 "--exclude=*.log", "--exclude=*.tmp", "--exclude=*.gen.py", "--exclude=*.pb.py"]


def run_capture(argv: list, cwd: Path) -> bytes:
    return subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True).stdout


def cpu_ratio(ours: list[float], base: list[float]) -> str:
    return f"{median(ours) / median(base):.2f}×" if median(base) > 0 else "—"


def nlines(data: bytes) -> int:
    return data.count(b"\n")


_MORE = re.compile(r"^\[(\d+) more (?:matches|files) not shown")


def tool_total(output: str) -> int:
    """Matches (or files) a search/list answer accounts for: lines shown + the 'N more' line."""
    lines = output.splitlines()
    if lines and (m := _MORE.match(lines[-1])):
        return len(lines) - 1 + int(m.group(1))
    if lines and lines[0].startswith(("No matches", "No files")):
        return 0
    return len(lines)


# --------------------------------------------------------------------------------------------
# Fresh-process helpers for the large-data cases (peak RSS must belong to one operation)

CHILD_OURS = r"""
import json, re, resource, sys, time
root, op, arg, offset = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def hwm_kib():
    # VmHWM, not ru_maxrss: a process forked from a big parent inherits the parent's ru_maxrss.
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))

def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

from llm_coding_agent.tools import CodingTools
tools = CodingTools(root, sandbox="off")
rss0, cpu0 = hwm_kib(), cpu()
t = time.perf_counter()
out = tools.read_file(arg, offset=offset) if op == "read" else tools.execute_command(arg, timeout=600)
dt = time.perf_counter() - t
shown = sum(1 for l in out.splitlines() if re.match(r" *\d+\t", l))
print(json.dumps({"seconds": dt, "cpu": cpu() - cpu0, "rss_kib": hwm_kib(), "rss_import_kib": rss0,
                  "chars": len(out), "lines": shown, "head": out[:80], "tail": out[-160:]}))
"""

GNU_TIME = "/usr/bin/time"


def shell_run(cmd: str, cwd: Path) -> dict:
    """Run ``bash -c cmd`` in a fresh process, output captured; wall time and the tree's peak RSS.

    Peak RSS comes from GNU time (``%M``, the largest of bash and its children). Python's own
    ``RUSAGE_CHILDREN`` would be wrong here: a child forked from this process starts with this
    process's high-water mark, so it would report at least our own RSS.
    """
    use_time = os.access(GNU_TIME, os.X_OK)
    argv = ([GNU_TIME, "-f", "@@maxrss=%M cpu=%U+%S"] if use_time else []) + ["/bin/bash", "-c", cmd]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    seconds = time.perf_counter() - start
    cpu = None
    if use_time:
        report = proc.stderr.decode().rsplit("@@maxrss=", 1)[1].split()
        rss = int(report[0])
        user, system = report[1].removeprefix("cpu=").split("+")
        cpu = float(user) + float(system)
    else:  # an upper bound, contaminated by this process's own RSS
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed: {proc.stderr[-500:]!r}")
    return {"seconds": seconds, "cpu": cpu, "rss_kib": rss, "bytes": len(proc.stdout)}


def _one_fresh(argv, cwd: Path | None) -> dict:
    """A fresh run: a python -c argv (JSON result) or a shell command string."""
    if isinstance(argv, str):
        return shell_run(argv, cwd)
    return run_json(argv, env=repo_env(), timeout=900)


def fresh_pair(ours_argv, base_argvs: list, repeat: int, cwd: Path) -> tuple[dict, list[dict]]:
    """``repeat`` rounds of fresh runs, ours then each baseline, alternating; per side the median
    time and CPU and the max peak RSS."""
    runs: list[list[dict]] = [[] for _ in range(1 + len(base_argvs))]
    for _ in range(repeat):
        for i, argv in enumerate([ours_argv, *base_argvs]):
            runs[i].append(_one_fresh(argv, cwd))
    summary = []
    for side in runs:
        best = dict(side[0])
        best["seconds"] = median(r["seconds"] for r in side)
        best["cpu"] = median(r["cpu"] for r in side) if side[0]["cpu"] is not None else None
        best["rss_kib"] = max(r["rss_kib"] for r in side)
        if "rss_import_kib" in best:
            best["rss_import_kib"] = max(r["rss_import_kib"] for r in side)
        summary.append(best)
    return summary[0], summary[1:]


# --------------------------------------------------------------------------------------------
# The benchmark


def compare_row(label: str, ours, count_ours, base_argv: list, root: Path, repeat: int,
                target: float | None = None) -> list:
    """One table row: the callable ``ours`` against capturing ``base_argv`` in ``root``, with the
    result counts (``count_ours`` counts ours' output). Without a target it is an info row."""
    ours_out, base_out = ours(), run_capture(base_argv, root)
    a, b, ca, cb = time_pair(ours, lambda: run_capture(base_argv, root), repeat)
    ratio = median(a) / median(b)
    return [label, f"{count_ours(ours_out):,} / {nlines(base_out):,}",
            ms(median(a)), ms(median(b)), f"{ratio:.2f}×", cpu_ratio(ca, cb),
            f"≤ {target}×" if target else "—", verdict(ratio, target) if target else "info"]


def bench_search(tools, root: Path, rg: str, repeat: int) -> list[list]:
    walk, flags = rg_walk_flags(), rg_search_flags()
    cases = [
        ("rare literal", RARE, None),
        ("common word", "return", None),
        ("regex", r"def \w+_handler\(", None),
        ("TODO, glob *.md", "TODO", "*.md"),
    ]
    rows = []
    for label, pattern, glob in cases:
        base_argv = [rg, "-n", *walk, *flags, *type_flags(glob), "--regexp", pattern, "--", "."]
        log(f"  search_files: {label}")
        rows.append(compare_row(
            f"search_files `{pattern}`" + (f" glob={glob}" if glob else ""),
            lambda: tools.search_files(pattern, glob=glob), tool_total, base_argv, root, repeat,
            SEARCH_TARGET))
    return rows


def bench_list(tools, root: Path, rg: str, repeat: int) -> list[list]:
    from llm_coding_agent.tools import search
    walk = rg_walk_flags()
    parent_walk = [flag for flag in walk if flag != "--no-ignore-parent"]
    rg_files = [rg, "--files", *walk, "--", "."]
    list_src = lambda: tools.list_files(path="src")  # noqa: E731
    cases = [
        ("list_files `**/*`", lambda: tools.list_files(), rg_files),
        ("list_files `*.py`", lambda: tools.list_files("*.py"),
         [rg, "--files", *walk, *type_flags("*.py"), "--", "."]),
        # Listing src must still apply the root's .gitignore (the tree has src/**/scratch.tmp
        # files only a root rule excludes): rg does that when it may read parent ignore files.
        ("list_files path=src", list_src, [rg, "--files", *parent_walk, "--", "src"]),
    ]
    rows = []
    for label, ours, base_argv in cases:
        log(f"  {label}")
        rows.append(compare_row(label, ours, tool_total, base_argv, root, repeat, LIST_TARGET))
    # Information only: the same listing against rg told to skip the root's .gitignore (what
    # this row's baseline was before 2026-11-26): less work, and a wrong file set (counts differ).
    log("  list_files path=src vs rg without parent ignore files")
    rows.append(compare_row("list_files path=src vs rg `--no-ignore-parent` (info)", list_src,
                            tool_total, [rg, "--files", *walk, "--", "src"], root, repeat))
    # Information only: what ranking by mtime costs ripgrep itself (one stat per file, and
    # --sortr walks on one thread), against the same rg --files.
    log("  rg --files --sortr=modified")
    sort_argv = [rg, "--files", "--sortr=modified", *walk, "--", "."]
    rows.append(compare_row("`rg --files --sortr=modified` itself (info)",
                            lambda: run_capture(sort_argv, root), nlines, rg_files, root, repeat))
    # Information only: the fallback walker against the same rg --files.
    log("  list_files fallback")
    fallback = lambda: search.list_files(tools._root, tools._root, "**/*", use_rg=False)  # noqa: E731
    rows.append(compare_row("list_files `**/*` Python fallback (info)", fallback, tool_total,
                            rg_files, root, max(3, repeat // 2)))
    return rows


def bench_fallback(tools, root: Path, repeat: int) -> list[list]:
    from llm_coding_agent.tools import search
    cases = [("rare literal", RARE), ("common word", "return"), ("regex", r"def \w+_handler\(")]
    rows = []
    for label, pattern in cases:
        log(f"  fallback search: {label}")
        ours = lambda: search.search_files(tools._root, tools._root, pattern,  # noqa: E731
                                           use_rg=False)
        base_argv = ["grep", "-rEn", *GREP_EXCLUDES, "-e", pattern, "."]
        ours_out, base_out = ours(), run_capture(base_argv, root)
        a, b, ca, cb = time_pair(ours, lambda: run_capture(base_argv, root), repeat, warmup=0)
        rows.append([f"search `{pattern}` (use_rg=False)",
                     f"{tool_total(ours_out):,} / {nlines(base_out):,}",
                     ms(median(a)), ms(median(b)), f"{median(a) / median(b):.2f}×",
                     cpu_ratio(ca, cb), "—", "info"])
    return rows


def bench_large(root: Path, log_lines: int, repeat: int) -> list[list]:
    py = sys.executable
    log_path = root / LOG_REL
    size = log_path.stat().st_size
    subprocess.run(["cat", str(log_path)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    rows = []

    offset = log_lines - 1000
    log(f"  read_file {LOG_REL} offset={offset:,} (fresh processes × {repeat})")
    ours_argv = [py, "-c", CHILD_OURS, str(root), "read", LOG_REL, str(offset)]
    probe = _one_fresh(ours_argv, root)
    if not probe["head"].lstrip().startswith(str(offset + 1)) or not probe["lines"]:
        raise RuntimeError(f"read_file returned the wrong page: {probe['head']!r}")
    shown = probe["lines"]
    base_cmd = f"tail -n +{offset + 1} {LOG_REL} | head -n {shown}"
    ours, (base,) = fresh_pair(ours_argv, [base_cmd], repeat, root)
    rows.append(_large_row(f"read_file late page ({shown} lines from line {offset + 1:,})",
                           ours, base, f"`{base_cmd}`"))

    cmd = f"cat {LOG_REL}"
    log(f"  execute_command `{cmd}` ({size / 2**20:,.0f} MiB, fresh processes × {repeat})")
    base_cmds = [f"cat {LOG_REL} > /dev/null", f"cat {LOG_REL} | wc -c"]
    ours_argv = [py, "-c", CHILD_OURS, str(root), "exec", cmd, "0"]
    ours, bases = fresh_pair(ours_argv, base_cmds, repeat, root)
    if "Exit code: 0" not in ours["tail"]:
        raise RuntimeError(f"execute_command failed: {ours['tail']!r}")
    for base_cmd, base in zip(base_cmds, bases):
        rows.append(_large_row(f"execute_command `{cmd}` ({size / 2**30:.2f} GiB)", ours, base,
                               f"`{base_cmd}`"))
    return rows


def _large_row(label: str, ours: dict, base: dict, base_label: str) -> list:
    peak_mb = ours["rss_kib"] / 1024
    cpu_ratio = f"{ours['cpu'] / base['cpu']:.2f}×" if base.get("cpu") else "—"
    return [label, base_label, ms(ours["seconds"]), ms(base["seconds"]),
            f"{ours['seconds'] / base['seconds']:.2f}×", cpu_ratio,
            f"{mb(ours['rss_kib'])} (+{mb(ours['rss_kib'] - ours['rss_import_kib'])})",
            mb(base["rss_kib"]), f"< {RSS_TARGET_MB} MB",
            "PASS" if peak_mb < RSS_TARGET_MB else "FAIL"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small tree and log (smoke check)")
    parser.add_argument("--repeat", type=int, help="timed runs per side (default 9, quick 3)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic tree")
    parser.add_argument("--tmp", default="/tmp", help="where to build the tree (default /tmp)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    repeat = args.repeat or (3 if args.quick else 9)
    large_repeat = 2 if args.quick else 5

    sys.path.insert(0, str(REPO))
    from llm_coding_agent.tools.search import find_rg
    from llm_coding_agent.tools import CodingTools

    rg = find_rg()
    if rg is None:
        print("rg not found", file=sys.stderr)
        return 2
    rg_version = subprocess.run([rg, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    root = Path(tempfile.mkdtemp(prefix="lca-bench-tools-", dir=args.tmp))
    started = time.perf_counter()
    try:
        log(f"building the tree in {root} ...")
        t = time.perf_counter()
        info = build_tree(root, size)
        log(f"  {info['files']:,} files ({info['visible']:,} not ignored), "
            f"{LOG_REL} {info['log_lines']:,} lines, built in {time.perf_counter() - t:.0f} s")
        subprocess.run("find . -type f -print0 | xargs -0 cat > /dev/null", shell=True, cwd=root)
        tools = CodingTools(str(root), sandbox="off")

        log("search_files vs rg -n ...")
        search_rows = bench_search(tools, root, rg, repeat)
        log("list_files vs rg --files ...")
        list_rows = bench_list(tools, root, rg, repeat)
        log("Python fallback vs grep -rEn ...")
        fallback_rows = bench_fallback(tools, root, max(2, repeat // 2))
        log("large data (fresh processes) ...")
        large_rows = bench_large(root, info["log_lines"], large_repeat)
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    heads = ["case", "results ours / baseline", "ours ms", "baseline ms", "ratio", "CPU ratio",
             "target", "result"]
    print(f"## Tools{' (--quick)' if args.quick else ''}\n")
    print(f"{machine_line()} · {rg_version} · {code_version()}")
    print(f"Tree: {info['files']:,} files ({info['visible']:,} not ignored) + a "
          f"{size['log_mib']:,} MiB log ({info['log_lines']:,} lines); median of {repeat} warm "
          f"runs, ours and baseline alternating. Targets apply to the wall-time ratio; the CPU "
          f"ratio (user+system, child processes such as rg/grep included) is given because it "
          f"barely depends on other load on the machine. Total benchmark time "
          f"{time.perf_counter() - started:.0f} s.\n")
    print("### search_files vs ripgrep\n")
    print(md_table(heads, search_rows))
    print("\nBaseline: `rg -n --no-config --no-require-git --no-ignore-parent --no-ignore-global "
          "--no-ignore-exclude --no-ignore-dot --hidden --glob=!.*/ --glob=!node_modules/ "
          "--glob=!__pycache__/ --encoding=none --color=never [--type-add=bench:GLOB --type=bench] "
          "--regexp PATTERN -- .` (our ignore flags), all output captured through a pipe. "
          "Ours: `CodingTools.search_files(PATTERN[, glob])` (first 100 matches + a count).\n")
    print("### list_files vs rg --files\n")
    print(md_table(heads, list_rows))
    print("\nBaseline: `rg --files` with the same ignore flags (plus `--type-add` for `*.py`), "
          "output captured. Ours: `CodingTools.list_files(...)` (the 200 newest + a count, so it "
          "needs every file's mtime; `rg --files` needs no stat at all). For `path=src` the "
          "baseline may read parent ignore files (no `--no-ignore-parent`), since listing a "
          "subdirectory must still apply the root's `.gitignore` (the tree has `src/**/scratch.tmp` "
          "files only a root rule excludes); the `--no-ignore-parent` row shows that cheaper but "
          "wrong baseline (its count differs). The `--sortr=modified` row shows what the ranking "
          "costs ripgrep itself.\n")
    print("### Pure-Python fallback vs grep\n")
    print(md_table(heads, fallback_rows))
    print("\nBaseline: `grep -rEn " + " ".join(GREP_EXCLUDES) + " -e PATTERN .` — exclusions "
          "equivalent to the tree's ignore rules (the counts column checks the file sets agree). "
          "Ours: `search.search_files(..., use_rg=False)`. No target.\n")
    print("### Large data: time and peak RSS (fresh process per run)\n")
    print(md_table(["case", "baseline", "ours ms", "baseline ms", "time ratio", "CPU ratio",
                    "ours peak RSS MB (+ over import)", "baseline peak RSS MB", "target",
                    "result"], large_rows))
    print(f"\nOurs: a fresh `python -c` that imports `CodingTools` and makes one call; peak RSS is "
          f"its VmHWM (the interpreter with llm imported is most of it; the number in brackets is "
          f"the growth during the call; `ru_maxrss` is not used because a child inherits its "
          f"parent's high-water mark). Ours and baselines alternate run by run. Baseline: `bash -c CMD` under "
          f"GNU `time` with output captured; its RSS is `%M` (the largest of "
          f"bash/tail/head/cat/wc). Time and CPU (user+system, "
          f"children included): median of {large_repeat}; RSS: max of {large_repeat}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
