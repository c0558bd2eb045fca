# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""One run per output folder, and no process outliving its run.

`hold_output_dir(folder)` takes an exclusive `fcntl.flock` on ``<folder>/_run.lock`` for the rest of the process and
writes the holder (pid, host, command, start time) into it; a second run on the folder is refused with
`OutputDirInUse` naming that holder. The OS drops the lock when the holding process dies, however it dies, so a
crashed run never blocks the next one.

Forked children (data-loader and `datasets.map` workers, their managers) inherit the lock, so they must not outlive the
run: once a folder is held, every process forked from here on gets SIGKILL when its parent dies (Linux
`PR_SET_PDEATHSIG`; elsewhere the lock alone is taken).
"""

from __future__ import annotations

import ctypes
import errno
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
HOLDER_WAIT_SECONDS = 2.0  # how long a refused run waits for the holder to finish writing who it is

_held: dict[str, int] = {}  # resolved folder -> descriptor of its lock file, open until the process exits
_forking_pid: int | None = None
_children_die_with_parent = False


class OutputDirInUse(RuntimeError):
    """Another live process holds the output folder."""


def hold_output_dir(folder: str | os.PathLike, option: str = "--output_dir") -> Path:
    """Locks `folder` (created if missing) for this process until it exits; returns the lock file's path.

    Raises `OutputDirInUse` when another process holds it, and `OSError` naming `option` and the folder when the lock
    file cannot be written (a read-only or full file system). Holding a folder twice in one process is a no-op.
    """
    folder = Path(folder).expanduser().resolve()
    path = folder / LOCK_FILE
    if str(folder) in _held:
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OSError(error.errno, f"{option} {folder} is not writable ({error.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(descriptor)
        if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            raise
        raise OutputDirInUse(
            f"{option} {folder} is in use by another run ({describe_holder(path)}); wait for it to end, stop it, or "
            "choose another folder."
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps(holder_record()).encode())
    _held[str(folder)] = descriptor
    make_children_die_with_parent()
    return path


def holder_record() -> dict:
    """Who holds the lock: written into the lock file for the message of a refused run."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def describe_holder(path: Path) -> str:
    """'pid 12 on host, started ...: command' from the lock file (waits briefly for a holder still writing it)."""
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    while True:
        try:
            holder = json.loads(path.read_text())
            return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}: {holder['command']}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return f"holder unknown: {path} does not say"
            time.sleep(0.05)


def make_children_die_with_parent() -> None:
    """From now on, every child forked by this process (and by its children) gets SIGKILL when its parent dies."""
    global _children_die_with_parent
    if _children_die_with_parent or not sys.platform.startswith("linux"):
        return
    _children_die_with_parent = True
    os.register_at_fork(before=_remember_forking_pid, after_in_child=_die_with_parent)


def _remember_forking_pid() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != _forking_pid:  # the parent died before the signal was armed
        os._exit(1)


__all__ = ["LOCK_FILE", "OutputDirInUse", "hold_output_dir"]
