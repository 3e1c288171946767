import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_config():
    config = json.loads((ROOT / "config.json").read_text())
    assert config == {
        "app": {"name": "notes", "port": 8080, "debug": False},
        "database": {"url": "sqlite:///notes.db", "pool_size": 20, "timeout": 30},
        "features": ["search", "export", "sync"],
    }
