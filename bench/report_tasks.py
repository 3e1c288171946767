"""Markdown tables from saved task-suite results (`bench/run_tasks.py` JSON files).

    python bench/report_tasks.py RESULTS.json [LABEL=]RESULTS.json[,MORE.json] ...

Each harness in each file becomes one column, named LABEL (or the harness, with the file's
``--ours-args`` when given); columns appear in the order given, so "before" then "after" reads
left to right; files joined with ``,`` are one run (split in parts, or tasks run again). Prints a per-task table (solved / seconds / tokens in+out / how it ended) and a
totals table, including input tokens per solved task (all input tokens sent, failed tasks
included, divided by the tasks solved) and automatic compactions (ours only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_tasks import totals_for  # noqa: E402


def load(paths: str) -> dict:
    """One results file, or several joined with ``,`` read as one run: their results together,
    a later file's record of a (harness, task) replacing an earlier one (a run split in parts,
    or a task run again), in the task order of the first file that has each task."""
    reports = [json.loads(Path(p).read_text()) for p in paths.split(",")]
    merged = dict(reports[0], args=dict(reports[0]["args"]))
    harnesses, records = [], {}
    for report in reports:
        harnesses += [h for h in report["args"]["harnesses"] if h not in harnesses]
        for record in report["results"]:
            records.pop((record["harness"], record["task"]), None)
            records[(record["harness"], record["task"])] = record
    merged["args"]["harnesses"] = harnesses
    merged["results"] = list(records.values())
    return merged


def columns(specs: list[str]) -> list[tuple[str, str, list[dict], dict]]:
    """(label, harness, records, report) for every harness in every file given."""
    out = []
    for spec in specs:
        label, _, path = spec.rpartition("=") if "=" in spec and not Path(spec).exists() else ("", "", spec)
        report = load(path)
        extra = (report.get("args") or {}).get("ours_args") or ""
        harnesses = report["args"]["harnesses"]
        for harness in harnesses:
            name = f"{harness} {extra}".strip() if harness == "ours" else harness
            if label:
                name = f"{label}: {harness}" if len(harnesses) > 1 else label
            records = [r for r in report["results"] if r["harness"] == harness]
            out.append((name, harness, records, report))
    return out


def ended(record: dict) -> str:
    if record["solved"]:
        return "solved"
    status = record["status"]
    return {"ok": "answered", "timeout": "time limit", "limit": "step limit"}.get(status, status.replace("_", " "))


def cell(record: dict | None) -> str:
    if record is None:
        return "—"
    tokens = (record.get("input_tokens") or 0) + (record.get("output_tokens") or 0)
    mark = "**yes**" if record["solved"] else "no"
    return f"{mark} · {record['seconds']:.0f} s · {tokens / 1000:.1f}k · {ended(record)}"


def well_formed(totals: dict) -> str:
    """Calls that arrived as real tool calls, of the calls whose form is known (not every harness
    reports it: a "—" means none of its runs did)."""
    if not totals["tool_calls_split"]:
        return "—"
    return f"{totals['well_formed_calls']}/{totals['tool_calls_split']}"


def table(heads: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(heads, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in rows])


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 0 if argv else 2
    missing = [part for a in argv if not Path(a).exists() for part in a.rpartition("=")[2].split(",")
               if not Path(part).exists()]
    if missing:
        print(f"Error: no such results file: {missing[0]}", file=sys.stderr)
        return 2
    cols = columns(argv)
    tasks = sorted({r["task"] for _, _, records, _ in cols for r in records})
    heads = ["task"] + [name for name, *_ in cols]
    rows = []
    for task in tasks:
        row = [task]
        for _, _, records, _ in cols:
            row.append(cell(next((r for r in records if r["task"] == task), None)))
        rows.append(row)
    print("Per task: solved · wall seconds · tokens in+out · how the run ended\n")
    print(table(heads, rows))
    total_heads = ["", "solved", "seconds", "model calls", "tokens in", "tokens out", "tool errors",
                   "time limits", "well-formed calls", "input tokens per solved task", "compactions"]
    total_rows = []
    for name, harness, records, _ in cols:
        t = totals_for(records, harness)
        per_solved = f"{t['input_tokens_per_solved']:,}" if t["input_tokens_per_solved"] else "— (none solved)"
        total_rows.append([name, f"{t['solved']}/{t['tasks']}", f"{t['seconds']:,.0f}", t["model_calls"],
                           f"{t['input_tokens']:,}", f"{t['output_tokens']:,}", t["tool_errors"],
                           t["timeouts"], well_formed(t), per_solved, t["compactions"] if harness == "ours" else "—"])
    print("\nTotals\n")
    print(table(total_heads, total_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
