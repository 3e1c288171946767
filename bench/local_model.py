#!/usr/bin/env python3
"""The built-in model ``code-local`` (llama.cpp in this process) against the same weights served by
``serve.sh`` (llama.cpp behind HTTP), in one run.

    python bench/local_model.py [--quick] [--runs N] [--templates server|both] [--fill TOKENS]

Needs the serve.sh server running (``serve.sh status``); the weights are its file (or
``$LLM_CODE_LOCAL_MODEL``). Prints Markdown tables, ours and the baseline measured alternately:

* **Throughput**: ``llm.get_model("code-local")`` with ``-o n_ctx 16384 -o threads 2`` and the
  server's chat template, in this process, vs a streamed chat request to the server (plain HTTP).
  The same ~1,500-token prompt (a system prompt, six tool definitions, ~900 tokens of code and a
  request to explain it) and 128 generated tokens, temperature 0. Prompt and generation tokens/s
  are llama.cpp's own ``timings`` (code-local: ``response.response_json["timings"]``; the server:
  its last streamed chunk); first-token latency is the time to the first streamed chunk holding
  text; wall time is request to last chunk. Every run's prompt starts with a different run number,
  so neither prompt cache can reuse it (the tables show the tokens each side evaluated and took
  from its cache). Target: code-local within 5 % of the server's tokens/s.
* **Load time**: a fresh process from spawn to the first streamed token of a short prompt
  (``import llm`` + plugin + model load + the prompt), vs a fresh process that loads the same
  weights with bare ``xllamacpp`` and serve.py's settings and streams the same prompt.
* **Memory**: peak RSS (VmHWM) of a fresh process with n_ctx 16384 after a ~12,000-token prompt
  (``--fill``), code-local vs bare ``xllamacpp``; target < 2 GB. Also (information) bare
  ``xllamacpp`` with ``no_extra_bufts`` (no repacked copy of the weights), and the server
  process's memory from /proc (VmHWM is its lifetime peak).

``--templates server`` (default) uses the chat template the server runs (read from its command
line); ``--templates both`` also measures the other one, restarting the server with
``LOCALMODEL_TEMPLATE`` for it and restoring its mode afterwards (refused while another client is
connected to the server). Runs: median of 5 (``--quick``: 1 run, a 3,000-token fill, ~2-3 min).
The machine's cores are shared by both sides: before every measured run the benchmark waits
while another process with a GGUF file mapped (another model, or the server answering someone
else) uses the CPU (the time waited is in the header); other load, such as a test suite, is not
waited for: see the load averages.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, code_version, log, machine_line, md_table, median, repo_env  # noqa: E402

SPEED_TARGET = 0.95          # code-local tokens/s ≥ 95 % of the server's
RSS_TARGET_GB = 2.0
N_CTX = 16_384
THREADS = 2
MAX_TOKENS = 128
PROMPT_TOKENS = 1_500        # the whole throughput prompt, tools and template included
SERVE_SH = Path(os.environ.get("LOCALMODEL_SERVE_SH", REPO.parent / "shared" / "localmodel" / "serve.sh"))
WAITED = [0]                 # seconds spent waiting for other model workloads
RUN_ID = f"{time.time_ns() % 10**9:09d}"  # in every prompt: no cache has seen one before
SERVER_HOME = Path(os.environ.get("LOCALMODEL_HOME", Path.home() / ".cache" / "llm-code-localmodel"))
WEIGHTS_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
JSONFENCE = REPO / "llm_coding_agent" / "local" / "templates" / "qwen2.5-coder-jsonfence.jinja"

SYSTEM = ("Run {run}. You are a senior engineer who explains code to new colleagues. Answer in "
          "plain prose; do not call any tool.")
REQUEST = ("Explain the module above function by function: for each one say what it computes, "
           "which inputs it expects, and one way it could fail. Be thorough.")
TOOLS = [
    ("read_file", "Read a text file of the project, with line numbers.",
     {"path": "string", "offset": "integer", "limit": "integer"}, ["path"]),
    ("write_file", "Create or overwrite a file with the given content.",
     {"path": "string", "content": "string"}, ["path", "content"]),
    ("edit_file", "Replace old_string by new_string in a file; old_string must occur once.",
     {"path": "string", "old_string": "string", "new_string": "string"},
     ["path", "old_string", "new_string"]),
    ("execute_command", "Run a shell command in the project directory and return its output.",
     {"command": "string", "timeout": "integer"}, ["command"]),
    ("search_files", "Search file contents for a regular expression, like ripgrep.",
     {"pattern": "string", "path": "string", "glob": "string"}, ["pattern"]),
    ("list_files", "List the project's files, skipping ignored ones.",
     {"path": "string", "pattern": "string"}, []),
]


def tool_schemas() -> list[dict]:
    return [{"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "required": required,
                       "properties": {k: {"type": t} for k, t in props.items()}}}}
            for name, description, props, required in TOOLS]


def synthetic_code(functions: int, seed: int = 20261205) -> str:
    """Deterministic Python source, about 60 tokens per function."""
    rng = random.Random(seed)
    words = ("total count index value result factor weight limit offset batch price score "
             "order item queue node cache token").split()
    out = ['"""Helpers for the order pipeline."""', "import math", ""]
    for i in range(functions):
        a, b, c = rng.sample(words, 3)
        out += [f"def {a}_{b}_{i}({c}s, factor={i % 7 + 1}):",
                f'    """Return the {a} of {c}s scaled by factor."""',
                f"    {a} = {rng.randint(0, 9)}",
                f"    for index, {c} in enumerate({c}s):",
                f"        if {c} % {i % 5 + 2} == 0:",
                f"            {a} += {c} * factor",
                "        else:",
                f"            {a} -= math.floor(index / {rng.randint(2, 9)})",
                f"    return {a}", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# The server


def server_status() -> str:
    """The server's api_base (http://127.0.0.1:PORT/v1); raises if it is not running."""
    proc = subprocess.run(["bash", str(SERVE_SH), "status"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the serve.sh server is not running: start it with `bash {SERVE_SH} start`")
    return proc.stdout.strip()


def server_pid() -> int:
    return int((SERVER_HOME / "server.pid").read_text().strip())


def server_template() -> str:
    """jsonfence when serve.py was started with a template file argument, else native."""
    argv = Path(f"/proc/{server_pid()}/cmdline").read_bytes().split(b"\0")
    extra = [a for a in argv[5:] if a]
    return "jsonfence" if extra and b"jsonfence" in extra[0] else "native"


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon and RssFile (the mapped weights) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def cpu_ticks(pid: str) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def other_model_work(sample: float = 1.0) -> list[str]:
    """Other processes with a GGUF file mapped (a model loaded, the server included) that are
    using the CPU: an idle ``llm code`` session or an idle server does not count."""
    loaded = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == str(os.getpid()):
            continue
        try:
            if ".gguf" in (entry / "maps").read_text(errors="replace"):
                loaded.append((entry.name, cpu_ticks(entry.name)))
        except (OSError, IndexError, ValueError):
            continue
    time.sleep(sample)
    busy = []
    for pid, before in loaded:
        try:
            share = (cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK") / sample
        except (OSError, IndexError, ValueError):
            continue
        if share > 0.2:
            what = "the server" if pid == str(server_pid()) else f"pid {pid}"
            busy.append(f"{what} is running a model ({share:.0%} CPU)")
    return busy


def wait_until_alone(waited: list, limit: float = 1800) -> None:
    """Wait while another model workload runs on this machine (it would share our cores)."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        busy = other_model_work()
        if not busy:
            return
        if round(time.perf_counter() - start) % 60 < 5:
            log(f"waiting for other model work to finish: {busy[0]}")
        time.sleep(5)
        waited[0] += 5


def tokenize_count(api_base: str, text: str) -> int:
    parts = urlsplit(api_base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("POST", "/tokenize", body=json.dumps({"content": text}),
                 headers={"Content-Type": "application/json"})
    return len(json.loads(conn.getresponse().read())["tokens"])


def sized_code(api_base: str, tokens: int) -> str:
    """Synthetic code of about ``tokens`` tokens (counted by the server's tokenizer)."""
    functions = max(1, tokens // 60)
    for _ in range(3):
        counted = tokenize_count(api_base, synthetic_code(functions))
        functions = max(1, round(functions * tokens / counted))
    return synthetic_code(functions)


def other_clients(port: int) -> list[str]:
    """Established connections to the server from processes other than this one."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"pid={os.getpid()}," not in line]


def restart_server(template: str) -> str:
    log(f"restarting the server with LOCALMODEL_TEMPLATE={template}")
    subprocess.run(["bash", str(SERVE_SH), "stop"], check=True)
    time.sleep(2)
    proc = subprocess.run(["bash", str(SERVE_SH), "start"], capture_output=True, text=True,
                          env=dict(os.environ, LOCALMODEL_TEMPLATE=template))
    if proc.returncode != 0:
        raise RuntimeError(f"serve.sh start failed: {proc.stderr[-500:]}")
    return proc.stdout.strip().splitlines()[-1]


def stream_server(api_base: str, messages: list, tools: list | None, max_tokens: int) -> dict:
    """One streamed chat completion: first-content and total seconds, llama.cpp's timings."""
    parts = urlsplit(api_base)
    body = {"model": "qwen", "messages": messages, "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    if tools:
        body["tools"] = tools
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1800)
    start = time.perf_counter()
    conn.request("POST", parts.path.rstrip("/") + "/chat/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    first, timings, text, buffer = None, None, [], b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            line = line.strip()
            if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
                continue
            event = json.loads(line[5:])
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("tool_calls"):
                    first = first or time.perf_counter()
                    text.append(delta.get("content") or "")
            timings = event.get("timings") or timings
    wall = time.perf_counter() - start
    conn.close()
    if timings is None:
        raise RuntimeError(f"the server answered {resp.status} without timings")
    return {"first": (first or time.perf_counter()) - start, "wall": wall, "timings": timings,
            "text": "".join(text)}


# --------------------------------------------------------------------------------------------
# code-local in this process


def local_options(template: str) -> dict:
    return {"n_ctx": N_CTX, "threads": THREADS, "chat_template": template}


def llm_tools() -> list:
    import llm

    return [llm.Tool(name=s["function"]["name"], description=s["function"]["description"],
                     input_schema=s["function"]["parameters"], implementation=lambda **kw: "")
            for s in tool_schemas()]


def stream_local(model, template: str, system: str, user: str, tools: list | None,
                 max_tokens: int) -> dict:
    start = time.perf_counter()
    response = model.prompt(user, system=system, tools=tools, temperature=0,
                            max_tokens=max_tokens, **local_options(template))
    first, text = None, []
    for chunk in response:
        if chunk:
            first = first or time.perf_counter()
            text.append(chunk)
    wall = time.perf_counter() - start
    timings = (response.response_json or {}).get("timings")
    if timings is None:
        raise RuntimeError("code-local returned no timings")
    return {"first": (first or time.perf_counter()) - start, "wall": wall, "timings": timings,
            "text": "".join(text)}


def throughput(model, api_base: str, template: str, code: str, runs: int, counter: list) -> dict:
    """Alternating code-local / server runs; each pair's prompt starts with a new run number."""
    tools_json, tools_llm = tool_schemas(), llm_tools()
    # Warm-up: a short prompt loads code-local's model and wakes the server.
    warm = SYSTEM.format(run=f"warm-up {RUN_ID}")
    stream_local(model, template, warm, "Say hi.", None, 4)
    stream_server(api_base, [{"role": "system", "content": warm},
                             {"role": "user", "content": "Say hi."}], None, 4)
    results: dict[str, list] = {"ours": [], "server": []}
    for i in range(runs):
        # One new prompt per pair: each side has its own cache, and both answering the same
        # prompt lets their texts be compared. RUN_ID: the server keeps old prompts in RAM.
        counter[0] += 1
        system = SYSTEM.format(run=f"{counter[0]} of session {RUN_ID}")
        user = f"```python\n{code}\n```\n\n{REQUEST}"
        for side in ("ours", "server"):
            log(f"  [{template}] run {i + 1}/{runs}: {side}")
            wait_until_alone(WAITED)
            if side == "ours":
                r = stream_local(model, template, system, user, tools_llm, MAX_TOKENS)
            else:
                r = stream_server(api_base, [{"role": "system", "content": system},
                                             {"role": "user", "content": user}],
                                  tools_json, MAX_TOKENS)
            results[side].append(r)
    return results


# --------------------------------------------------------------------------------------------
# Fresh processes (this script with --child)


def child(kind: str, template: str, weights: str, prompt_file: str, max_tokens: int) -> None:
    """Run in a fresh process; prints one JSON line (times are time.time(), for the parent)."""
    marks = {}
    user = Path(prompt_file).read_text()
    system = SYSTEM.format(run=f"fresh-{time.time_ns()}")
    if kind == "ours":
        import llm

        model = llm.get_model("code-local")
        marks["imported"] = time.time()
        response = model.prompt(user, system=system, temperature=0, max_tokens=max_tokens,
                                model_path=weights, **local_options(template))
        for chunk in response:
            if chunk and "first" not in marks:
                marks["first"] = time.time()
        timings = (response.response_json or {}).get("timings") or {}
    else:
        import xllamacpp  # serve.py's settings, bare: no llm, no plugin

        marks["imported"] = time.time()
        params = xllamacpp.CommonParams()
        params.model.path, params.port, params.n_ctx = weights, 0, N_CTX
        params.hostnames = ["127.0.0.1"]
        params.use_jinja, params.n_parallel, params.cache_prompt = True, 1, True
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = THREADS
        params.sampling.temp = 0.0
        params.verbosity = -1
        params.warmup = False  # as code-local's runtime (serve.py keeps llama.cpp's warm-up run)
        # bare-norepack: weights used from the mapped file, not also copied into llama.cpp's
        # repacked CPU layout (the copy is ~0.6 GB of anonymous memory)
        params.no_extra_bufts = kind == "bare-norepack"
        if template == "jsonfence":
            params.chat_template = JSONFENCE.read_text()
        server = xllamacpp.Server(params)
        last: dict = {}

        def on_chunk(chunk: dict) -> bool:
            for choice in chunk.get("choices") or []:
                if (choice.get("delta") or {}).get("content") and "first" not in marks:
                    marks["first"] = time.time()
            last.update(chunk)
            return False

        server.handle_chat_completions({"messages": [{"role": "system", "content": system},
                                                     {"role": "user", "content": user}],
                                        "max_tokens": max_tokens, "temperature": 0,
                                        "stream": True}, on_chunk)
        timings = last.get("timings") or {}
    marks["done"] = time.time()
    print(json.dumps({"marks": marks, "timings": timings, **proc_status()}))


def run_child(kind: str, template: str, weights: str, prompt_file: Path, max_tokens: int) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--template", template,
            "--weights", weights, "--prompt-file", str(prompt_file), "--max-tokens", str(max_tokens)]
    spawned = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600,
                          env=repo_env(LLM_CODE_LOCAL_MODEL=weights, LLM_CODE_LOCAL_FETCH="0"))
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["spawned"] = spawned
    return out


# --------------------------------------------------------------------------------------------
# Report


def pct(ours: float, base: float) -> str:
    return f"{ours / base:.3f}×" if base else "—"


def throughput_table(results: dict) -> str:
    ours, base = results["ours"], results["server"]

    def med(rs, key):
        return median(r["timings"][key] for r in rs)

    rows = []
    for label, key in (("prompt tokens/s", "prompt_per_second"),
                       ("generation tokens/s", "predicted_per_second")):
        o, b = med(ours, key), med(base, key)
        rows.append([label, f"{o:.1f}", f"{b:.1f}", pct(o, b), f"≥ {SPEED_TARGET:.2f}×",
                     "PASS" if o >= SPEED_TARGET * b else "FAIL"])
    for label, key in (("first-token latency (s)", "first"), ("end-to-end wall time (s)", "wall")):
        o, b = median(r[key] for r in ours), median(r[key] for r in base)
        rows.append([label, f"{o:.2f}", f"{b:.2f}", pct(o, b), "info", ""])

    def span(rs, key):
        values = sorted(int(r["timings"].get(key, 0)) for r in rs)
        return str(values[0]) if values[0] == values[-1] else f"{values[0]}–{values[-1]}"

    for label, key in (("prompt tokens evaluated", "prompt_n"), ("prompt tokens from cache", "cache_n"),
                       ("tokens generated", "predicted_n")):
        rows.append([label, span(ours, key), span(base, key), "", "info", ""])
    same = sum(o["text"] == b["text"] for o, b in zip(ours, base))
    rows.append(["same generated text as the server", f"{same}/{len(ours)} runs", "", "", "info", ""])
    return md_table(["measure (median)", "code-local in-process", "serve.sh (HTTP)", "ratio",
                     "target", "result"], rows)


def gb(kib: float) -> str:
    return f"{kib / 1024 / 1024:.2f}"


def load_rows(loads: dict) -> list[list[str]]:
    def span(r, start, end):
        return r["marks"][end] - (r["spawned"] if start == "spawned" else r["marks"][start])

    rows = []
    for label, start, end in (("spawn → first token (s)", "spawned", "first"),
                              ("spawn → imports done (s)", "spawned", "imported"),
                              ("imports done → first token: load + short prompt (s)", "imported",
                               "first")):
        o = median(span(r, start, end) for r in loads["ours"])
        b = median(span(r, start, end) for r in loads["bare"])
        rows.append([label, f"{o:.2f}", f"{b:.2f}", pct(o, b), "info", ""])
    return rows


def memory_rows(memory: dict) -> list[list[str]]:
    ours, bare, norepack = memory["ours"], memory["bare"], memory["bare-norepack"]
    rows = [["prompt tokens evaluated", *(str(m["timings"].get("prompt_n", "?"))
                                          for m in (ours, bare, norepack)), "", "info", ""]]
    hwm = ours["VmHWM"]
    rows.append(["peak RSS (VmHWM, GB)", gb(hwm), gb(bare["VmHWM"]), gb(norepack["VmHWM"]),
                 pct(hwm, bare["VmHWM"]), f"< {RSS_TARGET_GB:.0f} GB",
                 "PASS" if hwm / 1024 / 1024 < RSS_TARGET_GB else "FAIL"])
    for label, key in (("of which anonymous (RssAnon at exit, GB)", "RssAnon"),
                       ("of which the mapped weights file (RssFile at exit, GB)", "RssFile")):
        rows.append([label, gb(ours[key]), gb(bare[key]), gb(norepack[key]),
                     pct(ours[key], bare[key]), "info", ""])
    rows.append(["prompt tokens/s of the fill (one run)",
                 *(f"{m['timings'].get('prompt_per_second', 0):.1f}" for m in (ours, bare, norepack)),
                 "", "info", ""])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run, a 3,000-token fill")
    parser.add_argument("--runs", type=int, help="throughput runs per side (default 5)")
    parser.add_argument("--load-runs", type=int, help="fresh-process loads per side (default 3)")
    parser.add_argument("--fill", type=int, help="tokens of context for the memory test (12,000)")
    parser.add_argument("--templates", choices=["server", "both"], default="server")
    parser.add_argument("--child", choices=["ours", "bare", "bare-norepack"], help=argparse.SUPPRESS)
    parser.add_argument("--template", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--prompt-file", help=argparse.SUPPRESS)
    parser.add_argument("--max-tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.template, args.weights, args.prompt_file, args.max_tokens)
        return 0
    runs = args.runs or (1 if args.quick else 5)
    load_runs = args.load_runs or (1 if args.quick else 3)
    fill = args.fill or (3_000 if args.quick else 12_000)
    weights = os.environ.get("LLM_CODE_LOCAL_MODEL") or str(SERVER_HOME / WEIGHTS_NAME)
    if not Path(weights).is_file():
        raise SystemExit(f"no weights at {weights}: set LLM_CODE_LOCAL_MODEL or run serve.sh start")
    os.environ["LLM_CODE_LOCAL_MODEL"] = weights
    os.environ["LLM_CODE_LOCAL_FETCH"] = "0"
    sys.path.insert(0, str(REPO))  # this checkout's plugin, even if another copy is installed

    import llm

    api_base = server_status()
    port = urlsplit(api_base).port
    original = server_template()
    templates = [original] + ([t for t in ("native", "jsonfence") if t != original]
                              if args.templates == "both" else [])
    started = time.perf_counter()
    header = f"{machine_line()} · {code_version()}"
    wait_until_alone(WAITED)
    model = llm.get_model("code-local")
    code = sized_code(api_base, PROMPT_TOKENS - 600)  # ~600 tokens of template, tools, request
    counter = [0]
    sections, server_rss = [], {"start": proc_status(server_pid())}
    try:
        for template in templates:
            if template != server_template():
                busy = other_clients(port)
                if busy:
                    log(f"not switching the server to {template}: other clients connected:\n"
                        + "\n".join(busy))
                    sections.append((template, None))
                    continue
                api_base = restart_server(template)
            log(f"throughput, {template} template ...")
            sections.append((template, throughput(model, api_base, template, code, runs, counter)))
        server_rss["after throughput"] = proc_status(server_pid())
    finally:
        if server_template() != original:
            api_base = restart_server(original)
    del model  # the fresh processes below have the cores and memory to themselves
    from llm_coding_agent.local import runtime as local_runtime

    local_runtime._loaded.clear()

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"lca-bench-local-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    short = tmp / "short.txt"
    short.write_text("Write a Python function that adds two numbers.")
    filled = tmp / "fill.txt"
    filled.write_text(f"```python\n{sized_code(api_base, fill)}\n```\n\nSummarise this module.")
    loads: dict[str, list] = {"ours": [], "bare": []}
    for i in range(load_runs):
        for kind in ("ours", "bare"):
            log(f"load {i + 1}/{load_runs}: {kind}")
            wait_until_alone(WAITED)
            loads[kind].append(run_child(kind, original, weights, short, 8))
    memory = {}
    for kind in ("ours", "bare", "bare-norepack"):
        log(f"memory: ~{fill:,} tokens of context: {kind}")
        wait_until_alone(WAITED)
        memory[kind] = run_child(kind, original, weights, filled, 16)
    server_rss["end"] = proc_status(server_pid())
    for f in (short, filled):
        f.unlink()
    tmp.rmdir()

    mode = " (--quick)" if args.quick else ""
    print(f"## code-local in-process vs serve.sh{mode}\n")
    print(f"{header}\nWeights `{weights}`; n_ctx {N_CTX}, {THREADS} threads, temperature 0 on both "
          f"sides; the server ran the `{original}` template. {runs} throughput run(s) per side and "
          f"template, alternating; {load_runs} load(s) per side; total benchmark time "
          f"{time.perf_counter() - started:.0f} s, of which {WAITED[0]} s waiting for other model "
          f"processes to finish; load avg at the end {os.getloadavg()[0]:.1f}.\n")
    for template, results in sections:
        print(f"### Throughput, `{template}` chat template (code-local `-o chat_template "
              f"{template}`, server `LOCALMODEL_TEMPLATE={template}`)\n")
        if results is None:
            print("Not measured: another client was using the server, so it was not restarted.\n")
            continue
        print(throughput_table(results) + "\n")
    print("Prompt: a system prompt opening with the run number, six tool definitions, "
          f"~{PROMPT_TOKENS - 600} tokens of Python and a request to explain it; {MAX_TOKENS} "
          "tokens generated (max_tokens). Tokens/s are llama.cpp's own timings; first-token "
          "latency is the time to the first streamed chunk holding text (code-local: the first "
          "chunk of the llm Response; the server: the first SSE chunk with content).\n")
    print("### Load time (fresh processes)\n")
    print(md_table(["measure (median)", "code-local (llm + plugin)", "bare xllamacpp", "ratio",
                    "target", "result"], load_rows(loads)))
    print("\nBare xllamacpp: `xllamacpp.Server` with serve.py's settings (n_ctx, threads, "
          "template, temperature) and, like code-local, no warm-up run, streaming through "
          "`handle_chat_completions`: the same load without llm and the plugin. Short prompt: "
          "one sentence, 8 tokens generated.\n")
    print(f"### Memory: a fresh process after ~{fill:,} tokens of context (n_ctx {N_CTX})\n")
    print(md_table(["measure", "code-local (llm + plugin)", "bare xllamacpp",
                    "bare, no_extra_bufts", "ratio code-local / bare", "target", "result"],
                   memory_rows(memory)))
    print("\nOne prompt of code, 16 tokens generated, then the process's own /proc/self/status. "
          "`no_extra_bufts`: llama.cpp does not copy the weights into its repacked CPU layout "
          "(they are used from the mapped file only). The mapped weights (RssFile) are page "
          "cache, shared with every process mapping the same file (the server too).\n")
    print("serve.sh's server process (pid from server.pid; VmHWM is its lifetime peak):\n")
    print(md_table(["when", "VmRSS (GB)", "VmHWM (GB)", "RssAnon (GB)", "RssFile (GB)"],
                   [[when, gb(st["VmRSS"]), gb(st["VmHWM"]), gb(st["RssAnon"]), gb(st["RssFile"])]
                    for when, st in server_rss.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
