"""llama.cpp in this process, through the prebuilt ``xllamacpp`` wheel.

One :class:`LlamaRuntime` holds a loaded model (a few seconds to load, about 1.5 GB at a 16k
context), and is kept for the life of the process: every request of a session reuses it, and
llama.cpp's prompt cache makes each turn pay only for its new tokens. Requests use llama.cpp's own
OpenAI-style chat handler, so its chat templates and tool-call grammar apply exactly as in
``llama-server``; no HTTP request is made (the library's listener is bound to 127.0.0.1 on a free
port, and nothing talks to it).
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import CodingAgentError

__all__ = [
    "JSONFENCE_TEMPLATE",
    "LlamaRuntime",
    "RuntimeSettings",
    "RuntimeUnavailable",
    "default_threads",
    "runtime_for",
    "runtime_loaded",
]

#: The chat template that asks for tool calls as fenced JSON, which llama.cpp turns into real tool
#: calls under its tool-call grammar (the same file as ``shared/localmodel/``'s jsonfence mode).
JSONFENCE_TEMPLATE = Path(__file__).with_name("templates") / "qwen2.5-coder-jsonfence.jinja"
#: Names ``chat_template`` accepts besides a path to a ``.jinja`` file.
TEMPLATE_NAMES = ("jsonfence", "native")

INSTALL_HINT = "pip install 'llm-coding-agent[local]'"


class RuntimeUnavailable(CodingAgentError):
    """``xllamacpp`` is not installed, or the model could not be loaded."""


def default_threads() -> int:
    """The CPUs this process may use, at most 8 (more rarely helps a 1.5B model on a CPU)."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 2
    return max(1, min(8, available))


@dataclass(frozen=True)
class RuntimeSettings:
    """What a loaded model depends on; a request with other settings loads the model again."""

    model_path: str
    n_ctx: int = 16_384
    threads: int = 2
    #: ``jsonfence``, ``native`` (the template in the GGUF file) or a path to a ``.jinja`` file.
    chat_template: str = "jsonfence"

    def template_text(self) -> str | None:
        if self.chat_template == "native":
            return None
        path = JSONFENCE_TEMPLATE if self.chat_template == "jsonfence" else Path(self.chat_template).expanduser()
        try:
            return path.read_text(encoding="utf-8")
        except OSError as ex:
            raise RuntimeUnavailable(
                f"cannot read chat template {path}: {ex.strerror or ex} (use jsonfence, native or a .jinja file)"
            ) from None


class LlamaRuntime:
    """A loaded model answering OpenAI-style chat requests."""

    def __init__(self, settings: RuntimeSettings):
        try:
            import xllamacpp
        except ImportError:
            raise RuntimeUnavailable(
                f"the built-in local model needs llama.cpp: {INSTALL_HINT}"
            ) from None
        self.settings = settings
        params = xllamacpp.CommonParams()
        params.model.path = settings.model_path
        params.n_ctx = settings.n_ctx
        params.n_parallel = 1
        params.cache_prompt = True
        # Earlier prompts' states kept in RAM (llama.cpp's default allows 8 GB): enough to come back
        # to the conversation after a side request (a summary, the reviewer) without evaluating
        # its ~10k tokens again, bounded for a laptop.
        params.cache_ram_mib = 1024
        params.use_jinja = True
        params.warmup = False
        params.ctx_shift = False  # a full context is an error the agent can act on, not a silent shift
        params.verbosity = -1  # llama.cpp logs to stderr otherwise, over the terminal UI
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = settings.threads
        # Read the weights into memory instead of mapping the file: llama.cpp repacks most of them
        # into its faster CPU layout anyway, and a mapped file would stay resident beside that copy
        # (peak RSS 2.3 GB at 16k context mapped, 1.7 GB read; bench/local_model.py). The repacked
        # layout itself is kept: without it generation is ~30 % slower.
        load_mode = getattr(xllamacpp, "llama_load_mode", None)
        if load_mode is not None:
            params.load_mode = load_mode.LLAMA_LOAD_MODE_NONE
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.sampling.temp = 0.0
        template = settings.template_text()
        if template is not None:
            params.chat_template = template
        try:
            self._server = xllamacpp.Server(params)
        except Exception as ex:  # the wheel raises RuntimeError and friends from C++
            raise RuntimeUnavailable(f"could not load {settings.model_path}: {ex}") from None
        self._lock = threading.Lock()

    def complete(self, request: dict[str, Any]) -> dict[str, Any]:
        """One non-streaming chat completion (an error comes back as a dict with ``code``)."""
        with self._lock:
            return self._server.handle_chat_completions(dict(request, stream=False))

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The chunks of a streaming chat completion, as they are generated.

        llama.cpp calls back from inside a blocking call, so generation runs in a thread and hands
        chunks over a queue. Closing the iterator early (Ctrl-C, a consumer that stops) makes the
        next callback return True, which tells llama.cpp to stop generating.
        """
        chunks: queue.Queue = queue.Queue()
        stop = threading.Event()
        done = object()

        def on_chunk(chunk: dict) -> bool:
            chunks.put(chunk)
            return stop.is_set()

        def generate() -> None:
            try:
                with self._lock:
                    self._server.handle_chat_completions(dict(request, stream=True), on_chunk)
            except BaseException as ex:  # noqa: BLE001 - handed to the consumer, not lost
                chunks.put(ex)
            finally:
                chunks.put(done)

        worker = threading.Thread(target=generate, name="llm-code-local", daemon=True)
        worker.start()
        try:
            while True:
                item = chunks.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()


_loaded: dict[str, LlamaRuntime] = {}
_loading = threading.Lock()


def runtime_loaded(settings: RuntimeSettings) -> bool:
    """Whether a request with ``settings`` finds its model already loaded (no wait)."""
    current = _loaded.get("model")
    return current is not None and current.settings == settings


def runtime_for(settings: RuntimeSettings) -> LlamaRuntime:
    """The process's runtime for ``settings``: loaded once, replaced when the settings change
    (only one model stays in memory)."""
    with _loading:
        current = _loaded.get("model")
        if current is not None and current.settings == settings:
            return current
        _loaded.pop("model", None)
        del current  # free the old model before loading the next one
        runtime = LlamaRuntime(settings)
        _loaded["model"] = runtime
        return runtime
