"""``llm code web``: serve the web page on 127.0.0.1 and print its address (with the token)."""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path

import click

from ..config import SANDBOX_MODES

__all__ = ["web_command"]


@click.command(name="web")
@click.option("-d", "--directory", metavar="DIR", help="The project the start form offers (default: the current directory)")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port)")
@click.option("-m", "--model", help="Model for new tasks (default: llm's default model)")
@click.option("--sandbox", type=click.Choice(SANDBOX_MODES), help="Run commands in bubblewrap: auto, on, off")
@click.option("--open/--no-open", "open_browser", default=False, help="Open the page in the default browser")
def web_command(directory, port, model, sandbox, open_browser):
    """Sessions and approvals in the browser: start tasks, watch them, answer edits and commands.

    \b
    llm code web                  serve http://127.0.0.1:8765/?token=... (the token is new each start)
    llm code web -d ~/dev/app     offer that project in the start form
    llm code web --port 0         any free port

    The page is only for this machine: requests need the printed token, the Host must be
    127.0.0.1 or localhost, and every change is a POST with a CSRF token. Edits and commands wait
    for your answer on the page, with the same rules, sandbox and undo as `llm code`; without a
    working sandbox, commands are refused unless --sandbox off (or your settings) say otherwise.
    Project settings files count only once trusted in `llm code`. Paused sessions are in llm's
    logs: stop the server, start it again, and reopen a session to answer what it waits for.
    """
    from llm.cli import logs_db_path, logs_on

    from .app import WebServer

    if not logs_on():
        raise click.ClickException("llm code web keeps its sessions in llm's logs, and logging is off (`llm logs on`)")
    root = Path(directory or ".").expanduser()
    if not root.is_dir():
        raise click.ClickException(f"directory does not exist: {directory}")
    defaults = {key: value for key, value in (("model", model), ("sandbox", sandbox)) if value is not None}
    try:
        server = WebServer(logs_db_path(), directory=str(root.resolve()), port=port, defaults=defaults)
    except OSError as ex:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {ex.strerror or ex}")
    click.echo(f"llm code web: open {server.url}")
    click.echo("(Ctrl-C stops the server; paused sessions wait in llm's logs)", err=True)
    if open_browser and not os.environ.get("SSH_CONNECTION"):
        webbrowser.open(server.url)
    sys.stdout.flush()
    try:
        server.serve()
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then passed Ctrl-C on
        pass
    click.echo("llm code web: stopped", err=True)
