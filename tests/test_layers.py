"""The package layout is the architecture: layers import only downwards, modules stay small, and
each option of a session is one documented field of the config."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "llm_coding_agent"

#: What each part of the package may import from the package (besides itself).
ALLOWED = {
    "errors": set(),
    "config": set(),
    "tools": {"errors", "config"},
    "safety": {"tools", "errors", "config"},
    # MCP servers, skills, custom commands, hooks, tools the agent writes: what users bring.
    "integrations": {"safety", "tools", "errors", "config"},
    "agent": {"integrations", "safety", "tools", "errors", "config"},
    "local": {"errors", "config"},
    "cli": {"agent", "integrations", "safety", "tools", "local", "errors", "config"},
    # `llm code web`: another front end beside cli/, on the public CodingAgent API.
    "web": {"agent", "integrations", "safety", "tools", "local", "errors", "config", "cli"},
    "plugin": {"tools", "cli", "local", "integrations"},
    "__init__": {"agent", "safety", "tools", "errors", "config"},
}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_parts(path: Path, source: str | None = None) -> set[str]:
    """The top-level parts of the package a module imports (anywhere in it, lazy imports too)."""
    rel = path.relative_to(PACKAGE)
    package = ["llm_coding_agent", *rel.parts[:-1]]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif node.module:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "llm_coding_agent" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_only_downwards(path):
    part = _part(path)
    assert part in ALLOWED, f"{part} is not a known layer; add it to ALLOWED with its rule"
    wrong = _imported_parts(path) - ALLOWED[part] - {part}
    assert not wrong, f"{path.relative_to(PACKAGE)} ({part}) imports {sorted(wrong)}"


def test_the_layer_check_sees_relative_and_lazy_imports():
    source = "def f():\n    from ..agent import CodingAgent\n    from .. import cli\n    from .x import y\n"
    assert _imported_parts(PACKAGE / "tools" / "probe.py", source) == {"agent", "cli", "tools"}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_600_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 600, f"{lines} lines"


@pytest.mark.parametrize("layer", ["tools", "safety", "integrations", "agent", "cli"])
def test_each_layer_says_what_lives_there_and_what_it_may_import(layer):
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
    assert doc and "What lives here" in doc and "May import" in doc


def _documented_fields(cls_name: str) -> set[str]:
    tree = ast.parse((PACKAGE / "config.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
    documented = set()
    for node, following in zip(cls.body, cls.body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            documented.add(node.target.id)
    return documented


def test_every_config_field_has_a_docstring():
    from llm_coding_agent.config import AgentConfig, SessionConfig

    documented = _documented_fields("AgentConfig") | _documented_fields("SessionConfig")
    missing = {f.name for f in dataclasses.fields(SessionConfig)} - documented
    assert not missing
    assert {f.name for f in dataclasses.fields(AgentConfig)} <= {f.name for f in dataclasses.fields(SessionConfig)}


def test_every_flagged_field_is_an_llm_code_option():
    from llm_coding_agent.cli.command import code_command
    from llm_coding_agent.config import SessionConfig

    options = {p.name: p for p in code_command.params}
    for f in dataclasses.fields(SessionConfig):
        if f.metadata.get("flags"):
            assert f.name in options, f.name
            assert set(f.metadata["flags"][0].split("/")) <= set(options[f.name].opts + options[f.name].secondary_opts)


def test_settings_file_keys_are_the_config_fields_marked_for_it():
    from llm_coding_agent.config import AgentConfig
    from llm_coding_agent.safety import settings

    marked = {f.name for f in dataclasses.fields(AgentConfig) if f.metadata.get("settings_file")}
    assert set(settings._KEYS) == marked == {
        "allow", "deny", "network", "sandbox", "env_allow", "profile", "reviewer", "review_max_lines",
        "review_sensitive", "prices", "hooks", "create_tool", "mcp_startup_timeout", "mcp_tool_timeout",
    }


def test_layers_combine_scalars_replaced_lists_extended():
    from llm_coding_agent.config import AgentConfig

    config = AgentConfig().layered({"allow": ["pytest*"], "sandbox": "on"}, {"allow": ["git diff*"], "sandbox": None})
    assert config.allow == ["pytest*", "git diff*"] and config.sandbox == "on"
    assert AgentConfig().layered({"options": {"a": 1}}, {"options": {"b": 2}}).options == {"a": 1, "b": 2}
    with pytest.raises(TypeError):
        AgentConfig().layered({"nope": 1})


def test_command_line_options_override_settings_files(model, project, monkeypatch, tmp_path):
    """--sandbox given on the command line wins over the user's settings file; list options add up."""
    import json

    import llm
    from llm_coding_agent.cli.session import Session

    settings = llm.user_dir() / "llm-code" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"sandbox": "on", "allow": ["pytest*"]}))
    session = Session({"root": str(project), "print_prompt": "x", "sandbox": "off", "allow": ["ls*"],
                       "model": "scripted"})
    assert session.config.sandbox == "off" and session.agent.config.sandbox == "off"
    assert session.agent.policy.rules.allow == ["pytest*", "ls*"]
    session = Session({"root": str(project), "print_prompt": "x", "model": "scripted"})
    assert session.config.sandbox == "on"
