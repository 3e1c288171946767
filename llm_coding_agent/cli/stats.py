"""``llm code stats``: task metrics from llm's logs, per project and overall, as a table or JSON.

The numbers and how they are found are described in :mod:`.metrics`. ``llm code`` hands its
arguments here when the first one is exactly ``stats`` (see :class:`~.command.CodeCommand`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["stats_command", "cost_text"]


def cost_text(cost: float | None) -> str:
    """``$0.0123``, or ``unknown`` (never an estimate)."""
    return "unknown" if cost is None else f"${cost:,.4f}"


@click.command(name="stats")
@click.option("--since", metavar="DATE", help="Only tasks started on or after DATE (YYYY-MM-DD, local time, or ISO)")
@click.option("-d", "--directory", metavar="DIR", help="Only the project in DIR")
@click.option("--json", "json_output", is_flag=True, help="Print JSON (for scripts) instead of a table")
def stats_command(since, directory, json_output):
    """Task metrics of your llm code sessions, from llm's logs: per project and overall.

    \b
    tasks      requests you gave (one per message, -p task or first prompt)
    tests      tasks whose last test command (pytest, npm test, go test, ...) passed / failed;
               untested: tasks that ran none
    plans      plan mode: approved first time / after revisions / never approved
    reviews    reviewer verdicts: approved on its own / approvals you declined or edited / all
    tokens     per task, input and output (the reviewer's tokens are counted apart)
    cost       from "prices" in your settings file (USD per 1M tokens by model id);
               unknown when a model has no price

    To give llm code the task "stats", write `llm code -- stats` or `llm code -p stats`.
    """
    from llm.cli import logs_db_path

    from ..safety.settings import SettingsError, read_user_settings
    from .metrics import parse_since, read_reviews, read_tasks, summarize

    try:
        since_at = parse_since(since) if since else None
    except ValueError:
        raise click.BadParameter(f"{since!r} is not a date (YYYY-MM-DD) or ISO date-time", param_hint="--since")
    root = str(Path(directory).expanduser().resolve()) if directory else None
    try:
        prices = read_user_settings().get("prices", {})
    except SettingsError as ex:
        raise click.ClickException(str(ex))
    path = logs_db_path()
    tasks, reviews = [], []
    if path.exists():
        import sqlite_utils

        db = sqlite_utils.Database(path)
        tasks = read_tasks(db, since=since_at, root=root)
        reviews = read_reviews(db, since=since_at)
    summary = {"since": since_at.isoformat() if since_at else None, "directory": root,
               **summarize(tasks, reviews, prices)}
    if json_output:
        click.echo(json.dumps(summary, indent=2))
    else:
        _print_table(summary)


#: What the table's columns hold (short headings keep it within 80 columns).
_LEGEND = (
    "tests: passed/failed/none run · plans: approved first time/revised/rejected · "
    "reviews: approved alone/overridden/all · tokens per task: input/output"
)


def _print_table(summary: dict) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    overall = summary["overall"]
    where = f" in {summary['directory']}" if summary["directory"] else ""
    when = f" since {summary['since']}" if summary["since"] else ""
    if not overall["tasks"]:
        console.print(f"No llm code tasks logged{where}{when}.")
        return
    table = Table(
        title=f"llm code tasks{where}{when}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
        caption=_LEGEND, caption_justify="left", caption_style="dim",
    )
    table.add_column("project", overflow="fold", min_width=12)
    for heading in ("tasks", "tests", "plans", "reviews", "tokens/task", "cost"):
        table.add_column(heading, justify="right", no_wrap=True)
    names = project_names([p["root"] for p in summary["projects"]])
    rows = [(name, p) for name, p in zip(names, summary["projects"])]
    if len(rows) != 1:
        rows.append(("all projects", overall))
    for name, m in rows:
        tests, plans, reviews, tokens = m["tests"], m["plans"], m["reviews"], m["tokens"]
        table.add_row(
            name, str(m["tasks"]),
            f"{tests['passing']}/{tests['failing']}/{tests['untested']}",
            f"{plans['approved_first_time']}/{plans['revised']}/{plans['rejected']}" if plans["presented"] else "—",
            f"{reviews['auto_approved']}/{reviews['overrides']}/{reviews['reviewed']}" if reviews["reviewed"] else "—",
            f"{tokens['input_per_task']:,.0f}/{tokens['output_per_task']:,.0f}",
            cost_text(m["cost_usd"]),
            style="bold" if name == "all projects" else None,
        )
    console.print(table)
    if overall["cost_unknown_for"]:
        console.print(
            "cost unknown: no price (or no token counts) for " + ", ".join(overall["cost_unknown_for"])
            + '; add "prices" to your settings file: {"MODEL": {"input": USD, "output": USD}} per 1M tokens',
            style="dim",
        )


def project_names(roots: list[str]) -> list[str]:
    """Short names for project directories: the last part of each path, with as many parent
    parts as it takes to tell two apart (the JSON has the whole paths)."""
    parts = [Path(root).parts for root in roots]
    depth = 1
    while True:
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names) or depth >= max(len(p) for p in parts):
            return names
        depth += 1
