# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""One run per output folder, and no process outliving its run.

`hold_output_dir` takes an exclusive `fcntl.flock` on ``<folder>/_run.lock`` for the rest of the process and writes
the holder (pid, host, command, start time) into it; the OS drops the lock when the process dies, however it dies.
Forked children (data-loader and `datasets.map` workers, their managers) inherit the lock, so from then on each one
gets SIGKILL when its parent dies (Linux `PR_SET_PDEATHSIG`).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path


LOCK_FILE = "_run.lock"  # the leading underscore keeps it out of the Trainer's push_to_hub uploads
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_held: dict[str, int] = {}  # resolved folder -> descriptor of its lock file, open until the process exits
_forking_pid = 0


class OutputDirInUse(RuntimeError):
    """Another live process holds the output folder."""


def hold_output_dir(folder: str | os.PathLike, option: str = "--output_dir") -> None:
    """Locks `folder` (created if missing) until this process exits; a no-op when this process holds it already.
    Raises `OutputDirInUse` naming the holder, or `OSError` naming `option` when the folder is not writable."""
    folder = Path(folder).expanduser().resolve()
    if str(folder) in _held:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OSError(error.errno, f"{option} {folder} is not writable ({error.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise OutputDirInUse(
            f"{option} {folder} is in use by another run ({describe_holder(folder / LOCK_FILE)}); wait for it to "
            "end, stop it, or choose another folder."
        ) from None
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join([sys.executable, *sys.argv])}
    holder["started"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps(holder).encode())
    _held[str(folder)] = descriptor
    if len(_held) == 1 and sys.platform.startswith("linux"):
        os.register_at_fork(before=_remember_forking_pid, after_in_child=_die_with_parent)


def describe_holder(path: Path, wait_seconds: float = 2.0) -> str:
    """'pid 12 on host, started ...: command', read from the lock file (waiting for a holder still writing it)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            holder = json.loads(path.read_text())
            return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: {holder['command']}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return "its lock file does not say which"
            time.sleep(0.05)


def _remember_forking_pid() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != _forking_pid:  # the parent died before the signal was armed
        os._exit(1)


__all__ = ["LOCK_FILE", "OutputDirInUse", "hold_output_dir"]
