"""The HTML of ``llm code web``'s pages, rendered on the server (every value escaped here); the
live parts of a session page are filled in by ``static/app.js`` from the session's events."""

from __future__ import annotations

from html import escape

from ..cli.messages import first_line

__all__ = ["layout", "index_page", "session_page", "sessions_page", "stats_page", "error_page"]


def layout(title: str, body: str, csrf: str, *, page: str = "") -> str:
    """A whole page: the nav, ``body``, and the CSRF token the script sends with every POST."""
    nav = "".join(
        f"<a href='{href}'{' class=current' if page == name else ''}>{label}</a>"
        for name, href, label in (("index", "/", "New task"), ("sessions", "/sessions", "Sessions"),
                                  ("stats", "/stats", "Stats"))
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='csrf-token' content='{escape(csrf)}'>"
        f"<title>{escape(title)} · llm code</title>"
        "<link rel='stylesheet' href='/static/style.css'>"
        "<script src='/static/app.js' defer></script></head>"
        f"<body data-page='{escape(page)}'><header><strong>llm code</strong><nav>{nav}</nav></header>"
        f"<main><div id='flash' role='alert'></div>{body}</main></body></html>"
    )


def _state_badge(state: str) -> str:
    return f"<span class='badge {escape(state)}'>{escape(state)}</span>"


def index_page(csrf: str, directory: str, models: list[str], default_model: str | None, live: list[dict]) -> str:
    """The start form, and the sessions this server runs."""
    options = "".join(
        f"<option{' selected' if m == default_model else ''}>{escape(m)}</option>" for m in models
    )
    if default_model and default_model not in models:
        options = f"<option selected>{escape(default_model)}</option>" + options
    running = "".join(
        f"<li><a href='/session/{escape(s['id'])}'>{escape(first_line(s['first_request'], 80) or s['id'])}</a> "
        f"{_state_badge(s['state'])} <span class='muted'>{escape(s['root'])} · {escape(s['model'])}</span></li>"
        for s in live
    )
    body = (
        "<h1>Start a task</h1>"
        "<form id='start-form' class='card'>"
        f"<label>Project directory <input name='directory' id='directory' value='{escape(directory)}' required></label>"
        f"<label>Model <select name='model' id='model'>{options}</select></label>"
        "<label>Task <textarea name='task' id='task' rows='4' required "
        "placeholder='fix the failing test in tests/test_prices.py'></textarea></label>"
        "<label class='inline'><input type='checkbox' name='plan' id='plan'> plan first (read-only until you approve a plan)</label>"
        "<button type='submit' id='start'>Start</button></form>"
        "<p class='muted'>Edits and commands wait for your answer here, with the same rules, sandbox and undo "
        "as <code>llm code</code>. Project settings files count only once trusted in <code>llm code</code>.</p>"
        + (f"<h2>Sessions of this server</h2><ul class='live'>{running}</ul>" if running else "")
    )
    return layout("New task", body, csrf, page="index")


def session_page(csrf: str, summary: dict) -> str:
    """A session: its events (streamed), the calls waiting for answers, the todo list, and the
    forms for the next request and undo."""
    sid = escape(summary["id"])
    body = (
        f"<div id='session' data-session='{sid}'>"
        f"<h1>{escape(first_line(summary['first_request'], 100) or 'Session')}</h1>"
        f"<p class='meta'><span id='state'>{_state_badge(summary['state'])}</span> "
        f"<span class='muted'>{escape(summary['root'])} · {escape(summary['model'])} · {sid}</span> "
        "<button type='button' id='toggle-view' class='small'>side by side</button></p>"
        "<div class='columns'><div id='log' class='log'></div>"
        "<aside><section id='todos-box' class='card'><h2>Todo</h2><ol id='todos'><li class='muted'>none yet</li></ol></section></aside></div>"
        "<section id='approvals'></section>"
        "<form id='message-form' class='card'><label>Next request "
        "<textarea id='message' rows='2' placeholder='anything else?'></textarea></label>"
        "<button type='submit' id='send'>Send</button> "
        "<button type='button' id='undo' class='secondary' title='put the files back as they were before the last turn'>Undo last turn</button>"
        "</form></div>"
    )
    return layout(summary["first_request"] or "Session", body, csrf, page="session")


def sessions_page(csrf: str, table: str) -> str:
    return layout("Sessions", "<h1>Sessions</h1><p class='muted'>From llm's logs: every llm code session, "
                  "terminal or web. Open one to read it, answer what it waits for, or undo a turn.</p>" + table,
                  csrf, page="sessions")


def stats_page(csrf: str, charts: str) -> str:
    return layout("Stats", "<h1>Stats</h1><p class='muted'>The numbers of <code>llm code stats</code>.</p>" + charts,
                  csrf, page="stats")


def error_page(csrf: str, message: str) -> str:
    return layout("Error", f"<h1>Cannot open this</h1><p class='error'>{escape(message)}</p>", csrf)
