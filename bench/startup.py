#!/usr/bin/env python3
"""Start-up time: ``llm code --help`` and time to the first prompt vs ``llm --help``, same run.

    python bench/startup.py [--quick] [--runs N]

The plugin is installed the way pip would leave it, without touching the environment: a temporary
``*.dist-info`` with the ``llm`` entry point on PYTHONPATH (plus this checkout), so llm's own
plugin loading imports this checkout's ``llm_coding_agent.plugin`` (if the package is also
pip-installed, pluggy registers the entry point once; the checkout comes first on sys.path).
"Plugin not installed" runs set ``LLM_LOAD_PLUGINS=""``, which makes llm load no plugins. ``LLM_USER_PATH`` is a temp
directory whose ``extra-openai-models.yaml`` registers a model at 127.0.0.1:9 (never contacted:
the session quits before any prompt is sent). Commands, all through the same ``llm`` script:

* ``llm --help`` with the plugin installed: the baseline;
* ``llm code --help``;
* ``llm code -m bench-local -d PROJECT`` with stdin ``!quit\\n`` (piped), timed until it exits:
  the time to the first prompt, plus reading one line and exiting;
* the same in a pseudo-terminal (pexpect; prompt_toolkit and rich's terminal path), timed until
  the ``›`` prompt appears (information);
* ``llm --help`` without the plugin (information: what the plugin adds to every llm command).

Runs alternate command by command; median of N (default 25, --quick 5). Then
``python -X importtime`` of ``llm code --help`` and of the piped first prompt attributes the import
time to this package's modules and the third-party modules each one pulls in.
"""
from __future__ import annotations

import argparse
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

TARGET = 1.15
MODEL_ID = "bench-local"
PACKAGE = "llm_coding_agent"


# --------------------------------------------------------------------------------------------
# Environment


def make_env(tmp: Path) -> tuple[dict, dict, Path]:
    """(env with the plugin installed, env without it, project dir)."""
    site = tmp / "site"
    info = site / "llm_coding_agent_bench-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llm-coding-agent-bench\n"
                                   "Version: 0.0\n")
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
    base.update(LLM_USER_PATH=str(user), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    with_plugin = dict(base, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    # LLM_LOAD_PLUGINS="" loads no plugin at all, even if the package is pip-installed.
    without = dict(base, LLM_LOAD_PLUGINS="")
    return with_plugin, without, project


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


def run_piped(argv, env, stdin: bytes | None, cwd: Path
              ) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds, the finished process)."""
    cpu, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, input=stdin if stdin is not None else b"",
                          capture_output=True, timeout=120)
    return time.perf_counter() - start, children_cpu() - cpu, proc


def run_pty(argv, env, cwd: Path) -> tuple[float, float, float]:
    """(seconds until the prompt shows, seconds until exit after `!quit`, CPU seconds)."""
    import pexpect

    cpu, start = children_cpu(), time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(cwd), timeout=60, encoding="utf-8",
                          dimensions=(40, 120))
    child.expect("›")
    prompt = time.perf_counter() - start
    child.sendline("!quit")
    child.expect(pexpect.EOF)
    child.close()  # waits for it, so its CPU time is counted in RUSAGE_CHILDREN
    return prompt, time.perf_counter() - start, children_cpu() - cpu


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


def importtime(argv, env, cwd, stdin: bytes | None) -> list[Node]:
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv[1:]], env=env, cwd=cwd,
                          input=stdin or b"", capture_output=True, timeout=120)
    return parse_importtime(proc.stderr.decode(errors="replace"))


def attribute(roots: list[Node], baseline_names: set[str]) -> tuple[list, float]:
    """Per llm_coding_agent module: the import time of the modules it pulls in that `llm --help`
    does not import anyway (its own body included), and the heaviest of them."""
    per: dict[str, list] = {}
    extra_total = 0.0
    for node, owner in walk(roots):
        if node.name in baseline_names:
            continue
        extra_total += node.self_us
        key = node.name if node.name.startswith(PACKAGE) else owner
        if key is None:
            key = "(not under llm_coding_agent)"
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


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs per command")
    parser.add_argument("--runs", type=int, help="runs per command (default 25)")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 25)
    try:
        import pexpect  # noqa: F401
        have_pty = True
    except ImportError:
        have_pty = False

    llm = llm_argv()
    tmp = Path(tempfile.mkdtemp(prefix="lca-bench-startup-"))
    started = time.perf_counter()
    try:
        env, env_plain, project = make_env(tmp)
        quit_in = b"!quit\n"
        code = [*llm, "code", "-m", MODEL_ID, "-d", str(project)]
        commands = {
            "llm --help": (lambda: run_piped([*llm, "--help"], env, None, tmp)),
            "llm code --help": (lambda: run_piped([*llm, "code", "--help"], env, None, tmp)),
            "llm code (piped `!quit`)": (lambda: run_piped(code, env, quit_in, project)),
            "llm --help, plugin not installed": (
                lambda: run_piped([*llm, "--help"], env_plain, None, tmp)),
        }
        # Sanity: the plugin is loaded, the session starts and quits cleanly. A command that
        # fails is reported (with its error) instead of timed.
        broken: dict[str, str] = {}
        for name, fn in list(commands.items()):
            _, _, proc = fn()
            out = proc.stdout.decode(errors="replace")
            err = proc.stderr.decode(errors="replace").strip()
            if name == "llm --help" and (proc.returncode != 0 or " code " not in out):
                raise RuntimeError(f"the plugin is not loaded: `llm --help` lists no `code`\n{err}")
            if proc.returncode != 0 or (name.startswith("llm code (") and "llm code ·" not in out):
                broken[name] = (err.splitlines() or [f"exit {proc.returncode}"])[-1]
                log(f"{name}: FAILED: {err[-1500:]}")
                del commands[name]
        if "llm code (piped `!quit`)" in broken:
            have_pty = False
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        pty_prompt: list[float] = []
        pty_exit: list[float] = []
        pty_cpu: list[float] = []
        if have_pty:
            run_pty(code, env, project)  # warm-up
        for i in range(runs):
            log(f"round {i + 1}/{runs}")
            for name, fn in commands.items():
                seconds, cpu, _ = fn()
                times[name].append(seconds)
                cpus[name].append(cpu)
            if have_pty:
                p, e, c = run_pty(code, env, project)
                pty_prompt.append(p)
                pty_exit.append(e)
                pty_cpu.append(c)

        log("-X importtime ...")
        base_roots = importtime([*llm, "--help"], env, tmp, None)
        base_names = {n.name for n, _ in walk(base_roots)}
        plain_names = {n.name for n, _ in walk(importtime([*llm, "--help"], env_plain, tmp, None))}
        help_rows, help_extra = attribute(importtime([*llm, "code", "--help"], env, tmp, None),
                                          base_names)
        code_roots = importtime(code, env, project, quit_in) if not broken else []
        code_rows, code_extra = attribute(code_roots, base_names) if code_roots else ([], 0.0)
        plugin_rows, plugin_extra = attribute(base_roots, plain_names)
        chains = {}
        for mod in ("rich", "prompt_toolkit", "bashlex", "pathspec", "llm_coding_agent.agent.loop",
                    "llm_coding_agent.safety.rules", "llm_coding_agent.cli.session"):
            chains[mod] = import_chain(base_roots, mod) or import_chain(code_roots, mod)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    base = median(times["llm --help"])
    base_min = min(times["llm --help"])
    base_cpu = median(cpus["llm --help"])

    def verdict(ratio):
        return "PASS" if ratio <= TARGET else "FAIL"

    rows = []
    for name, values in times.items():
        ratio, cpu_ratio = median(values) / base, median(cpus[name]) / base_cpu
        if name == "llm --help":
            target, result = "baseline", ""
        elif "not installed" in name:
            target, result = "info", ""
        else:
            target, result = f"≤ {TARGET}×", f"{verdict(ratio)} / {verdict(cpu_ratio)}"
        rows.append([name, f"{1000 * median(values):.0f}", f"{1000 * min(values):.0f}",
                     f"{ratio:.2f}×", f"{min(values) / base_min:.2f}×",
                     f"{1000 * median(cpus[name]):.0f}", f"{cpu_ratio:.2f}×", target, result])
    for name, error in broken.items():
        rows.append([name, "—", "—", "—", "—", "—", "—", f"≤ {TARGET}×",
                     f"FAILED to run: `{error[:150]}`"])
    if pty_prompt:
        ratio = median(pty_prompt) / base
        rows.insert(3, ["llm code in a pty: until the `›` prompt shows",
                        f"{1000 * median(pty_prompt):.0f}", f"{1000 * min(pty_prompt):.0f}",
                        f"{ratio:.2f}×", f"{min(pty_prompt) / base_min:.2f}×", "—", "—",
                        f"≤ {TARGET}×", verdict(ratio)])
        rows.insert(4, ["llm code in a pty: until exit after `!quit`",
                        f"{1000 * median(pty_exit):.0f}", f"{1000 * min(pty_exit):.0f}",
                        f"{median(pty_exit) / base:.2f}×", f"{min(pty_exit) / base_min:.2f}×",
                        f"{1000 * median(pty_cpu):.0f}", f"{median(pty_cpu) / base_cpu:.2f}×",
                        "info", ""])

    print(f"## Start-up{' (--quick)' if args.quick else ''}\n")
    print(f"{machine_line()} · {code_version()}\n`{' '.join(Path(a).name for a in llm)}` "
          f"(the console script run by this interpreter, no shim); {runs} runs per command, "
          f"commands alternating; total benchmark time {time.perf_counter() - started:.0f} s.\n")
    print(md_table(["command", "median ms", "min ms", "ratio (median)", "ratio (min)",
                    "median CPU ms", "CPU ratio", "target", "result wall / CPU"], rows))
    print("\nBaseline: `llm --help` with the plugin installed (entry point via a temporary "
          "dist-info). Ratios are against its median wall time (and median CPU time: user+system "
          "of the process, which other load on the machine barely changes). The row \"plugin not "
          "installed\" is `llm --help` with `LLM_LOAD_PLUGINS=\"\"`: 1 ÷ its ratio is what "
          "installing the plugin costs every `llm` command.\n")
    print("### Where the extra import time comes from (`python -X importtime`, ms)\n")
    print(f"Modules imported by `llm code --help` but not by `llm --help`: {help_extra:.0f} ms; "
          f"by the piped first prompt: {code_extra:.0f} ms; imported by `llm --help` only because "
          f"the plugin is installed: {plugin_extra:.0f} ms (single runs, self times summed; "
          f"importtime's own overhead inflates them).\n")
    print("Loaded by the plugin for **every** `llm` command (not imported by plain `llm --help`):\n")
    print(md_table(["imported by", "ms", "heaviest third-party packages (ms)"], plugin_rows[:10]))
    if code_rows:
        print("\nExtra for the piped first prompt of `llm code` (beyond `llm --help` with the "
              "plugin):\n")
        print(md_table(["imported by", "ms", "heaviest third-party packages (ms)"], code_rows[:10]))
    if help_rows:
        print("\nExtra for `llm code --help`:\n")
        print(md_table(["imported by", "ms", "heaviest third-party packages (ms)"], help_rows[:8]))
    else:
        print("\n`llm code --help` imports nothing that `llm --help` does not.")
    print("\nImport chains (first place each is imported):\n")
    for mod, chain in chains.items():
        print(f"- `{mod}`: {chain or 'not imported'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
