"""Detached child processes: start them in their own process group, check, stop.

Processes are started with ``setsid`` so they outlive the command that started
them and are not hit by its terminal's signals. Each is recorded with its pid
and its start time from ``/proc``; :func:`stop_process` signals the recorded
process group only if that pid still belongs to the same process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from aggregator.devnet.manifest import ProcessRecord
from aggregator.errors import DevnetError

__all__ = [
    "ANVIL_ENV",
    "anvil_binary",
    "free_port",
    "is_running",
    "log_tail",
    "spawn",
    "stop_process",
]

ANVIL_ENV: Final = "AGGREGATOR_ANVIL"

_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG: Final = 1

# Children of this process, kept so they are reaped (no zombies) once stopped.
_children: dict[int, subprocess.Popen[bytes]] = {}


def anvil_binary() -> Path:
    """``$AGGREGATOR_ANVIL`` if set, else ``node_modules/.bin/anvil`` in the repository."""
    override = os.environ.get(ANVIL_ENV)
    path = Path(override).expanduser() if override else _REPO_ROOT / "node_modules/.bin/anvil"
    if not os.access(path, os.X_OK):
        raise DevnetError(
            f"anvil not found at {path}: run `npm ci` in the repository or set {ANVIL_ENV}",
            path=str(path),
        )
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time), or ``None`` if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is parenthesised and may contain spaces.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()[0]


def _die_with_parent() -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    die_with_parent: bool = False,
    env: dict[str, str] | None = None,
) -> ProcessRecord:
    """Start ``argv`` detached in a new session, stdout and stderr appended to ``log_path``.

    With ``die_with_parent`` (Linux), the process also receives SIGTERM when the
    calling process dies, so a killed test run leaves nothing behind.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent() if die_with_parent else None,
                env=env,
            )
        except OSError as exc:
            raise DevnetError(f"cannot start {name}: {exc}", argv=list(argv)) from exc
    _children[proc.pid] = proc
    return ProcessRecord(
        name=name, pid=proc.pid, start_ticks=_start_ticks(proc.pid), log=str(log_path)
    )


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def is_running(record: ProcessRecord) -> bool:
    """Whether the recorded process is still alive (zombies and reused pids count as gone)."""
    _reap(record.pid)
    state = _state(record.pid)
    if state is None or state in ("Z", "X"):
        return False
    if record.start_ticks is not None and _start_ticks(record.pid) != record.start_ticks:
        return False
    return True


def stop_process(record: ProcessRecord, timeout: float = 5.0) -> bool:
    """SIGTERM the recorded process group, SIGKILL after ``timeout``; ``True`` if it was running."""
    if not is_running(record):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(record.pid, sig)
        deadline = time.monotonic() + timeout
        while is_running(record):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        else:
            return True
    raise DevnetError(f"{record.name} (pid {record.pid}) survived SIGKILL", pid=record.pid)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: str | Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (empty if unreadable)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
