"""Settings files: command rules and sandbox options, with trust for project-provided files.

Two files, both optional, both JSON objects with these optional keys::

    {"allow": ["pytest*", "git diff*"],   # command rules (globs, see rules.py)
     "deny": ["git push*"],
     "network": false,                    # network inside the sandbox
     "sandbox": "auto",                   # "auto" | "on" | "off"
     "env_allow": ["GITHUB_TOKEN"]}       # secret-looking variables commands may inherit

- the user's file, ``<llm user dir>/llm-code/settings.json``, always applies;
- the project's file, ``<root>/.llm-code/settings.json``, is repository content: its deny rules (and
  anything else that only tightens: ``"network": false``, ``"sandbox": "on"``) always apply, but
  its allow rules and loosening options count only once the user has trusted the file. Trust is
  recorded in ``<llm user dir>/llm-code/trusted.json`` against the file's SHA-256, so any change to
  the file asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import llm

from .errors import CodingAgentError

__all__ = [
    "Settings",
    "SettingsError",
    "load_settings",
    "user_settings_path",
    "project_settings_path",
    "is_trusted",
    "trust_file",
]

_KEYS = {"allow": list, "deny": list, "network": bool, "sandbox": str, "env_allow": list}
_SANDBOX_MODES = ("auto", "on", "off")


class SettingsError(CodingAgentError):
    """A settings file that cannot be used (bad JSON, unknown key, wrong type)."""


@dataclass
class Settings:
    """Merged, effective settings."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    network: bool | None = None
    sandbox: str | None = None
    env_allow: list[str] = field(default_factory=list)
    #: Allow rules of an untrusted project file: shown to the user, not applied.
    project_allow_pending: list[str] = field(default_factory=list)
    #: The project file, when it exists and is not trusted.
    untrusted_project_file: Path | None = None


def _settings_dir() -> Path:
    return llm.user_dir() / "llm-code"


def user_settings_path() -> Path:
    return _settings_dir() / "settings.json"


def project_settings_path(root: Path) -> Path:
    return Path(root) / ".llm-code" / "settings.json"


def _trust_path() -> Path:
    return _settings_dir() / "trusted.json"


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as ex:
        raise SettingsError(f"{path}: not valid JSON ({ex})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: must hold a JSON object")
    for key, value in data.items():
        if key not in _KEYS:
            raise SettingsError(f"{path}: unknown setting {key!r} (known: {', '.join(_KEYS)})")
        kind = _KEYS[key]
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            expected = "a list of strings" if kind is list else kind.__name__
            raise SettingsError(f"{path}: {key!r} must be {expected}")
    if "sandbox" in data and data["sandbox"] not in _SANDBOX_MODES:
        raise SettingsError(f"{path}: 'sandbox' must be one of {', '.join(_SANDBOX_MODES)}")
    return data


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _trusted() -> dict[str, str]:
    path = _trust_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def is_trusted(path: Path) -> bool:
    """True when the user trusted exactly this content of ``path``."""
    path = Path(path).resolve()
    return path.is_file() and _trusted().get(str(path)) == _digest(path)


def trust_file(path: Path) -> None:
    """Record that the user trusts the current content of ``path``."""
    path = Path(path).resolve()
    trusted = _trusted()
    trusted[str(path)] = _digest(path)
    target = _trust_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".trusted.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(trusted, f, indent=2, sort_keys=True)
    os.replace(tmp, target)


def _apply(settings: Settings, data: dict, *, trusted: bool) -> None:
    settings.deny.extend(data.get("deny", []))
    if data.get("network") is False:
        settings.network = False
    if data.get("sandbox") == "on":
        settings.sandbox = "on"
    if not trusted:
        return
    settings.allow.extend(data.get("allow", []))
    settings.env_allow.extend(data.get("env_allow", []))
    if data.get("network") is True and settings.network is None:
        settings.network = True
    if data.get("sandbox") in ("auto", "off") and settings.sandbox is None:
        settings.sandbox = data["sandbox"]


def load_settings(
    root: Path, *, trust: Callable[[Path, dict], bool] | None = None
) -> Settings:
    """The effective settings for ``root``.

    ``trust(path, data)`` is asked once when the project file is untrusted; True records trust.
    Without it (headless runs) an untrusted project file contributes only its restrictions.
    """
    settings = Settings()
    user = _read(user_settings_path())
    if user:
        _apply(settings, user, trusted=True)
    project_path = project_settings_path(root)
    project = _read(project_path)
    if project is None:
        return settings
    trusted = is_trusted(project_path)
    loosens = bool(project.get("allow") or project.get("env_allow") or project.get("network") is True
                   or project.get("sandbox") in ("auto", "off"))
    if not trusted and loosens and trust is not None and trust(project_path, project):
        trust_file(project_path)
        trusted = True
    if not trusted and loosens:
        settings.untrusted_project_file = project_path
        settings.project_allow_pending = list(project.get("allow", []))
    _apply(settings, project, trusted=trusted)
    return settings
