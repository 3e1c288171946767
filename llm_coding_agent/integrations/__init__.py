"""What users bring from other agents, under our safety rules.

What lives here: MCP servers (``mcp.py``), skills (``skills.py``), custom commands
(``commands.py``), hooks (``hooks.py``) and the tools the agent writes (``usertools.py``).
Anything a repository supplies here counts only once the user trusts the project.

May import: ``safety``, ``tools``, ``errors`` and ``config``; ``agent``, ``cli`` and ``web`` use it.
"""
