"""What users bring from other agents, under our safety rules: MCP servers (``mcp.py``), skills
(``skills.py``), custom commands (``commands.py``), hooks (``hooks.py``) and the tools the agent
writes (``usertools.py``).

Imports only ``safety``, ``tools``, ``errors`` and ``config``; ``agent`` and ``cli`` use it.
Anything a repository supplies here counts only once the user trusts the project.
"""
