# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Helpers shared by the benchmark scripts: machine description, timing, peak memory, JSON results.

Benchmarks are scripts, not tests. Every comparison runs both sides in one process on the same inputs, with
warm-up iterations, and reports the median of several repeats and the ratio between the sides. Every result
records the machine (CPU model, torch threads, versions) and the load average at the time of measurement, because
the benchmark machine may be shared.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch


REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLING_RATE = 16000


# ---------------------------------------------------------------------------------------------------------------
# Machine and load
# ---------------------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to `platform.processor()`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the speed of the measured code."""
    import numpy
    import transformers

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import torchaudio

        versions["torchaudio"] = torchaudio.__version__
    except ImportError:
        versions["torchaudio"] = "not installed"
    return versions


def machine_info() -> dict:
    """Everything a reader needs to judge a number: CPU, cores, threads, GPU, versions."""
    info = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "versions": package_versions(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (the machine may be shared: compare with `cpu_count`)."""
    return [round(value, 2) for value in os.getloadavg()]


# ---------------------------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------------------------
def synchronize(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], warmup: int = 1, repeats: int = 5, device: str = "cpu") -> dict:
    """Median wall time of `fn()` over `repeats` runs after `warmup` runs.

    Returns:
        {"median_s", "min_s", "max_s", "repeats", "load_avg"} (load average taken at the end).
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": repeats,
        "load_avg": load_average(),
    }


def interleaved_medians(
    fns: dict[str, Callable[[], object]], warmup: int = 1, repeats: int = 5, device: str = "cpu"
) -> dict[str, dict]:
    """Like `median_seconds` for several sides, but the sides alternate within each repeat.

    On a shared machine the load drifts over time; alternating A, B, A, B, ... spreads that drift over both sides
    instead of charging it to whichever side ran second.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    synchronize(device)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    load = load_average()
    return {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "repeats": repeats,
            "load_avg": load,
        }
        for name, values in times.items()
    }


# ---------------------------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------------------------
def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not found in /proc/self/status")


def rss_mib() -> float:
    """Current resident set size of this process, in MiB."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """Peak resident set size of this process's address space (VmHWM), in MiB.

    Not `getrusage().ru_maxrss`: Linux carries ru_maxrss over fork + exec, so a child started by a large parent
    reports the parent's peak. VmHWM belongs to the child's own address space.
    """
    return _status_mib("VmHWM")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (writes 5 to /proc/self/clear_refs, Linux >= 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_json_subprocess(args: list[str], timeout: float | None = None) -> dict:
    """Run `python <args>` in a fresh interpreter and parse the last stdout line as JSON.

    A fresh process per measurement keeps one side's allocations (and allocator caches) out of the other's peak and keeps
    an out-of-memory kill from taking the calling script with it. Returns {"error": ...} when the child fails.
    """
    command = [sys.executable, *args]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if completed.returncode != 0:
        reason = (
            "killed (SIGKILL: most likely out of memory)"
            if completed.returncode == -9
            else f"exit code {completed.returncode}"
        )
        tail = completed.stderr.strip().splitlines()[-3:]
        return {"error": reason, "stderr_tail": tail}
    lines = [line for line in completed.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        return {"error": "no JSON line on stdout", "stderr_tail": completed.stderr.strip().splitlines()[-3:]}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------------------------
# Inputs and results
# ---------------------------------------------------------------------------------------------------------------
def synthetic_clips(num_clips: int, seconds: float, seed: int = 0) -> list:
    """`num_clips` float32 numpy clips of `seconds` at 16 kHz: noise plus a tone, peak below 1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    samples = int(seconds * SAMPLING_RATE)
    t = np.arange(samples) / SAMPLING_RATE
    clips = []
    for _ in range(num_clips):
        tone = np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
        clips.append((0.3 * tone + 0.1 * rng.standard_normal(samples)).astype(np.float32))
    return clips


T_95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57}  # two-sided 95 % Student t quantiles by degrees of freedom


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval over `values` (seeds); nan half-width for one value."""
    if len(values) < 2:
        return float(statistics.fmean(values)), float("nan")
    return float(statistics.fmean(values)), T_95[len(values) - 1] * statistics.stdev(values) / len(values) ** 0.5


def ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def script_path() -> str:
    """The running script, relative to the repository when inside it (results never name this machine's paths)."""
    path = Path(sys.argv[0]).resolve()
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name


def write_results(name: str, payload: dict, directory: Path = RESULTS_DIR) -> Path:
    """Write `payload` (plus the machine description) to <directory>/<name>.json (by default bench/results) and
    return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    full = {
        "benchmark": name,
        "command": " ".join([script_path(), *sys.argv[1:]]),
        "machine": machine_info(),
        "finished_load_avg": load_average(),
        **payload,
    }
    path.write_text(json.dumps(full, indent=2, default=float) + "\n")
    return path


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Print `rows` as a fixed-width table with the given columns (floats to 4 significant digits)."""

    def fmt(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    widths = {col: max(len(col), *(len(fmt(row.get(col, ""))) for row in rows)) for col in columns}
    print("  ".join(col.ljust(widths[col]) for col in columns))
    for row in rows:
        print("  ".join(fmt(row.get(col, "")).ljust(widths[col]) for col in columns))


# ---------------------------------------------------------------------------------------------------------------
# Dispatch census: aten ops and host-device synchronisations
# ---------------------------------------------------------------------------------------------------------------
# Ops whose result size or value the host must read from the device: each one waits for the device queue to drain.
SYNC_OPS = frozenset(
    {
        "aten._local_scalar_dense",  # .item(), bool(), int(), float() of a tensor
        "aten.item",
        "aten.is_nonzero",
        "aten.equal",
        "aten.nonzero",
        "aten.masked_select",
        "aten.unique",
        "aten._unique2",
        "aten.unique_consecutive",
        "aten.unique_dim",
        "aten.repeat_interleave",  # the Tensor-repeats overload computes its output size from the values
    }
)
BOOLEAN_INDEX_OPS = frozenset({"aten.index", "aten.index_put", "aten.index_put_", "aten._index_put_impl_"})


def _is_sync(name: str, args) -> bool:
    """True for an op that synchronises: a `SYNC_OPS` op, or indexing with a boolean mask (a data-dependent shape)."""
    if name in SYNC_OPS:
        return True
    if name in BOOLEAN_INDEX_OPS and len(args) > 1 and isinstance(args[1], (list, tuple)):
        return any(isinstance(index, torch.Tensor) and index.dtype == torch.bool for index in args[1])
    return False


def _caller_line() -> str:
    """`file:line` of the innermost frame outside torch (where the synchronising call was written)."""
    import traceback

    for frame in reversed(traceback.extract_stack()[:-3]):
        if "/torch/" not in frame.filename and not frame.filename.endswith("common.py"):
            return f"{Path(frame.filename).name}:{frame.lineno}"
    return "unknown"


class DispatchCensus:
    """Counts every aten op dispatched inside the `with` block, and the host-device synchronisations among them with
    the source line that caused each (`syncs`: list of (op, "file:line")). Device-independent: a CPU run lists the
    synchronisations a GPU run would make (boolean indexing, `.item()`, `nonzero`, ...).

        with DispatchCensus() as census:
            step()
        census.ops, census.syncs
    """

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        census = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                name = func.name().split(".")[0].replace("::", ".")  # "aten::index.Tensor" -> "aten.index"
                census.ops += 1
                if census.count_syncs and _is_sync(name, args):
                    census.syncs.append((name, _caller_line()))
                return func(*args, **(kwargs or {}))

        self.ops = 0
        self.syncs: list[tuple[str, str]] = []
        self.count_syncs = True  # callers turn it off around reads of host tensors (a CPU run cannot tell them apart)
        self._mode = _Mode()

    def __enter__(self) -> DispatchCensus:
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
