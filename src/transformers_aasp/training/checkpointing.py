# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-training checkpoints that survive a kill and never execute code when resumed.

``<output_dir>/checkpoints/checkpoint_<i>`` is written as ``checkpoint_<i>.incomplete`` (`accelerator.save_state`,
every file fsynced, then `training_state.json`: counters and scheduler in JSON) and renamed when complete; only then
is the oldest one deleted, so a kill, a power loss or a full disk leaves the last complete checkpoint in place. Resume
reads JSON, safetensors and `torch.load(weights_only=True)` files only, and refuses files that would be unpickled
unrestricted; `latest` skips (with a warning) complete checkpoints whose files are empty or truncated.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import broadcast_object_list
from safetensors import SafetensorError, safe_open
from transformers.utils import logging


logger = logging.get_logger(__name__)

CHECKPOINTS_DIR = "checkpoints"
TRAINING_STATE_FILE = "training_state.json"  # written last: a folder without it is not a checkpoint
STAGING_SUFFIX = ".incomplete"
UNREADABLE_SUFFIX = ".unreadable"  # a complete checkpoint that resume found unreadable, kept aside for inspection
CHECKPOINT_NAME = re.compile(r"checkpoint_(\d+)")
TORCH_FILE_SUFFIXES = (".bin", ".pt", ".pkl")  # torch.save zip archives (optimizer, scaler, RNG states)
RNG_STATE_FILE = "random_states_{rank}.pkl"  # Accelerate's name; read back with weights_only=True
# files whose loader would unpickle arbitrary objects: Accelerate's custom objects (weights_only=False) and the
# metadata of torch.distributed.checkpoint (pickle.load)
UNSAFE_FILE_PATTERNS = (re.compile(r"custom_checkpoint_\d+\.pkl"), re.compile(r".*\.metadata"))


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed safely or exactly; the message names the file and what to do."""


@dataclass
class TrainingProgress:
    """Counters and scheduler state saved with every checkpoint (identical on all processes). `step` counts optimizer
    steps attempted (they drive the EMA and learning-rate schedules), `updates` those applied. The sampler state is
    `consumed_clips` (stream positions read by all processes together; with the seed it fixes the epoch and the
    order), so a resume on another number of processes reads on from the same clip."""

    step: int = 0
    updates: int = 0
    consumed_clips: int = 0
    num_processes: int = 0  # that wrote the checkpoint; 0 in checkpoints of older versions
    skipped_clips: int = 0  # unusable clips met so far, all processes
    nonfinite_steps: int = 0  # steps skipped because of a non-finite loss or gradient
    consecutive_bad_steps: int = 0
    scheduler: dict = field(default_factory=dict)  # `scheduler.state_dict()`: numbers and lists only

    def save(self, directory: Path) -> None:
        path = Path(directory) / TRAINING_STATE_FILE
        with path.open("w") as stream:
            stream.write(json.dumps(asdict(self), indent=2))
            stream.flush()
            os.fsync(stream.fileno())

    @classmethod
    def load(cls, directory: Path) -> TrainingProgress:
        path = Path(directory) / TRAINING_STATE_FILE
        try:
            content = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CheckpointError(f"{path} is not a readable JSON training state: {error}") from None
        known = set(cls.__dataclass_fields__)
        if not isinstance(content, dict) or not {"step", "updates"} <= set(content) or set(content) - known:
            raise CheckpointError(f"{path} does not hold a training state (expected the keys {sorted(known)}).")
        counters = {key: value for key, value in content.items() if key != "scheduler"}
        bad = sorted(key for key, value in counters.items() if type(value) is not int or value < 0)
        if bad:
            raise CheckpointError(f"{path}: {', '.join(bad)} must be non-negative integers; the file was altered.")
        if not isinstance(content.get("scheduler", {}), dict):
            raise CheckpointError(f"{path}: `scheduler` must be a mapping (a scheduler state_dict).")
        return cls(**content)


def checkpoint_number(path: Path) -> int | None:
    """i of a final ``checkpoint_<i>`` folder name; None for anything else (staging folders included)."""
    match = CHECKPOINT_NAME.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def is_complete(path: Path) -> bool:
    return checkpoint_number(path) is not None and (Path(path) / TRAINING_STATE_FILE).is_file()


def fsync_tree(folder: Path) -> None:
    """Flushes every file and folder under `folder` to the disk (a checkpoint is marked complete only after this)."""
    for path in [*sorted(folder.rglob("*")), folder]:
        if not path.is_file():
            fsync_directory(path)
            continue
        with path.open("rb") as stream:
            os.fsync(stream.fileno())


def unreadable_reason(checkpoint: Path) -> str | None:
    """Why `checkpoint` cannot be resumed (a file empty, truncated, altered or unsafe), or None. Checks the training
    state, the safetensors headers and sizes and the torch files' zip directories; reads no tensor."""
    try:
        refuse_unsafe_files(checkpoint)
        TrainingProgress.load(checkpoint)
    except CheckpointError as error:
        return str(error)
    for path in sorted(checkpoint.rglob("*")):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt"):
                    pass
            elif path.suffix in TORCH_FILE_SUFFIXES:
                zipfile.ZipFile(path).close()
        except (SafetensorError, OSError, zipfile.BadZipFile) as error:
            return f"{path.name} is unreadable ({error})"
    return None


def fsync_directory(path: Path) -> None:
    """Makes a rename inside `path` durable (no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class CheckpointStore:
    """The checkpoints of one run in ``output_dir/checkpoints``: find, write (staged, then renamed), rotate, resume.

    `total_limit` complete checkpoints are kept (None or <= 0: all). `before_commit(staging_folder, progress)` is called
    on the main process once every file but `training_state.json` is written (tests interrupt a write there).
    """

    def __init__(
        self,
        output_dir: str | Path,
        total_limit: int | None = None,
        before_commit: Callable[[Path, TrainingProgress], None] | None = None,
    ):
        self.folder = Path(output_dir) / CHECKPOINTS_DIR
        self.total_limit = total_limit if total_limit and total_limit > 0 else None
        self.before_commit = before_commit
        self.skipped: list[Path] = []  # unreadable complete checkpoints `find` passed over; set aside by `rotate`

    def complete(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(
            (path for path in self.folder.iterdir() if is_complete(path)),
            key=lambda path: checkpoint_number(path) or 0,
        )

    def leftovers(self) -> list[Path]:
        """Folders of interrupted writes: staging folders and ``checkpoint_<i>`` folders without a training state."""
        if not self.folder.is_dir():
            return []
        return [
            path
            for path in self.folder.iterdir()
            if path.name.endswith(STAGING_SUFFIX) or (checkpoint_number(path) is not None and not is_complete(path))
        ]

    def find(self, spec: str | None) -> Path | None:
        """`'latest'`: the newest readable complete checkpoint, skipping unreadable ones with a warning (None when
        there is none; `CheckpointError` when none is readable); otherwise the given folder."""
        if not spec:
            return None
        if spec == "latest":
            complete = self.complete()
            if not complete:
                logger.warning(
                    f"--resume_from_checkpoint latest: no complete checkpoint in {self.folder}; starting fresh."
                )
            for checkpoint in reversed(complete):
                reason = unreadable_reason(checkpoint)
                if reason is None:
                    return checkpoint
                logger.warning(f"Skipping the checkpoint {checkpoint}: {reason}. Trying the previous one.")
                self.skipped.append(checkpoint)
            if complete:
                raise CheckpointError(
                    f"None of the {len(complete)} complete checkpoint(s) in {self.folder} is readable (see the "
                    "warnings above); pass --overwrite_output_dir to start over."
                )
            return None
        path = Path(spec)
        if not (path / TRAINING_STATE_FILE).is_file():
            raise FileNotFoundError(f"{spec} is not a complete checkpoint (no {TRAINING_STATE_FILE}).")
        return path

    def next_number(self) -> int:
        """One past every checkpoint number in use, complete or not, so a save never collides."""
        if not self.folder.is_dir():
            return 0
        numbers = [CHECKPOINT_NAME.match(path.name) for path in self.folder.iterdir()]
        return max((int(match.group(1)) for match in numbers if match), default=-1) + 1

    def save(self, accelerator, progress: TrainingProgress) -> Path:
        """Writes a checkpoint from every process; returns its final folder (call on every process)."""
        (number,) = broadcast_object_list([self.next_number() if accelerator.is_main_process else 0])
        staging = self.folder / f"checkpoint_{number}{STAGING_SUFFIX}"
        final = self.folder / f"checkpoint_{number}"
        if accelerator.is_main_process:
            self.folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
        accelerator.wait_for_everyone()
        try:
            accelerator.save_state(str(staging))
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                if self.before_commit is not None:
                    self.before_commit(staging, progress)
                fsync_tree(staging)
                progress.save(staging)
                fsync_directory(staging)
                os.replace(staging, final)
                fsync_directory(self.folder)
        except (OSError, RuntimeError, SafetensorError) as error:  # a full disk, a read-only or vanished folder
            raise self.write_failed(staging, error) from error
        if accelerator.is_main_process:
            self.rotate()
        accelerator.wait_for_everyone()
        return final

    def write_failed(self, staging: Path, error: BaseException) -> CheckpointError:
        """Deletes the partial write (freeing its space); the error names the cause and the checkpoint that survives."""
        shutil.rmtree(staging, ignore_errors=True)
        complete = self.complete()
        kept = f"the last complete checkpoint, {complete[-1]}, is intact" if complete else "no checkpoint was complete"
        return CheckpointError(
            f"Could not write the checkpoint {staging} ({type(error).__name__}: {error}); {kept}. Free space or fix "
            "the folder, then rerun with --resume_from_checkpoint latest."
        )

    def rotate(self) -> None:
        """Sets aside the checkpoints `find` skipped as unreadable, deletes the oldest complete checkpoints beyond the
        limit, then leftovers of interrupted writes."""
        for path in self.skipped:
            if path.is_dir():
                logger.warning(f"Renaming the unreadable checkpoint {path} to {path.name}{UNREADABLE_SUFFIX}.")
                os.replace(path, path.with_name(path.name + UNREADABLE_SUFFIX))
        self.skipped = []
        complete = self.complete()
        if self.total_limit is not None:
            for path in complete[: max(0, len(complete) - self.total_limit)]:
                logger.info(f"Deleting {path} (checkpoints_total_limit={self.total_limit}).")
                shutil.rmtree(path)
        for path in self.leftovers():
            logger.warning(f"Deleting {path}: a checkpoint whose write was interrupted.")
            shutil.rmtree(path, ignore_errors=True)

    def load(self, accelerator, checkpoint: Path, allow_rng_state_errors: bool = False) -> TrainingProgress:
        """Restores model, optimizer, scaler and RNG states from `checkpoint` without unpickling code."""
        checkpoint = Path(checkpoint)
        refuse_unsafe_files(checkpoint)
        progress = TrainingProgress.load(checkpoint)
        try:
            accelerator.load_state(str(checkpoint))
        except CheckpointError:
            raise
        except Exception as error:  # a weights_only refusal, a truncated file, a shape mismatch
            raise CheckpointError(f"Cannot resume from {checkpoint}: {type(error).__name__}: {error}") from error
        if progress.num_processes in (0, accelerator.num_processes):
            restore_rng_states(checkpoint, accelerator.process_index, allow_rng_state_errors)
        else:  # per-process RNG files do not map onto other processes; the caller reseeds (data and masks are seeded)
            logger.info(
                f"{checkpoint} was written by {progress.num_processes} processes, resumed on "
                f"{accelerator.num_processes}: its per-process random states are not restored."
            )
        return progress


def refuse_unsafe_files(checkpoint: Path) -> None:
    """Raises `CheckpointError` if `checkpoint` holds a file that resuming would have to unpickle unrestricted."""
    unsafe = sorted(
        path.name
        for path in checkpoint.rglob("*")
        if any(pattern.fullmatch(path.name) for pattern in UNSAFE_FILE_PATTERNS)
    )
    if unsafe:
        raise CheckpointError(
            f"{checkpoint} holds {unsafe}: loading them would unpickle arbitrary objects (possibly running code), "
            "so resume refuses. Checkpoints of this version never contain them (a checkpoint of an older version "
            "stored the scheduler as custom_checkpoint_0.pkl; FSDP must use fsdp_state_dict_type FULL_STATE_DICT)."
        )


def restore_rng_states(checkpoint: Path, rank: int, allow_errors: bool = False) -> None:
    """Sets the Python, NumPy and torch RNGs from ``random_states_<rank>.pkl`` (`torch.load(weights_only=True)`).
    Accelerate only logs a failure at INFO level; here it is an error unless `allow_errors` (then a warning)."""
    path = checkpoint / RNG_STATE_FILE.format(rank=rank)
    try:
        with torch.serialization.safe_globals(numpy_rng_globals()):
            states = torch.load(path, map_location="cpu", weights_only=True)
        random.setstate(tuple_tree(states["random_state"]))
        np.random.set_state(tuple_tree(states["numpy_random_seed"]))
        torch.set_rng_state(states["torch_manual_seed"])
        if torch.cuda.is_available() and "torch_cuda_manual_seed" in states:
            torch.cuda.set_rng_state_all(states["torch_cuda_manual_seed"])
    except Exception as error:  # missing, truncated, refused by weights_only, wrong content
        message = (
            f"Could not restore the random number generator states from {path} ({type(error).__name__}: {error}). "
            "The resumed run will not be bit-identical to an uninterrupted one"
        )
        if not allow_errors:
            raise CheckpointError(message + "; pass --allow_rng_state_errors to continue anyway.") from None
        logger.warning(message + " (continuing: --allow_rng_state_errors).")


def numpy_rng_globals() -> list:
    """The NumPy functions and types a pickled `np.random.get_state()` needs (no code-running callable)."""
    core = getattr(np, "_core", None) or getattr(np, "core")  # noqa: B009  (numpy 2 renamed `core` to `_core`)
    multiarray = core.multiarray
    return [multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def tuple_tree(value: Any) -> Any:
    """Lists back to tuples (`random.setstate` needs tuples)."""
    return tuple(tuple_tree(item) for item in value) if isinstance(value, (list, tuple)) else value


__all__ = [
    "CHECKPOINTS_DIR",
    "TRAINING_STATE_FILE",
    "CheckpointError",
    "CheckpointStore",
    "TrainingProgress",
    "refuse_unsafe_files",
    "restore_rng_states",
]
