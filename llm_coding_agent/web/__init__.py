"""``llm code web``: sessions and approvals in the browser, on the public ``CodingAgent`` API.

What lives here:

- ``command.py``: the ``llm code web`` click command; ``app.py``: the Starlette app and the
  uvicorn server on 127.0.0.1; ``security.py``: token, Host, CSRF and header rules.
- ``live.py``: the sessions the page runs (a worker thread each; pauses and resumes through
  ``approve=None`` / ``resume()``; ``CodingAgent.load()`` after a restart).
- ``browse.py``: the session browser and the stats charts (inline SVG); ``pages.py``: the HTML;
  ``diffhtml.py``: diffs as unified / side-by-side HTML; ``static/``: the script and the style.

May import: :mod:`llm_coding_agent.agent` (its public ``CodingAgent`` API), ``cli`` (diff,
metrics and message helpers that are not terminal-specific), ``safety``, ``tools``, ``config``,
``errors``; nothing imports it but ``cli/command.py``'s subcommand table.
"""
