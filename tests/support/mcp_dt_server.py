"""A real MCP server for the tests, built with the SDK (``MCPServer``, v1's ``FastMCP``).

    python mcp_dt_server.py                stdio
    python mcp_dt_server.py --http PORT    streamable HTTP on 127.0.0.1:PORT, path /mcp

Environment: ``MCP_PID_FILE`` gets the process id at start (so a test can check the process is
gone afterwards); ``MCP_HANG_AT_START=1`` makes it never finish starting.
"""

import datetime
import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

if os.environ.get("MCP_PID_FILE"):
    with open(os.environ["MCP_PID_FILE"], "w") as f:
        f.write(str(os.getpid()))

if os.environ.get("MCP_HANG_AT_START") == "1":
    while True:  # a server stuck before it answers anything (a slow `npx` install, a deadlock)
        time.sleep(1)

server = MCPServer("dt")


@server.tool()
def now(tz_offset_hours: int = 0) -> str:
    """The current date and time (ISO 8601) at a UTC offset in hours."""
    zone = datetime.timezone(datetime.timedelta(hours=tz_offset_hours))
    return datetime.datetime.now(zone).isoformat()


@server.tool()
def add_days(date: str, days: int) -> str:
    """The date (YYYY-MM-DD) that is a number of days after another."""
    return (datetime.date.fromisoformat(date) + datetime.timedelta(days=days)).isoformat()


@server.tool()
def crash() -> str:
    """Ends the server process in the middle of the call."""
    os._exit(3)


@server.tool()
def broken() -> str:
    """Always fails (a deliberate tool error, whose message reaches the client)."""
    raise ToolError("the calendar is closed")


@server.tool()
def slow(seconds: float = 120) -> str:
    """Takes its time before answering."""
    time.sleep(seconds)
    return "finally"


@server.tool()
def big(lines: int = 5000) -> str:
    """Many lines of output."""
    return "\n".join(f"line {i} " + "x" * 40 for i in range(lines))


@server.tool()
def header(ctx: Context, name: str) -> str:
    """The value of an HTTP request header the client sent (HTTP only)."""
    headers = ctx.headers or {}
    return headers.get(name.lower(), "(no such header)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
