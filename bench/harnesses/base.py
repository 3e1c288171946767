"""Shared pieces for harness adapters: run records, process-tree control, venvs."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
# shared/ sits beside the checkout (here and in CI's fresh clone).
SERVE_SH = Path(os.environ.get("LOCALMODEL_SERVE_SH", REPO_ROOT.parent / "shared" / "localmodel" / "serve.sh"))


class HarnessUnavailable(Exception):
    """The harness cannot run at all (package missing, CLI absent, ...)."""


@dataclass
class RunContext:
    model: str                 # llm model id, e.g. local-qwen
    api_base: str | None       # the (metered) OpenAI-compatible endpoint the agents use;
                               # None for an in-process model (code-local): no server, no proxy
    llm_config_dir: Path       # holds extra-openai-models.yaml registering `model` at api_base
                               # (empty for an in-process model)
    upstream_model_name: str   # model name the server expects (from the yaml), e.g. qwen
    max_steps: int = 25        # tool-loop bound given to harnesses that take one
    mini_mode: str = "text"    # mini-swe-agent: "text" (fenced bash blocks) or "toolcall"
    # Extra environment for the agent process, e.g. LLM_CODE_LOCAL_MODEL for code-local
    # (base_env drops every LLM_* variable of ours).
    env: dict = field(default_factory=dict)


@dataclass
class AgentRun:
    """What a harness reports about one agent run (before the check)."""
    status: str = "ok"          # ok | timeout | limit | error | crashed
    exit_code: int | None = None
    model_calls: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: int | None = None
    tool_errors: int | None = None
    # Of tool_calls, those the agent recovered from text the model wrote (a fenced JSON block,
    # <tool_call> tags) instead of a real tool call; None when the harness cannot tell.
    text_tool_calls: int | None = None
    detail: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)


class Harness:
    name = "base"
    description = ""

    def setup(self, ctx: RunContext) -> None:
        """Prepare once per benchmark run; raise HarnessUnavailable if it cannot run."""

    def run(self, prompt: str, workdir: Path, time_limit: float, ctx: RunContext,
            log_dir: Path) -> AgentRun:
        raise NotImplementedError


# ---------------------------------------------------------------- processes
def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces/parens
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (including ones that started new sessions)."""
    children = _children_map()
    tree, stack = [], [pid]
    while stack:
        p = stack.pop()
        tree.append(p)
        stack.extend(children.get(p, []))
    return tree


def kill_tree(proc: subprocess.Popen, grace: float = 3.0):
    """Terminate a process started with start_new_session=True and every descendant."""
    pids = process_tree(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        try:
            proc.wait(timeout=grace)
            if sig == signal.SIGTERM:
                # the leader is gone; make sure stragglers are too
                pids = [p for p in pids if _alive(p)]
                if not pids:
                    return
        except subprocess.TimeoutExpired:
            pids = process_tree(proc.pid) + [p for p in pids if _alive(p)]


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def run_process(cmd, *, cwd, env, timeout: float, stdout_path: Path, stderr_path: Path):
    """Run cmd with stdin closed, output to files, a wall-clock limit, and the whole
    process tree killed on timeout. Returns (returncode, timed_out, seconds)."""
    start = time.monotonic()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_tree(proc)
        except BaseException:
            kill_tree(proc)
            raise
        # descendants left running after the leader exited (e.g. a background server)
        for pid in process_tree(proc.pid)[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return proc.returncode, timed_out, time.monotonic() - start


# ---------------------------------------------------------------- venvs
def ensure_venv(name: str, requirements: list[str], pip_args=(), log=print) -> Path:
    """A cached venv under bench/.venvs/<name> with `requirements` installed.
    Returns its python. Rebuilt when the requirement list changes.
    Raises HarnessUnavailable if the packages cannot be installed."""
    venv = VENVS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / ".bench-requirements"
    wanted = hashlib.sha256("\n".join([*requirements, *pip_args]).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"[{name}] creating venv {venv} with {' '.join(requirements)} (one-time, cached)")
    if venv.exists():
        shutil.rmtree(venv)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *pip_args, *requirements],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join(l for l in (proc.stderr or proc.stdout).splitlines()
                         if "is ignored: it is neither" not in l)[-1500:]
        shutil.rmtree(venv, ignore_errors=True)
        raise HarnessUnavailable(f"pip install {' '.join(requirements)} failed: {tail.strip()}")
    stamp.write_text(wanted)
    return python


def llm_user_dir(ctx: RunContext, dest: Path) -> Path:
    """A fresh LLM_USER_PATH holding only the model registration."""
    dest.mkdir(parents=True, exist_ok=True)
    registration = ctx.llm_config_dir / "extra-openai-models.yaml"
    if registration.exists():  # an in-process model (code-local) needs none
        shutil.copy(registration, dest)
    return dest


def base_env(**extra) -> dict:
    """Environment for agent subprocesses: inherited, minus things that would let a
    harness reach another model or pick up our own test settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLM_", "OPENAI_", "PYTEST_", "MSWEA_", "LITELLM_"))
           and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1", "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat"})
    env.update({k: str(v) for k, v in extra.items()})
    return env
