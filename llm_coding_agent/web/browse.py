"""The session browser and the metrics page: what llm's logs hold about this plugin's sessions.

Sessions and their tasks are read with :func:`~llm_coding_agent.cli.metrics.read_tasks` (the
same reading as ``llm code stats``); the charts draw :func:`~llm_coding_agent.cli.metrics.summarize`
as inline SVG bars (no chart library, nothing fetched).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from ..cli.messages import first_line, plural
from ..cli.metrics import read_reviews, read_tasks, summarize
from ..cli.sessions import age
from ..cli.stats import cost_text, project_names

__all__ = ["SessionRow", "logged_sessions", "stats_html", "bar_chart"]


@dataclass
class SessionRow:
    """One logged session, as the browser lists it."""

    conversation_id: str
    root: str
    model: str
    first_request: str
    requests: int
    turns: int
    tokens_in: int
    tokens_out: int
    started: datetime | None
    #: "waiting for approval" when the conversation ends in tool calls without results, else "ended".
    status: str


def _pending_threads(db: Any) -> set[str]:
    """Threads whose last message is the model's tool calls with no results yet (paused)."""
    try:
        rows = db.execute(
            "select t.id from threads t join messages m on m.hash = t.tip_message_hash "
            "where m.role = 'assistant' and exists "
            "(select 1 from parts p where p.message_hash = m.hash and p.type = 'tool_call')"
        ).fetchall()
    except sqlite3.OperationalError:
        return set()
    return {row[0] for row in rows}


def logged_sessions(db: Any, limit: int = 200) -> list[SessionRow]:
    """The ``llm code`` sessions in ``db``, the most recently started first."""
    tasks = read_tasks(db)
    pending = _pending_threads(db)
    rows: dict[str, SessionRow] = {}
    for task in tasks:
        row = rows.get(task.conversation_id)
        if row is None:
            row = rows[task.conversation_id] = SessionRow(
                task.conversation_id, task.root, "?", task.request, 0, 0, 0, 0, task.started,
                "waiting for approval" if task.conversation_id in pending else "ended",
            )
        row.requests += 1
        for model, tokens_in, tokens_out in task.turns:
            row.model = model or row.model
            row.turns += 1
            row.tokens_in += tokens_in or 0
            row.tokens_out += tokens_out or 0
    ordered = sorted(rows.values(), key=lambda r: r.started.timestamp() if r.started else 0, reverse=True)
    return ordered[:limit]


def sessions_table(rows: list[SessionRow], live: dict[str, str]) -> str:
    """The browser's table; ``live``: conversation id -> state for the sessions this server runs."""
    if not rows:
        return "<p class='muted'>No llm code sessions in llm's logs yet.</p>"
    names = dict(zip([r.root for r in rows], project_names([r.root for r in rows])))
    body = []
    for row in rows:
        status = live.get(row.conversation_id) or row.status
        body.append(
            f"<tr><td><a href='/session/{escape(row.conversation_id)}'>{escape(first_line(row.first_request, 70) or '(no request)')}</a></td>"
            f"<td title='{escape(row.root)}'>{escape(names[row.root])}</td><td>{escape(row.model)}</td>"
            f"<td class='num'>{row.requests}</td><td class='num'>{row.turns}</td>"
            f"<td class='num'>{row.tokens_in:,} / {row.tokens_out:,}</td>"
            f"<td>{escape(age(row.started))}</td><td class='status {escape(status.split()[0])}'>{escape(status)}</td></tr>"
        )
    return (
        "<table class='sessions'><thead><tr><th>first request</th><th>project</th><th>model</th>"
        "<th>requests</th><th>turns</th><th>tokens in / out</th><th>started</th><th>status</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# -- charts ---------------------------------------------------------------------------------------

_COLOURS = {"passing": "#2e7d32", "failing": "#c62828", "untested": "#9e9e9e", "input": "#1565c0",
            "output": "#ef6c00", "first": "#2e7d32", "revised": "#f9a825", "rejected": "#c62828",
            "tasks": "#5e35b1"}


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]], unit: str = "") -> str:
    """Horizontal stacked bars, one per label; ``series``: (name, one value per label)."""
    width, label_w, bar_h, gap = 560, 160, 18, 8
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    height = 28 + len(labels) * (bar_h + gap) + 22
    parts = [f"<figure class='chart'><svg role='img' aria-label='{escape(title)}' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>",
             f"<text x='0' y='16' class='title'>{escape(title)}</text>"]
    room = width - label_w - 70
    for i, label in enumerate(labels):
        y = 28 + i * (bar_h + gap)
        parts.append(f"<text x='0' y='{y + 13}' class='label'>{escape(first_line(label, 24))}</text>")
        x = float(label_w)
        for name, values in series:
            w = room * values[i] / top
            if w > 0:
                parts.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar_h}' fill='{_COLOURS.get(name, '#607d8b')}'>"
                             f"<title>{escape(name)}: {values[i]:,.0f}{unit}</title></rect>")
            x += w
        parts.append(f"<text x='{x + 6:.1f}' y='{y + 13}' class='value'>{totals[i]:,.0f}{unit}</text>")
    legend_y = height - 6
    x = 0
    for name, _ in series:
        parts.append(f"<rect x='{x}' y='{legend_y - 10}' width='10' height='10' fill='{_COLOURS.get(name, '#607d8b')}'/>"
                     f"<text x='{x + 14}' y='{legend_y}' class='legend'>{escape(name)}</text>")
        x += 24 + 8 * len(name)
    parts.append("</svg></figure>")
    return "".join(parts)


def stats_html(db: Any, prices: dict) -> str:
    """``llm code stats`` as small charts: tasks, test outcomes, plans and tokens per project."""
    summary = summarize(read_tasks(db), read_reviews(db), prices)
    projects = summary["projects"]
    overall = summary["overall"]
    if not overall["tasks"]:
        return "<p class='muted'>No llm code tasks logged yet.</p>"
    names = project_names([p["root"] for p in projects])
    charts = [
        bar_chart("tasks per project", names, [("tasks", [p["tasks"] for p in projects])]),
        bar_chart("tests after the run", names, [
            ("passing", [p["tests"]["passing"] for p in projects]),
            ("failing", [p["tests"]["failing"] for p in projects]),
            ("untested", [p["tests"]["untested"] for p in projects]),
        ]),
        bar_chart("tokens per task", names, [
            ("input", [p["tokens"]["input_per_task"] or 0 for p in projects]),
            ("output", [p["tokens"]["output_per_task"] or 0 for p in projects]),
        ]),
    ]
    if overall["plans"]["presented"]:
        charts.append(bar_chart("plans", names, [
            ("first", [p["plans"]["approved_first_time"] for p in projects]),
            ("revised", [p["plans"]["revised"] for p in projects]),
            ("rejected", [p["plans"]["rejected"] for p in projects]),
        ]))
    reviews = overall["reviews"]
    facts = (
        f"<p>{plural(overall['sessions'], 'session')} · {plural(overall['tasks'], 'task')} · cost {escape(cost_text(overall['cost_usd']))}"
        + (f" · reviews: {reviews['auto_approved']} approved alone, {reviews['overrides']} overridden, "
           f"{reviews['reviewed']} in all" if reviews["reviewed"] else "")
        + "</p>"
    )
    return facts + "<div class='charts'>" + "".join(charts) + "</div>"
