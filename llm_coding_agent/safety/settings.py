"""Settings files: command rules and sandbox options, with trust for project-provided files.

Two files, both optional, both JSON objects with these optional keys::

    {"allow": ["pytest*", "git diff*"],   # command rules (globs, see rules.py)
     "deny": ["git push*"],
     "network": false,                    # network inside the sandbox
     "sandbox": "auto",                   # "auto" | "on" | "off"
     "env_allow": ["GITHUB_TOKEN"],       # secret-looking variables commands may inherit
     "profile": "auto",                   # how the agent talks to the model
     "reviewer": "gpt-4.1-mini",          # a model reviewing file changes (agent/reviewer.py)
     "review_max_lines": 50,              # the largest change it may approve on its own
     "review_sensitive": ["infra/**"],    # paths it never approves on its own (added to defaults)
     "prices": {"gpt-4.1": {"input": 2.0, "output": 8.0}},   # USD per 1M tokens (llm code stats)
     "hooks": {"PostToolUse": [...]},     # commands run at points of a run (integrations/hooks.py)
     "create_tool": true,                 # offer the model create_tool (integrations/usertools.py)
     "mcp_startup_timeout": 10,           # seconds an MCP server may take to start
     "mcp_tool_timeout": 60}              # seconds one MCP tool call may take

An unknown key, a value of the wrong type, or a file that is not a JSON object raises
:class:`SettingsError` naming the file (and the key).

- The user's file, ``<llm user dir>/llm-code/settings.json``, always applies.
- The project's file, ``<root>/.llm-code/settings.json``, is repository content, so it cannot loosen
  anything on its own: its deny rules and the options that only tighten (``"network": false``,
  ``"sandbox": "on"``) always apply, while its allow rules, ``env_allow`` and loosening options
  (``"network": true``, ``"sandbox": "auto"|"off"``) count only once the user has trusted the file.
  So do its ``reviewer`` (a model that may approve changes), a ``review_max_lines`` above the
  user's, and its ``profile`` and ``prices``; its ``review_sensitive`` globs and a smaller
  ``review_max_lines`` only tighten, so they always apply. Its ``hooks`` run commands, so they
  count only once trusted too (after the user's, event by event); ``"create_tool": false`` always
  applies, ``true`` counts once trusted when the user's file says ``false``. Its MCP timeouts
  apply where the user's file sets none (waiting longer or shorter widens nothing).
  Trust is recorded in ``<llm user dir>/llm-code/trusted.json`` as ``{absolute path: SHA-256 of the
  content}``, so any change to the file makes it untrusted again. The path is recorded as given, not
  through symlinks, so a repository cannot borrow the trust of another project's file.

Merge order: user file first, then project file. Lists are concatenated (duplicates dropped).
For ``network`` and ``sandbox`` the most restrictive value wins: a project file (trusted or not) can
always tighten the user's choice; a trusted project file can loosen only options the user left
unset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import llm

from ..config import AgentConfig
from ..errors import CodingAgentError
from ..tools.files import atomic_write

__all__ = [
    "Settings",
    "SettingsError",
    "load_settings",
    "user_settings_path",
    "project_settings_path",
    "is_trusted",
    "trust_file",
    "add_user_rule",
    "read_user_settings",
    "is_trusted_digest",
    "trust_digest",
]

#: The keys a settings file may hold: the config fields marked ``settings_file``, with their types.
_KEYS: dict[str, type] = {
    f.name: {"list": list, "bool": bool, "str": str, "str | None": str, "int": int, "dict": dict}[str(f.type)]
    for f in dataclasses.fields(AgentConfig)
    if f.metadata.get("settings_file")
}
#: The smallest values of the whole-number settings (``review_max_lines``).
_MINIMUMS: dict[str, int] = {
    f.name: f.metadata["minimum"]
    for f in dataclasses.fields(AgentConfig)
    if f.metadata.get("settings_file") and f.metadata.get("minimum") is not None
}
_DEFAULT_REVIEW_MAX_LINES = AgentConfig().review_max_lines
#: The allowed values of the settings that take one of a few words (``sandbox``, ``profile``).
_CHOICES: dict[str, tuple[str, ...]] = {
    f.name: tuple(f.metadata["click"]["choices"])
    for f in dataclasses.fields(AgentConfig)
    if f.metadata.get("settings_file") and "choices" in f.metadata.get("click", {})
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(CodingAgentError):
    """A settings file that cannot be used (bad JSON, unknown key, wrong type)."""


@dataclass
class Settings:
    """Merged, effective settings (see the module docstring for how files combine)."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    network: bool | None = None
    sandbox: str | None = None
    env_allow: list[str] = field(default_factory=list)
    profile: str | None = None
    reviewer: str | None = None
    review_max_lines: int | None = None
    review_sensitive: list[str] = field(default_factory=list)
    prices: dict[str, dict] | None = None
    hooks: dict[str, list] | None = None
    create_tool: bool | None = None
    mcp_startup_timeout: int | None = None
    mcp_tool_timeout: int | None = None
    #: Allow rules of an untrusted project file: shown to the user, not applied.
    project_allow_pending: list[str] = field(default_factory=list)
    #: The project file, when it exists, would loosen something, and is not trusted.
    untrusted_project_file: Path | None = None
    #: Every loosening value of the untrusted project file (``allow``, ``env_allow``, ``network``,
    #: ``sandbox``), for a trust prompt that shows all of it.
    project_pending: dict[str, Any] = field(default_factory=dict)

    def config_layer(self) -> dict[str, Any]:
        """The values these settings give to :meth:`AgentConfig.layered <llm_coding_agent.config.AgentConfig.layered>`
        (unset ones left out)."""
        return {name: getattr(self, name) for name in _KEYS if getattr(self, name) is not None}


def _settings_dir() -> Path:
    return llm.user_dir() / "llm-code"


def user_settings_path() -> Path:
    """The user's settings file: ``<llm user dir>/llm-code/settings.json``."""
    return _settings_dir() / "settings.json"


def project_settings_path(root: Path) -> Path:
    """The project's settings file: ``<root>/.llm-code/settings.json``."""
    return Path(root) / ".llm-code" / "settings.json"


def _trust_path() -> Path:
    return _settings_dir() / "trusted.json"


def _key(path: Path) -> str:
    return os.path.abspath(os.fspath(path))


def _read_bytes(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise SettingsError(f"{path}: is a directory, not a settings file") from None
    except OSError as ex:
        raise SettingsError(f"{path}: cannot be read ({ex.strerror or ex})") from None


def _parse(path: Path, raw: bytes) -> dict:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except ValueError as ex:
        raise SettingsError(f"{path}: not valid JSON ({ex})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: must hold a JSON object")
    for key, value in data.items():
        if key not in _KEYS:
            raise SettingsError(f"{path}: unknown setting {key!r} (known: {', '.join(_KEYS)})")
        kind = _KEYS[key]
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise SettingsError(f"{path}: {key!r} must be a list of strings")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SettingsError(f"{path}: {key!r} must be {kind.__name__}, not {json.dumps(value)}")
        if key in _MINIMUMS and value < _MINIMUMS[key]:
            raise SettingsError(f"{path}: {key!r} must be at least {_MINIMUMS[key]}")
    if "prices" in data:
        _check_prices(path, data["prices"])
    for key, choices in _CHOICES.items():
        if key in data and data[key] not in choices:
            raise SettingsError(f"{path}: {key!r} must be one of {', '.join(choices)}")
    for name in data.get("env_allow", []):
        if not _ENV_NAME.match(name):
            raise SettingsError(f"{path}: 'env_allow' entry {name!r} is not a variable name")
    return data


def _check_prices(path: Path, prices: dict) -> None:
    """``{"model-id": {"input": USD per 1M tokens, "output": ...}}``, both prices given."""
    for model_id, price in prices.items():
        ok = isinstance(price, dict) and set(price) == {"input", "output"} and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in price.values()
        )
        if not ok:
            raise SettingsError(
                f"{path}: 'prices' entry {model_id!r} must be {{\"input\": USD, \"output\": USD}} "
                "(per million tokens, not negative)"
            )


def read_user_settings() -> dict:
    """The user's settings file as parsed (``{}`` when there is none); :class:`SettingsError`
    when it cannot be used. For commands that work across projects (``llm code stats``)."""
    path = user_settings_path()
    raw = _read_bytes(path)
    return _parse(path, raw) if raw is not None else {}


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _trusted() -> dict[str, str]:
    try:
        data = json.loads(_trust_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # A missing or damaged record only means nothing is trusted; the next trust rewrites it.
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    mode = (path.stat().st_mode & 0o7777) if path.exists() else None
    atomic_write(path, text.encode("utf-8"), mode)


def _record_trust(path: Path, digest: str) -> None:
    trusted = _trusted()
    trusted[_key(path)] = digest
    _write_json(_trust_path(), trusted)


def is_trusted(path: Path) -> bool:
    """True when the user trusted exactly the current content of ``path``."""
    raw = _read_bytes(Path(path))
    return raw is not None and _trusted().get(_key(path)) == _digest(raw)


def trust_file(path: Path) -> None:
    """Record that the user trusts the current content of ``path`` (which must exist)."""
    raw = _read_bytes(Path(path))
    if raw is None:
        raise SettingsError(f"{path}: does not exist, so it cannot be trusted")
    _record_trust(Path(path), _digest(raw))


def is_trusted_digest(key_path: Path, digest: str) -> bool:
    """True when the user trusted content with ``digest`` under ``key_path``: trust given to
    something other than one file's bytes (a project's skills and commands, all together)."""
    return _trusted().get(_key(key_path)) == digest


def trust_digest(key_path: Path, digest: str) -> None:
    """Record that the user trusts the content with ``digest`` under ``key_path``."""
    _record_trust(Path(key_path), digest)


def add_user_rule(rule: str, kind: str = "allow") -> bool:
    """Add ``rule`` to the ``allow`` or ``deny`` list of the user's settings file.

    Creates the file when needed and keeps every other setting. Returns False when the rule was
    already there. Raises :class:`SettingsError` when the existing file is invalid.
    """
    if kind not in ("allow", "deny"):
        raise ValueError("kind must be 'allow' or 'deny'")
    if not isinstance(rule, str) or not rule.strip():
        raise SettingsError("a rule must be a non-empty string")
    path = user_settings_path()
    raw = _read_bytes(path)
    data = _parse(path, raw) if raw is not None else {}
    rules = list(data.get(kind, []))
    if rule in rules:
        return False
    rules.append(rule)
    data[kind] = rules
    _write_json(path, data)
    return True


def _extend(target: list[str], values: list[str]) -> None:
    for value in values:
        if value not in target:
            target.append(value)


_SANDBOX_STRICTNESS = {"off": 0, "auto": 1, "on": 2}


def _loosening(data: dict, settings: Settings) -> dict[str, Any]:
    """The parts of a project file that would widen what ``settings`` (restrictions applied) allow."""
    out: dict[str, Any] = {}
    if data.get("allow"):
        out["allow"] = list(data["allow"])
    if data.get("env_allow"):
        out["env_allow"] = list(data["env_allow"])
    if data.get("network") is True and settings.network is None:
        out["network"] = True
    if data.get("sandbox") in ("auto", "off") and settings.sandbox is None:
        out["sandbox"] = data["sandbox"]
    # A reviewer may approve changes on its own: the project cannot name (or enlarge) one unasked.
    if data.get("reviewer") and data["reviewer"] != settings.reviewer:
        out["reviewer"] = data["reviewer"]
    if data.get("review_max_lines", -1) > _review_max_lines(settings):
        out["review_max_lines"] = data["review_max_lines"]
    # Not safety settings, but repository content all the same: they count once trusted.
    if data.get("profile") and data["profile"] != settings.profile:
        out["profile"] = data["profile"]
    prices = {k: v for k, v in (data.get("prices") or {}).items() if (settings.prices or {}).get(k) != v}
    if prices:
        out["prices"] = prices
    # Hooks run commands on the user's machine: repository-supplied ones wait for trust.
    if data.get("hooks"):
        out["hooks"] = data["hooks"]
    if data.get("create_tool") is True and settings.create_tool is False:
        out["create_tool"] = True
    return out


def _review_max_lines(settings: Settings) -> int:
    return settings.review_max_lines if settings.review_max_lines is not None else _DEFAULT_REVIEW_MAX_LINES


def load_settings(root: Path, *, trust: Callable[[Path, dict], bool] | None = None) -> Settings:
    """The effective settings for ``root``: the user's file, then the project's.

    When the project file would loosen something and is not trusted, ``trust(path, data)`` is
    called once with the parsed file; True records trust for exactly the content shown and activates
    the file. Without a callback (headless runs), or on any other answer, the file contributes only
    its restrictions and the rest is reported in ``project_allow_pending`` / ``project_pending``.
    Raises :class:`SettingsError` for an unusable file.
    """
    settings = Settings()
    user_path = user_settings_path()
    raw = _read_bytes(user_path)
    if raw is not None:
        user = _parse(user_path, raw)
        _extend(settings.allow, user.get("allow", []))
        _extend(settings.deny, user.get("deny", []))
        _extend(settings.env_allow, user.get("env_allow", []))
        settings.network = user.get("network")
        settings.sandbox = user.get("sandbox")
        settings.profile = user.get("profile")
        settings.reviewer = user.get("reviewer")
        settings.review_max_lines = user.get("review_max_lines")
        _extend(settings.review_sensitive, user.get("review_sensitive", []))
        settings.prices = user.get("prices")
        settings.hooks = user.get("hooks")
        settings.create_tool = user.get("create_tool")
        settings.mcp_startup_timeout = user.get("mcp_startup_timeout")
        settings.mcp_tool_timeout = user.get("mcp_tool_timeout")

    project_path = project_settings_path(root)
    raw = _read_bytes(project_path)
    if raw is None:
        return settings
    project = _parse(project_path, raw)
    digest = _digest(raw)

    # Restrictions apply whether or not the file is trusted.
    _extend(settings.deny, project.get("deny", []))
    if project.get("network") is False:
        settings.network = False
    wanted = project.get("sandbox")
    if wanted == "on" or (
        wanted is not None and settings.sandbox is not None
        and _SANDBOX_STRICTNESS[wanted] > _SANDBOX_STRICTNESS[settings.sandbox]
    ):
        settings.sandbox = wanted
    _extend(settings.review_sensitive, project.get("review_sensitive", []))
    for name in ("mcp_startup_timeout", "mcp_tool_timeout"):
        if getattr(settings, name) is None:
            setattr(settings, name, project.get(name))
    if "review_max_lines" in project and project["review_max_lines"] < _review_max_lines(settings):
        settings.review_max_lines = project["review_max_lines"]
    if project.get("create_tool") is False:
        settings.create_tool = False

    loosening = _loosening(project, settings)
    if not loosening:
        return settings
    trusted = _trusted().get(_key(project_path)) == digest
    if not trusted and trust is not None and trust(project_path, project) is True:
        # Record the digest of the bytes that were parsed and shown, not of a later re-read.
        _record_trust(project_path, digest)
        trusted = True
    if not trusted:
        settings.untrusted_project_file = project_path
        settings.project_allow_pending = list(project.get("allow", []))
        settings.project_pending = loosening
        return settings

    _extend(settings.allow, loosening.get("allow", []))
    _extend(settings.env_allow, loosening.get("env_allow", []))
    if "network" in loosening:
        settings.network = loosening["network"]
    if "sandbox" in loosening:
        settings.sandbox = loosening["sandbox"]
    for name in ("profile", "reviewer", "review_max_lines"):
        if name in loosening:
            setattr(settings, name, loosening[name])
    if "prices" in loosening:
        settings.prices = {**loosening["prices"], **(settings.prices or {})}  # the user's own win
    if "create_tool" in loosening:
        settings.create_tool = True
    if "hooks" in loosening:
        settings.hooks = _merged_hooks(settings.hooks or {}, loosening["hooks"])
    return settings


def _merged_hooks(user: dict, project: dict) -> dict:
    """The user's hooks, then the project's, event by event (both run)."""
    merged = {event: list(entries) if isinstance(entries, list) else entries for event, entries in user.items()}
    for event, entries in project.items():
        if isinstance(merged.get(event), list) and isinstance(entries, list):
            merged[event] = merged[event] + entries
        else:
            merged.setdefault(event, entries)
    return merged
