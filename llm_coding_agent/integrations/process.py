"""Running a user-supplied program (a hook, a tool the agent wrote) in a separate process: in the
sandbox when one is given, with JSON on stdin, a timeout, and bounded stdout and stderr.

Unlike :func:`~llm_coding_agent.tools.shell.run_command` (a model's command: merged output,
stdin closed), these programs read their input from stdin and report through stdout and stderr
separately (a hook's stderr is its message), so they get a runner of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..tools.sandbox import SandboxConfig, wrap_argv
from ..tools.shell import child_environment

__all__ = ["ProcessOutcome", "run_process", "MAX_OUTPUT"]

#: Bytes kept of each of stdout and stderr (the rest is read and dropped, so the program never
#: blocks on a full pipe).
MAX_OUTPUT = 20_000


@dataclass
class ProcessOutcome:
    """What a finished (or stopped) program left: exit status, output, and whether it timed out."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    #: Set when the program could not be started at all (a missing interpreter, bwrap failing).
    start_error: str | None = None

    @property
    def missing_program(self) -> bool:
        """The shell could not find (127) or execute (126) the program."""
        return self.start_error is not None or self.returncode in (126, 127)


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    stdin_text: str = "",
    timeout: float = 60,
    sandbox: SandboxConfig | None = None,
    env: dict[str, str] | None = None,
    max_output: int = MAX_OUTPUT,
) -> ProcessOutcome:
    """Run ``argv`` in ``cwd`` (under bubblewrap when ``sandbox`` is given), feeding it
    ``stdin_text``. At ``timeout`` seconds its process group is killed (in the sandbox the PID
    namespace takes every descendant with it). Secret-looking environment variables are removed
    unless ``env`` is given."""
    if sandbox is not None:
        argv = wrap_argv(argv, sandbox, chdir=cwd)
    environment = env if env is not None else child_environment(os.environ)
    try:
        process = subprocess.Popen(
            argv, cwd=str(cwd), env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as ex:
        return ProcessOutcome(None, "", "", start_error=f"{argv[0]}: {ex.strerror or ex}")
    stdout: list[bytes] = []
    stderr: list[bytes] = []
    threads = [
        threading.Thread(target=_feed, args=(process.stdin, stdin_text.encode("utf-8")), daemon=True),
        threading.Thread(target=_drain, args=(process.stdout, stdout, max_output), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, stderr, max_output), daemon=True),
    ]
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(process)
    except BaseException:
        _kill(process)  # Ctrl-C: nothing outlives the agent's wait
        raise
    for thread in threads:
        # A daemon left behind by an unsandboxed program may hold the pipes open: do not wait on it.
        thread.join(timeout=2)
    return ProcessOutcome(
        None if timed_out else process.returncode,
        _text(stdout, max_output),
        _text(stderr, max_output),
        timed_out=timed_out,
    )


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        return
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass  # a program that does not read its input is fine
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _drain(pipe: IO[bytes] | None, into: list[bytes], limit: int) -> None:
    if pipe is None:
        return
    kept = 0
    try:
        for chunk in iter(lambda: pipe.read1(65536), b""):  # type: ignore[attr-defined]
            if kept < limit:
                into.append(chunk[: limit - kept + 1])  # one byte over: "was cut" is visible
                kept += len(into[-1])
    except (OSError, ValueError):
        pass
    finally:
        pipe.close()


def _text(chunks: list[bytes], limit: int) -> str:
    data = b"".join(chunks)
    text = data[:limit].decode("utf-8", "replace")
    return text + "\n[... output cut]" if len(data) > limit else text


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
