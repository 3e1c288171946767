#!/usr/bin/env python3
"""Start-up time: every ``llm`` command with this plugin installed, and ``llm code`` until its
first prompt, against plain ``llm --help`` measured in the same run.

    python bench/startup.py [--quick] [--runs N] [--no-local]

The plugin is installed the way pip would leave it, without touching the environment: a temporary
``*.dist-info`` with the ``llm`` entry point on PYTHONPATH (plus this checkout), so llm's own
plugin loading imports this checkout's ``llm_coding_agent.plugin`` (if the package is also
pip-installed, pluggy registers the entry point once; the checkout comes first on sys.path).
``LLM_USER_PATH`` is a temporary directory whose ``extra-openai-models.yaml`` registers a model at
127.0.0.1:9 (never contacted: no message is ever sent). Every command is a fresh process of the
same ``llm`` script:

* ``llm --help`` with no plugin loaded (``LLM_LOAD_PLUGINS=""``): **the baseline**;
* ``llm --help`` with the plugin installed (llm scans every installed package's entry points,
  then imports ``plugin.py`` and runs ``register_commands``): target ≤ 1.15× the baseline;
* ``llm --help`` with only this plugin (``LLM_LOAD_PLUGINS=llm-coding-agent-bench``: no scan), the
  plugin's own cost: target ≤ 1.15×;
* ``llm code --help``: target ≤ 1.15×;
* ``llm models`` with the plugin (``register_models`` runs: it registers ``code-local``) against
  ``llm models`` with no plugin: target ≤ 1.15× of that;
* ``llm code -m bench-local`` in a pseudo-terminal (pexpect: prompt_toolkit and rich take their
  terminal paths), from launch until the ``›`` prompt is drawn: target under 1 s;
* the same with ``--local`` (the built-in model, which is what ``llm code`` picks when there is no
  API key), when ``xllamacpp`` and weights are here (``$LLM_CODE_LOCAL_MODEL`` or the weights
  cache); ``--no-local`` skips it: target under 1 s;
* information: the pty session until it exits after ``!quit``, and ``llm code`` with stdin
  ``!quit`` piped (no prompt_toolkit) until it exits.

Runs alternate command by command (one round runs each once); median of N (default 25, --quick 5).
Then ``python -X importtime`` attributes the extra import time to this package's modules and the
third-party packages each one pulls in. The report goes to stdout and to
``bench/results/<timestamp>-startup.md``.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, code_version, log, machine_line, md_table, median  # noqa: E402

#: Largest ratio to the baseline for commands that do not start a session.
TARGET = 1.15
#: Seconds from launching `llm code` until its prompt shows.
PROMPT_TARGET = 1.0
MODEL_ID = "bench-local"
PACKAGE = "llm_coding_agent"
DIST_NAME = "llm-coding-agent-bench"
BASELINE = "llm --help, no plugin"


# --------------------------------------------------------------------------------------------
# Environment


def make_env(tmp: Path) -> tuple[dict, Path]:
    """(environment with the plugin installed, project dir)."""
    site = tmp / "site"
    info = site / "llm_coding_agent_bench-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(f"[llm]\ncoding_agent = {PACKAGE}.plugin\n")
    user = tmp / "llm-user"
    user.mkdir()
    (user / "extra-openai-models.yaml").write_text(
        f"- model_id: {MODEL_ID}\n  model_name: {MODEL_ID}\n"
        f"  api_base: \"http://127.0.0.1:9/v1\"\n  supports_tools: true\n")
    project = tmp / "project"
    project.mkdir()
    (project / "README.md").write_text("# demo\n")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LLM_", "PYTHON")) and k != "OPENAI_API_KEY"}
    base.update(LLM_USER_PATH=str(user), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm",
                LLM_CODE_LOCAL_FETCH="0", PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    return base, project


def local_weights() -> tuple[str | None, str]:
    """(a GGUF file for ``--local``, or None and why not)."""
    if importlib.util.find_spec("xllamacpp") is None:
        return None, "xllamacpp is not installed"
    given = os.environ.get("LLM_CODE_LOCAL_MODEL")
    if given:
        return (given, "") if Path(given).is_file() else (None, f"no file {given}")
    sys.path.insert(0, str(REPO))
    from llm_coding_agent.local.weights import DEFAULT_WEIGHTS, cache_dir

    cached = cache_dir() / DEFAULT_WEIGHTS.filename
    return (str(cached), "") if cached.is_file() else (None, f"no weights at {cached}")


def llm_argv() -> list[str]:
    script = Path(sys.executable).with_name("llm")
    if script.exists():
        return [sys.executable, str(script)]  # the console script, minus any pyenv shim
    return [sys.executable, "-m", "llm"]


# --------------------------------------------------------------------------------------------
# Timing


def children_cpu() -> float:
    """User+system CPU of all waited-for child processes so far."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


class Sample:
    """One run: wall seconds (until the prompt, for pty runs), CPU seconds (whole process; None
    when unknown), output and exit status for the sanity checks."""

    def __init__(self, wall: float, cpu: float | None, output: str = "", error: str = "",
                 status: int = 0, exit_wall: float | None = None):
        self.wall, self.cpu, self.output, self.error = wall, cpu, output, error
        self.status, self.exit_wall = status, exit_wall


def run_piped(argv, env, cwd: Path, stdin: bytes = b"") -> Sample:
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, timeout=120)
    return Sample(time.perf_counter() - start, children_cpu() - cpu,
                  proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                  proc.returncode)


def run_pty(argv, env, cwd: Path) -> Sample:
    """Seconds until the `›` prompt shows (then `!quit`, and the seconds until it exits)."""
    import pexpect

    cpu, start = children_cpu(), time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(cwd), timeout=60,
                          encoding="utf-8", dimensions=(40, 120))
    try:
        child.expect("›")
    except (pexpect.EOF, pexpect.TIMEOUT):
        child.close(force=True)
        return Sample(0.0, None, child.before or "", (child.before or "").strip()[-500:], 1)
    prompt = time.perf_counter() - start
    shown = child.before
    child.sendline("!quit")
    child.expect(pexpect.EOF)
    child.close()  # waits for it, so its CPU time is counted in RUSAGE_CHILDREN
    return Sample(prompt, children_cpu() - cpu, shown, "", child.exitstatus or 0,
                  exit_wall=time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# -X importtime attribution


class Node:
    __slots__ = ("name", "self_us", "cum_us", "children")

    def __init__(self, name, self_us, cum_us):
        self.name, self.self_us, self.cum_us, self.children = name, self_us, cum_us, []


def parse_importtime(stderr: str) -> list[Node]:
    """The import tree (roots in import order) from ``-X importtime`` output (post-order)."""
    pending: list[tuple[int, Node]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:"):].split("|")
        self_us, cum_us, raw = int(parts[0]), int(parts[1]), parts[2]
        stripped = raw.lstrip(" ")
        depth = (len(raw) - len(stripped) - 1) // 2
        node = Node(stripped.strip(), self_us, cum_us)
        while pending and pending[-1][0] > depth:
            node.children.insert(0, pending.pop()[1])
        pending.append((depth, node))
    return [n for _, n in pending]


def walk(nodes, parent_ours=None):
    """Yield (node, nearest enclosing llm_coding_agent module or None)."""
    for node in nodes:
        yield node, parent_ours
        mine = node.name if node.name.startswith(PACKAGE) else parent_ours
        yield from walk(node.children, mine)


def attribute(roots: list[Node], baseline_names: set[str]) -> tuple[list, float]:
    """Per llm_coding_agent module: the import time of the modules it pulls in that `llm --help`
    does not import anyway (its own body included), and the heaviest of them."""
    per: dict[str, list] = {}
    extra_total = 0.0
    for root in roots:
        for node, owner in walk([root]):
            if node.name in baseline_names:
                continue
            extra_total += node.self_us
            key = node.name if node.name.startswith(PACKAGE) else owner
            if key is None:
                # Imported by a function as it ran (prompt_toolkit for the first prompt), not while
                # a module of this package was being imported.
                key = f"{root.name.split('.')[0]} (imported at run time)"
            entry = per.setdefault(key, [0, {}])
            entry[0] += node.self_us
            if not node.name.startswith(PACKAGE):
                top = node.name.split(".")[0]
                entry[1][top] = entry[1].get(top, 0) + node.self_us
    rows = []
    for module, (us, tops) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        heavy = ", ".join(f"{name} {t / 1000:.0f}" for name, t in
                          sorted(tops.items(), key=lambda kv: -kv[1])[:4] if t >= 1000)
        rows.append([module, f"{us / 1000:.1f}", heavy or "—"])
    return rows, extra_total / 1000


def import_chain(roots: list[Node], target: str) -> str:
    """The chain of imports that first reached ``target``, e.g. 'llm_coding_agent → .agent → rich'."""
    def find(nodes, path):
        for node in nodes:
            if node.name == target:
                return path + [node.name]
            found = find(node.children, path + [node.name])
            if found:
                return found
        return None
    chain = find(roots, []) or []
    # Entry points are loaded with importlib.import_module, which -X importtime does not log:
    # the package __init__ (and plugin.py) sit between llm.cli and the first module it imports.
    for i in range(len(chain) - 1):
        if not chain[i].startswith(PACKAGE) and chain[i + 1].startswith(PACKAGE):
            chain.insert(i + 1, f"[entry point: {PACKAGE}.plugin → {PACKAGE}/__init__.py]")
            break
    return " → ".join(chain)


def importtime(argv, env, cwd, stdin: bytes | None = None) -> list[Node]:
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], env=env, cwd=cwd,
                          input=stdin or b"", capture_output=True, timeout=120)
    return parse_importtime(proc.stderr.decode(errors="replace"))


def importtime_pty(argv, env, cwd: Path, tmp: Path) -> list[Node]:
    """``-X importtime`` of a pty session until its prompt (stderr to a file, the screen to pexpect)."""
    import pexpect

    log_path = tmp / "importtime-pty.txt"
    script = 'exec "$0" -X importtime "$@" 2>"$IMPORTTIME_LOG"'
    child = pexpect.spawn("/bin/sh", ["-c", script, sys.executable, *argv[1:]],
                          env=dict(env, IMPORTTIME_LOG=str(log_path)), cwd=str(cwd), timeout=60,
                          encoding="utf-8", dimensions=(40, 120))
    try:
        child.expect("›")
        child.sendline("!quit")
        child.expect(pexpect.EOF)
    except (pexpect.EOF, pexpect.TIMEOUT):
        return []
    finally:
        child.close(force=True)
    return parse_importtime(log_path.read_text(errors="replace"))


# --------------------------------------------------------------------------------------------


class Measure:
    """One row: how to run it, what it is compared with, its target."""

    def __init__(self, name, run, baseline=BASELINE, target=None, kind="ratio", check=None):
        self.name, self.run, self.baseline, self.target = name, run, baseline, target
        self.kind, self.check = kind, check  # kind: "ratio" (≤ target×) or "seconds" (< target s)
        self.samples: list[Sample] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs per command")
    parser.add_argument("--runs", type=int, help="runs per command (default 25)")
    parser.add_argument("--no-local", action="store_true", help="skip the --local pty row")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 25)
    if importlib.util.find_spec("pexpect") is None:
        log("pexpect is needed for the pty rows: pip install pexpect")
        return 2
    weights, no_local = (None, "--no-local") if args.no_local else local_weights()

    llm = llm_argv()
    tmp = Path(tempfile.mkdtemp(prefix="lca-bench-startup-"))
    started = time.perf_counter()
    header = f"{machine_line()} · {code_version()}"
    try:
        env, project = make_env(tmp)
        plain = dict(env, LLM_LOAD_PLUGINS="")
        only_ours = dict(env, LLM_LOAD_PLUGINS=DIST_NAME)
        code = [*llm, "code", "-m", MODEL_ID, "-d", str(project)]

        def lists_code(sample):
            return " code " in sample.output or "no `code` command in the help"

        def has_header(sample):
            return "llm code ·" in sample.output or "no `llm code ·` header before the prompt"

        rows = [
            Measure(BASELINE, lambda: run_piped([*llm, "--help"], plain, tmp), baseline=None),
            Measure("llm --help, plugin installed", lambda: run_piped([*llm, "--help"], env, tmp),
                    target=TARGET, check=lists_code),
            Measure("llm --help, only this plugin (no entry-point scan)",
                    lambda: run_piped([*llm, "--help"], only_ours, tmp), target=TARGET,
                    check=lists_code),
            Measure("llm code --help", lambda: run_piped([*llm, "code", "--help"], env, tmp),
                    target=TARGET),
            Measure("llm models, no plugin", lambda: run_piped([*llm, "models"], plain, tmp),
                    baseline=None),
            Measure("llm models, plugin installed", lambda: run_piped([*llm, "models"], env, tmp),
                    baseline="llm models, no plugin", target=TARGET,
                    check=lambda s: "code-local" in s.output or "code-local is not listed"),
            Measure("llm code in a pty: until the `›` prompt shows",
                    lambda: run_pty(code, env, project), target=PROMPT_TARGET, kind="seconds",
                    check=has_header),
        ]
        if weights:
            local_env = dict(env, LLM_CODE_LOCAL_MODEL=weights)
            local_code = [*llm, "code", "--local", "-d", str(project)]
            rows.append(Measure("llm code --local in a pty: until the `›` prompt shows",
                                lambda: run_pty(local_code, local_env, project),
                                target=PROMPT_TARGET, kind="seconds", check=has_header))
        rows.append(Measure("llm code (piped `!quit`): until it exits",
                            lambda: run_piped(code, env, project, b"!quit\n"), check=has_header))

        # Sanity: each command runs and shows what it should; a broken one is reported, not timed.
        broken: dict[str, str] = {}
        for row in list(rows):
            sample = row.run()
            problem = sample.error.strip().splitlines()[-1:] if sample.status else []
            problem = problem or ([] if row.check is None or row.check(sample) is True
                                  else [row.check(sample)])
            if problem:
                broken[row.name] = problem[0]
                log(f"{row.name}: FAILED: {problem[0]}\n{sample.error[-1500:]}")
                rows.remove(row)
        if BASELINE in broken:
            raise RuntimeError(f"the baseline does not run: {broken[BASELINE]}")

        for i in range(runs):
            log(f"round {i + 1}/{runs}")
            for row in rows:
                row.samples.append(row.run())

        log("-X importtime ...")
        base_roots = importtime([*llm, "--help"], env, tmp)
        base_names = {n.name for n, _ in walk(base_roots)}
        plain_names = {n.name for n, _ in walk(importtime([*llm, "--help"], plain, tmp))}
        plugin_rows, plugin_extra = attribute(base_roots, plain_names)
        help_rows, help_extra = attribute(importtime([*llm, "code", "--help"], env, tmp),
                                          base_names)
        pty_roots = importtime_pty(code, env, project, tmp)
        pty_rows, pty_extra = attribute(pty_roots, base_names)
        chains = {}
        for mod in ("rich", "prompt_toolkit", "bashlex", "xllamacpp", "llm_coding_agent.local.model",
                    "llm_coding_agent.agent.loop", "llm_coding_agent.safety.rules",
                    "llm_coding_agent.tools.toolbox", "llm_coding_agent.cli.session"):
            chains[mod] = import_chain(base_roots, mod) or import_chain(pty_roots, mod)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    by_name = {row.name: row for row in rows}

    def med(row, attr="wall"):
        values = [getattr(s, attr) for s in row.samples if getattr(s, attr) is not None]
        return median(values) if values else None

    table = []
    for row in rows:
        wall, cpu = med(row), med(row, "cpu")
        base = by_name.get(row.baseline) if row.baseline else None
        ratio = wall / med(base) if base else None
        cpu_ratio = cpu / med(base, "cpu") if base and cpu is not None and row.kind == "ratio" else None
        if row.target is None:
            target, result = ("baseline" if row.baseline is None else "info"), ""
        elif row.kind == "seconds":
            target, result = f"< {row.target * 1000:.0f} ms", "PASS" if wall < row.target else "FAIL"
        else:
            target = f"≤ {row.target}×"
            result = "PASS" if ratio <= row.target else "FAIL"
            result += " / " + ("PASS" if cpu_ratio <= row.target else "FAIL")
        table.append([row.name, f"{1000 * wall:.0f}", f"{1000 * min(s.wall for s in row.samples):.0f}",
                      row.baseline or "—", f"{ratio:.2f}×" if ratio else "—",
                      f"{cpu_ratio:.2f}×" if cpu_ratio else "—", target, result])
        if row.samples[0].exit_wall is not None:
            exit_wall = median(s.exit_wall for s in row.samples)
            table.append([row.name.split(":")[0] + ": until it exits after `!quit`",
                          f"{1000 * exit_wall:.0f}", f"{1000 * min(s.exit_wall for s in row.samples):.0f}",
                          BASELINE, f"{exit_wall / med(by_name[BASELINE]):.2f}×",
                          f"{med(row, 'cpu') / med(by_name[BASELINE], 'cpu'):.2f}×", "info", ""])
    for name, error in broken.items():
        table.append([name, "—", "—", "—", "—", "—", "", f"FAILED to run: `{error[:150]}`"])
    if not weights:
        table.append(["llm code --local in a pty: until the `›` prompt shows", "—", "—", "—", "—",
                      "—", f"< {PROMPT_TARGET * 1000:.0f} ms", f"not run: {no_local}"])

    out = [f"## Start-up{' (--quick)' if args.quick else ''}\n",
           f"{header}\n`{' '.join(Path(a).name for a in llm)}` (the console script run by this "
           f"interpreter, no shim); {runs} runs per command, commands alternating; total benchmark "
           f"time {time.perf_counter() - started:.0f} s.\n",
           md_table(["command", "median ms", "min ms", "compared with (same run)", "ratio (median)",
                     "CPU ratio", "target", "result (wall / CPU)"], table),
           "\nRatios are of median wall time (and of median CPU time, user+system of the process, "
           "which other load on the machine barely changes). \"No plugin\" is `LLM_LOAD_PLUGINS=\"\"`, "
           "which also skips llm's scan of every installed package's entry points; \"only this "
           "plugin\" loads this plugin without that scan, so it is the plugin's own cost. The pty "
           "rows time launch → the `›` prompt drawn by prompt_toolkit (CPU: the whole session "
           "including `!quit`).\n",
           "### Where the extra import time comes from (`python -X importtime`, ms)\n",
           f"Imported by `llm --help` only because the plugin is installed: {plugin_extra:.0f} ms; "
           f"by `llm code --help` beyond `llm --help`: {help_extra:.0f} ms; by `llm code` in a pty "
           f"until its prompt, beyond `llm --help`: {pty_extra:.0f} ms (single runs, self times "
           f"summed; importtime's own overhead inflates them).\n",
           "Loaded by the plugin for **every** `llm` command:\n",
           md_table(["imported by", "ms", "heaviest third-party packages (ms)"], plugin_rows[:10])]
    if pty_rows:
        out += ["\nExtra for `llm code` in a pty until its prompt (beyond `llm --help`):\n",
                md_table(["imported by", "ms", "heaviest third-party packages (ms)"], pty_rows[:12])]
    if help_rows:
        out += ["\nExtra for `llm code --help`:\n",
                md_table(["imported by", "ms", "heaviest third-party packages (ms)"], help_rows[:8])]
    out.append("\nImport chains (first place each is imported):\n")
    out += [f"- `{mod}`: {chain or 'not imported'}" for mod, chain in chains.items()]
    report = "\n".join(out) + "\n"
    print(report, end="")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    saved = results / f"{datetime.datetime.now():%Y%m%d-%H%M%S}-startup.md"
    saved.write_text(report)
    log(f"saved {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
