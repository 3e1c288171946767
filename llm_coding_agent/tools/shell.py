"""Run a model-written shell command with a deadline, bounded memory and a scrubbed environment.

The command runs in its own session: it has no controlling terminal (so ``sudo``/``ssh``/``git``
prompts fail instead of silently waiting on the user's terminal), Ctrl-C in the user's terminal
does not reach it directly, and the whole process group can be killed as one.
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import math
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..errors import ToolError
from .sandbox import SandboxConfig, SandboxUnavailable, bwrap_problem, wrap_argv

__all__ = [
    "CommandOutput",
    "MAX_TIMEOUT",
    "child_environment",
    "format_command_output",
    "normalize_timeout",
    "omitted_marker",
    "redact",
    "run_command",
    "secret_values",
    "stored_key_values",
]

#: Upper bound for a single command, in seconds; larger requests are clamped to it.
MAX_TIMEOUT = 600.0

#: Time between SIGTERM and SIGKILL when tearing down a process tree.
KILL_GRACE = 1.0

#: How long output is still collected after the shell exits (or after a kill). Background jobs that
#: inherited the pipe would otherwise keep it open and stall the tool call until the deadline.
DRAIN_AFTER_EXIT = 0.5

_CHUNK = 1 << 20
#: Linux F_SETPIPE_SZ. A 1 MiB pipe cuts the number of reads (and wakeups) for chatty commands
#: sixteen-fold compared with the default 64 KiB.
_F_SETPIPE_SZ = 1031

_SHELLS = ("/bin/bash", "/bin/sh")


@dataclass
class CommandOutput:
    """What a command produced.

    ``text`` is stdout and stderr interleaved in the order they were written, decoded leniently; when
    the output exceeded the limit it is the head, an :func:`omitted_marker` line and the tail.
    """

    text: str
    exit_code: int | None  # None when the command was killed because of the timeout
    timed_out: bool
    omitted_bytes: int


# --------------------------------------------------------------------------------------------------
# Environment and secrets

#: Variables that hold model API keys under names the generic patterns below might miss.
KNOWN_SECRET_VARIABLES = frozenset({
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "MISTRAL_API_KEY",
    "GROQ_API_KEY", "OPENROUTER_API_KEY", "COHERE_API_KEY", "DEEPSEEK_API_KEY", "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY", "PERPLEXITY_API_KEY", "XAI_API_KEY", "REPLICATE_API_TOKEN", "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_OPENAI_API_KEY",
    "GH_TOKEN", "GITHUB_TOKEN",
})

#: Upper-cased fnmatch patterns for secret-looking variable names.
SECRET_NAME_PATTERNS = (
    "LLM_*_KEY",
    "*_API_KEY",
    "*_APIKEY",
    "*_TOKEN",
    "*_SECRET",
    "*_SECRET_*",
    "*_PASSWORD",
    "*_PASSWD",
    "*_ACCESS_KEY*",
    "*_PRIVATE_KEY",
)

#: Forced into the child environment: output goes to a pipe read by a model, so pagers, terminal
#: escape sequences and credential prompts can only hang the command or add noise.
NON_INTERACTIVE_ENV = {
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "MANPAGER": "cat",
    "GIT_TERMINAL_PROMPT": "0",
    "TERM": "dumb",
}


def is_secret_name(name: str) -> bool:
    """True when an environment variable name looks like it holds a credential."""
    upper = name.upper()
    return upper in KNOWN_SECRET_VARIABLES or any(
        fnmatch.fnmatchcase(upper, pattern) for pattern in SECRET_NAME_PATTERNS
    )


def child_environment(environ: Mapping[str, str], allow: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``environ`` fit for model-written commands.

    Credential-looking variables (model API keys, ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``,
    ``*_PASSWORD``, ``*_ACCESS_KEY*`` ... matched case-insensitively) are removed unless their name
    matches an entry of ``allow`` (exact names or fnmatch patterns, case-sensitive like the
    environment itself). Pagers and terminal prompts are disabled, see :data:`NON_INTERACTIVE_ENV`.
    """
    allowed = list(allow)

    def is_allowed(name: str) -> bool:
        return any(name == pattern or fnmatch.fnmatchcase(name, pattern) for pattern in allowed)

    env = {
        name: value
        for name, value in environ.items()
        if not is_secret_name(name) or is_allowed(name)
    }
    env.update(NON_INTERACTIVE_ENV)
    return env


def stored_key_values() -> list[str]:
    """The values stored in llm's ``keys.json``; empty when the file is missing or unreadable."""
    try:
        import llm

        path = Path(llm.user_dir()) / "keys.json"
        data = json.loads(path.read_text(encoding="utf-8"))
    except Exception:
        # Redaction is a safety net: a broken keys file must not break every shell command.
        return []
    if not isinstance(data, dict):
        return []
    # llm writes a "// Note" entry warning about the file; its text is not a secret.
    return [
        value
        for name, value in data.items()
        if isinstance(value, str) and not str(name).startswith("//") and value
    ]


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (8 characters or longer) replaced by
    ``[redacted]``; shorter values are skipped because they would mangle ordinary output."""
    # Longest first, so a secret that contains another one is replaced whole.
    for secret in sorted({s for s in secrets if isinstance(s, str) and len(s) >= 8}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def _environment_secret_values(environ: Mapping[str, str]) -> list[str]:
    return [value for name, value in environ.items() if is_secret_name(name)]


def secret_values() -> list[str]:
    """What :func:`redact` hides in command output: llm's stored keys and this process's secrets."""
    return stored_key_values() + _environment_secret_values(os.environ)


# --------------------------------------------------------------------------------------------------
# Output formatting


def normalize_timeout(timeout: object) -> float:
    """``timeout`` as seconds in ``(0, MAX_TIMEOUT]``; larger values are clamped, junk is refused."""
    if isinstance(timeout, bool):
        raise ToolError("timeout must be a number of seconds")
    try:
        value = float(timeout)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ToolError(f"timeout must be a number of seconds, got {timeout!r}") from None
    if math.isnan(value) or value <= 0:
        raise ToolError(f"timeout must be a positive number of seconds (at most {MAX_TIMEOUT:g})")
    return min(value, MAX_TIMEOUT)


# What unittest and pytest print when they found nothing to run.
_NO_TESTS_RAN = re.compile(r"^(?:Ran 0 tests in |NO TESTS RAN|=*\s*no tests ran in |collected 0 items)", re.M)
#: Appended when a test runner ran no tests: "OK" from a runner that ran nothing verifies nothing,
#: and models read it as a pass (`python -m unittest discover` finds no pytest-style tests).
NO_TESTS_NOTE = (
    "\nNote: no tests ran, so nothing was verified. Find the tests (list_files) and run them with "
    "the runner they are written for (pytest-style test functions: python -m pytest -q)."
)


def format_command_output(out: CommandOutput, timeout: float) -> str:
    """The tool result shown to the model: the output, then ``Exit code: N`` or an ``Error:`` line.

    Values of llm's stored keys and of secret-looking variables in this process's environment are
    redacted, so a command such as ``cat ~/.config/io.datasette.llm/keys.json`` cannot leak them.
    """
    text = out.text if out.text else "(no output)"
    if not text.endswith("\n"):
        text += "\n"
    if out.timed_out:
        try:
            shown = f"{normalize_timeout(timeout):g}"
        except ToolError:
            shown = str(timeout)
        # The error comes first (every tool error begins with "Error:", as in 0.1a0).
        error = f"Error: command timed out after {shown} s; the process tree was killed."
        if shown != f"{MAX_TIMEOUT:g}":
            error += f" Pass a larger timeout (at most {MAX_TIMEOUT:g} s) if it needs longer."
        text = error + " Output so far:\n" + text.rstrip("\n")
    else:
        text += f"Exit code: {out.exit_code}"
        if out.exit_code is not None and out.exit_code < 0:
            try:
                text += f" (killed by signal {signal.Signals(-out.exit_code).name})"
            except ValueError:
                text += f" (killed by signal {-out.exit_code})"
        if _NO_TESTS_RAN.search(out.text):
            text += NO_TESTS_NOTE
    return redact(text, secret_values())


# --------------------------------------------------------------------------------------------------
# Bounded capture


def omitted_marker(omitted: int) -> str:
    """The line put where the middle of a long output was dropped.

    It says "truncated" (0.1a0's callers look for that word), how many bytes are missing, and how
    to see them: a model otherwise re-runs the same command and gets the same cut.
    """
    return (
        f"\n[... output truncated: {omitted} bytes omitted; narrow it with grep, head or tail, "
        "or redirect it to a file and read_file that ...]\n"
    )


class _HeadTail:
    """Keeps the first ``head_limit`` and the last ``tail_limit`` bytes of a stream, counting the rest.

    Memory stays below ``head_limit + 2 * tail_limit + one chunk`` whatever the stream length.
    """

    def __init__(self, head_limit: int, tail_limit: int, on_output: Callable[[str], None] | None = None):
        self.head_limit = head_limit
        self.tail_limit = tail_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.on_output = on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes) -> None:
        if self.on_output is not None:
            try:
                text = self._decoder.decode(chunk)
                if text:
                    self.on_output(text)
            except Exception:
                self.on_output = None  # a failing listener is dropped; the command goes on
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        if len(chunk) >= self.tail_limit:
            self.tail = bytearray(chunk[len(chunk) - self.tail_limit :])
            return
        self.tail += chunk
        # Trimming only once the buffer doubles keeps the cost amortised O(1) per byte.
        if len(self.tail) > 2 * self.tail_limit:
            del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> tuple[str, int]:
        """Decoded output (with a marker where bytes were dropped) and the number of bytes dropped."""
        head = bytes(self.head)
        tail = bytes(self.tail[max(0, len(self.tail) - self.tail_limit) :])
        omitted = self.total - len(head) - len(tail)
        if omitted <= 0:
            return (head + tail).decode("utf-8", errors="replace"), 0
        # Cut on UTF-8 character boundaries so the edges do not turn into replacement characters.
        cut = _incomplete_suffix(head)
        if cut:
            head, omitted = head[: len(head) - cut], omitted + cut
        skip = _continuation_prefix(tail)
        if skip:
            tail, omitted = tail[skip:], omitted + skip
        return (
            head.decode("utf-8", errors="replace")
            + omitted_marker(omitted)
            + tail.decode("utf-8", errors="replace"),
            omitted,
        )


def _incomplete_suffix(data: bytes) -> int:
    """Length of a truncated UTF-8 sequence at the end of ``data`` (0 when it ends cleanly)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # continuation byte: keep looking for the lead byte
        if byte & 0x80 == 0:
            return 0
        needed = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return back if back < needed else 0
    return 0


def _continuation_prefix(data: bytes) -> int:
    """Number of leading UTF-8 continuation bytes (the rest of a character cut off in front)."""
    count = 0
    while count < min(3, len(data)) and data[count] & 0xC0 == 0x80:
        count += 1
    return count


# --------------------------------------------------------------------------------------------------
# Process handling


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, start time) of ``pid`` from /proc, or None if it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _descendants(pid: int) -> dict[int, int]:
    """Live descendants of ``pid`` as {pid: start time}, found through /proc (empty elsewhere).

    Needed for children that ``setsid`` away from the process group while their parent still runs.
    """
    children: dict[int, list[tuple[int, int]]] = {}
    for candidate in _all_pids():
        stat = _proc_stat(candidate)
        if stat is not None:
            children.setdefault(stat[1], []).append((candidate, stat[3]))
    found: dict[int, int] = {}
    queue = [pid]
    while queue:
        for child, start in children.get(queue.pop(), ()):
            if child not in found:
                found[child] = start
                queue.append(child)
    return found


def _group_alive(pgid: int) -> bool:
    """True while a non-zombie process remains in process group ``pgid``."""
    if not os.path.isdir("/proc"):
        return True  # cannot tell: the caller falls back to waiting out the grace period
    for candidate in _all_pids():
        stat = _proc_stat(candidate)
        if stat is not None and stat[2] == pgid and stat[0] not in ("Z", "X"):
            return True
    return False


def _same_process_alive(pid: int, start: int) -> bool:
    stat = _proc_stat(pid)
    # Comparing start times guards against signalling an unrelated process that reused the pid.
    return stat is not None and stat[3] == start and stat[0] not in ("Z", "X")


def _signal_tree(pgid: int, extra: Mapping[int, int], sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid, start in extra.items():
        if _same_process_alive(pid, start):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def _terminate_tree(pgid: int, extra: Mapping[int, int], grace: float) -> None:
    """SIGTERM the group and ``extra`` processes, wait up to ``grace`` seconds, then SIGKILL.

    The group leader must not have been reaped yet, so its pid (the pgid) cannot have been reused.
    """
    _signal_tree(pgid, extra, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid) and not any(
            _same_process_alive(pid, start) for pid, start in extra.items()
        ):
            return
        time.sleep(0.02)
    _signal_tree(pgid, extra, signal.SIGKILL)


def _exited(pid: int) -> bool:
    """True once ``pid`` has exited, without reaping it (so its pid and pgid stay reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


def _shell() -> str:
    for candidate in _SHELLS:
        if os.access(candidate, os.X_OK):
            return candidate
    raise ToolError("no shell found (tried /bin/bash and /bin/sh)")


def _pump(
    proc: subprocess.Popen,
    read_fd: int,
    sink: _HeadTail,
    deadline: float,
    stop_on_exit: bool,
) -> bool:
    """Copy output into ``sink`` until EOF, the deadline, or (with ``stop_on_exit``) shortly after
    the process exits. Returns True when the deadline passed with the process still running."""
    selector = selectors.DefaultSelector()
    pidfd = _open_pidfd(proc.pid) if stop_on_exit else None
    try:
        selector.register(read_fd, selectors.EVENT_READ, "out")
        if pidfd is not None:
            selector.register(pidfd, selectors.EVENT_READ, "exit")
        eof = False
        exit_time: float | None = None if stop_on_exit else time.monotonic()
        while True:
            now = time.monotonic()
            if exit_time is None and pidfd is None and _exited(proc.pid):
                exit_time = now
            if eof and exit_time is not None:
                return False
            limit = deadline if exit_time is None else min(deadline, exit_time + DRAIN_AFTER_EXIT)
            if now >= limit:
                return exit_time is None
            # Without a pidfd, exit is noticed by polling; keep the poll cheap but responsive.
            wait = limit - now if pidfd is not None or exit_time is not None else min(limit - now, 0.05)
            for key, _ in selector.select(wait):
                if key.data == "exit":
                    selector.unregister(pidfd)
                    exit_time = time.monotonic()
                    continue
                try:
                    chunk = os.read(read_fd, _CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    sink.feed(chunk)
                else:
                    eof = True
                    selector.unregister(read_fd)
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)


def run_command(
    command: str,
    cwd: Path,
    timeout: float = 120,
    *,
    env: Mapping[str, str] | None = None,
    sandbox: SandboxConfig | None = None,
    max_output: int = 30_000,
    on_output: Callable[[str], None] | None = None,
) -> CommandOutput:
    """Run ``command`` with ``/bin/bash -c`` (or ``/bin/sh``) in ``cwd`` and capture its output.

    * stdout and stderr share one pipe, so the text shows them in the order they were written;
      stdin is ``/dev/null`` so a command waiting for input sees EOF instead of hanging.
    * The command gets its own session and process group. At ``timeout`` seconds (clamped to
      ``(0, 600]``) the whole tree, including descendants that started their own session, gets
      SIGTERM and then SIGKILL, and the partial output is returned with ``timed_out=True``.
      Background jobs still running when the shell exits are ended the same way, so nothing
      outlives the call (in the sandbox the PID namespace guarantees this even for daemons).
    * At most ``max_output`` bytes are kept, half from the start and half from the end, whatever
      the command prints; ``omitted_bytes`` counts the rest.
    * ``env`` defaults to :func:`child_environment` of this process's environment; a mapping given
      explicitly is used as is.
    * With ``sandbox`` the command runs under bubblewrap (:func:`~.sandbox.wrap_argv`) with
      ``TMPDIR=/tmp``; if that is impossible :class:`~.sandbox.SandboxUnavailable` is raised and
      nothing runs.
    * ``on_output`` (optional) receives the output as it arrives, decoded, unredacted and uncut
      (for a live display; the result is the same with or without it).

    If ``KeyboardInterrupt`` (or any other exception) interrupts the wait, the process tree is
    killed before the exception propagates.
    """
    if not isinstance(command, str) or not command.strip():
        raise ToolError("command must be a non-empty string")
    if "\x00" in command:
        raise ToolError("command contains a NUL byte")
    seconds = normalize_timeout(timeout)
    if not isinstance(max_output, int) or max_output < 2:
        raise ValueError("max_output must be an integer of at least 2")
    cwd = Path(cwd)
    if not cwd.is_dir():
        raise ToolError(f"working directory does not exist: {cwd}")

    argv = [_shell(), "-c", command]
    if sandbox is not None:
        problem = bwrap_problem()
        if problem is not None:
            raise SandboxUnavailable(problem)
        argv = wrap_argv(argv, sandbox, chdir=cwd)
    child_env = dict(env) if env is not None else child_environment(os.environ)
    if sandbox is not None:
        # The host's TMPDIR (even one under /tmp) does not exist behind the private /tmp tmpfs.
        child_env["TMPDIR"] = "/tmp"

    read_fd, write_fd = os.pipe()
    try:
        try:
            import fcntl

            fcntl.fcntl(read_fd, _F_SETPIPE_SZ, _CHUNK)
        except (ImportError, OSError):
            pass  # not Linux, or above the system's pipe-max-size: the default pipe still works
        os.set_blocking(read_fd, False)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ToolError(f"could not start the command: {exc}") from exc
        finally:
            # Only the child may hold the write end, or EOF would never arrive.
            os.close(write_fd)
            write_fd = -1

        sink = _HeadTail(max_output // 2, max_output - max_output // 2, on_output)
        timed_out = False
        try:
            timed_out = _pump(proc, read_fd, sink, time.monotonic() + seconds, stop_on_exit=True)
            extra = _descendants(proc.pid) if timed_out else {}
            _terminate_tree(proc.pid, extra, KILL_GRACE if timed_out else 0.1)
            # A final short drain picks up what the tree wrote while dying.
            _pump(proc, read_fd, sink, time.monotonic() + DRAIN_AFTER_EXIT, stop_on_exit=False)
        except BaseException:
            _signal_tree(proc.pid, _descendants(proc.pid), signal.SIGKILL)
            proc.wait()
            raise
        returncode = proc.wait()
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)

    text, omitted = sink.text()
    return CommandOutput(
        text=text,
        exit_code=None if timed_out else returncode,
        timed_out=timed_out,
        omitted_bytes=omitted,
    )
