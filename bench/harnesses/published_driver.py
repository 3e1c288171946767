"""Runs inside the venv holding the published llm-coding-agent==0.1a0.

Drives it through its Python API (CodingAgent), auto-approving every tool call,
and keeps a JSON stats file up to date after every tool call so numbers survive
a kill at the time limit.

    python published_driver.py --workdir DIR --prompt-file F --model ID --stats OUT
"""
import argparse
import json
import sys
import time
import traceback


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--chain-limit", type=int, default=25)
    args = ap.parse_args()

    import llm
    from llm_coding_agent import CodingAgent

    stats = {"tool_calls": 0, "tool_errors": 0, "model_calls": 0, "input_tokens": 0,
             "output_tokens": 0, "status": "running", "tools": []}
    agent = None

    def usage_totals():
        calls = inp = out = 0
        for response in agent.conversation.responses:
            calls += 1
            try:
                u = response.usage()
            except Exception:
                u = None
            if u is not None:
                inp += u.input or 0
                out += u.output or 0
        stats.update(model_calls=calls, input_tokens=inp, output_tokens=out)

    def dump():
        with open(args.stats, "w") as f:
            json.dump(stats, f)

    def on_tool(tool_call, tool_result):
        output = tool_result.output if isinstance(tool_result.output, str) else str(tool_result.output)
        error = bool(getattr(tool_result, "exception", None)) or output.lstrip().startswith("Error")
        stats["tool_calls"] += 1
        stats["tool_errors"] += int(error)
        stats["tools"].append({"name": tool_call.name, "error": error})
        print(f"\n[tool] {tool_call.name}({json.dumps(tool_call.arguments)[:300]}) -> "
              f"{output[:300]!r}", flush=True)
        try:
            usage_totals()
        except Exception:
            pass
        dump()

    prompt = open(args.prompt_file).read()
    start = time.monotonic()
    try:
        agent = CodingAgent(model=llm.get_model(args.model), root=args.workdir, approve=True,
                            chain_limit=args.chain_limit,
                            on_text=lambda chunk: print(chunk, end="", flush=True),
                            on_tool=on_tool)
        result = agent.run(prompt)
        stats["status"] = "limit" if result.hit_limit else "ok"
        stats["final_text"] = result.text[-2000:]
    except Exception as ex:
        traceback.print_exc()
        stats["status"] = "error"
        stats["error"] = f"{type(ex).__name__}: {ex}"[:1000]
    if agent is not None:
        try:
            usage_totals()
        except Exception:
            pass
    stats["seconds"] = round(time.monotonic() - start, 2)
    dump()
    return 0 if stats["status"] != "error" else 1


if __name__ == "__main__":
    sys.exit(main())
