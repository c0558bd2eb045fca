# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""`aasp-demo`: the whole AaSP story on a laptop CPU, in one command (docs/demo.md).

    aasp-demo                                       # in a source checkout; or: make demo

Steps (each one the real script a user would run, as a subprocess whose output is saved to a log):
    1. build the embedded corpus (cached; in this process, with progress bars);
    2. the log-mel statistics baselines on every embedded task (examples/logmel_baseline.py, once per feature set
       of `baseline.feature_sets`: `stats`, the baseline the learning-quality goal is stated against, and `full`,
       a stronger hand-designed one; no model involved);
    3. pre-train a tiny AaSP with examples/pretrain.py;
    4. on the pre-trained encoder: a short fine-tune on every embedded task (examples/finetune.py; checkpoint + model
       card per task), linear evaluation of the frozen encoder on every task (examples/linear_eval.py) and the
       figures (examples/make_figures.py);
    5. reload one fine-tuned checkpoint with pipeline("audio-classification") and classify held-out clips;
    6. print a short report and write it to <output_dir>/report.json and report.md: per task each log-mel
       baseline, linear evaluation, fine-tune and chance, flagging a fine-tune that is below a baseline.
The runs of steps 2 and 4 do not depend on each other: `jobs` of them run at once (2 in the shipped config), each
with its share of the cores and its output in its log; with `jobs: 1` they run one at a time, with every core, and
their output streams to the terminal too.
Every default lives in the one config file, shipped in the package (`aasp-demo --print_config` shows it);
`--config`, `--output_dir`, `--source_dir` and `--set section.key=value` override it. The steps are the example
scripts of a source checkout, which a wheel does not install: outside one, the demo stops before any work and says
so. It needs the `[demo]` extra (`pip install 'transformers-aasp[demo]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml  # a transformers dependency: `aasp-demo` starts (and reports what is missing) in a core install
from transformers.utils import logging

from ..extras import missing_distributions


logger = logging.get_logger(__name__)

DEFAULT_CONFIG = Path(__file__).with_name("demo.yaml")  # package data
# The source checkout an editable install points to (src/transformers_aasp/cli/demo.py -> the repository root).
INSTALLED_FROM = Path(__file__).resolve().parents[3]
CONFIG_SECTIONS = ("corpus", "baseline", "pretrain", "linear_eval", "finetune", "classify", "figures")
TOP_LEVEL_KEYS = ("output_dir", "source_dir", "offline", "tasks", "jobs", *CONFIG_SECTIONS)
SECTION_KEYS = {
    "corpus": ("seed", "cache_dir", "clips_per_class"),
    "baseline": ("feature_sets", "args"),
    "pretrain": ("config", "args"),
    "linear_eval": ("args",),
    "finetune": ("args",),
    "classify": ("task", "num_clips"),
    "figures": ("enabled",),
}
SCRIPTS = ("logmel_baseline.py", "pretrain.py", "linear_eval.py", "finetune.py", "make_figures.py")
# The `--feature_set` choices of examples/logmel_baseline.py (`evaluation.baseline.FEATURE_SETS`, not imported: it
# needs the [train] extra), with what each one is, for the report.
BASELINE_FEATURE_SETS = ("stats", "full")
BASELINE_DESCRIPTIONS = {
    "stats": "per mel bin mean and std over time, the baseline the learning-quality goal is stated against",
    "full": "stats + std of frame differences + modulation spectrum, a stronger hand-designed baseline",
}
# Set by the demo for the baseline step: its output folder, its task, its feature set (one run per entry of
# `baseline.feature_sets`), and the corpus size of the linear-evaluation step, so that the baseline and the encoder
# are scored on the same test clips.
BASELINE_RESERVED_ARGS = ("output_dir", "benchmark", "feature_set", "corpus_clips_per_class")
# The corpus size is one demo setting (`corpus.clips_per_class`), passed to every step; a step may not set its own.
CORPUS_SIZE_FLAGS = {
    "pretrain": "embedded_clips_per_class",
    "linear_eval": "corpus_clips_per_class",
    "finetune": "corpus_clips_per_class",
}
TAIL_LINES_ON_FAILURE = 25
# What the demo imports, in this process or in its steps: {module: distribution}; all of them come with the [demo]
# extra.


class DemoError(RuntimeError):
    """A demo step could not run or failed; the message says which and where its log is."""


# ----------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class DemoConfig:
    """The resolved demo configuration (paths absolute)."""

    output_dir: Path
    source_dir: Path
    tasks: list[str]
    offline: bool = True
    jobs: int = 1
    corpus: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    pretrain: dict = field(default_factory=dict)
    linear_eval: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)
    classify: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    @property
    def examples_dir(self) -> Path:
        return self.source_dir / "examples"

    @property
    def pretrain_dir(self) -> Path:
        return self.output_dir / "pretrain"

    @property
    def encoder_dir(self) -> Path:
        return self.pretrain_dir / "final"

    @property
    def figures_dir(self) -> Path:
        return self.output_dir / "figures"

    @property
    def logs_dir(self) -> Path:
        return self.output_dir / "logs"

    def finetune_dir(self, task: str) -> Path:
        return self.output_dir / "finetune" / task

    @property
    def linear_eval_dir(self) -> Path:
        return self.output_dir / "linear_eval"

    @property
    def baseline_dir(self) -> Path:
        return self.output_dir / "logmel_baseline"

    def baseline_output_dir(self, feature_set: str) -> Path:
        return self.baseline_dir / feature_set

    @property
    def baseline_feature_sets(self) -> list[str]:
        """The feature sets the log-mel baseline runs with, in report order (default: every one)."""
        return list(self.baseline.get("feature_sets", BASELINE_FEATURE_SETS))


def load_demo_config(
    path: str | os.PathLike = DEFAULT_CONFIG,
    output_dir: str | None = None,
    overrides: list[str] = (),
    source_dir: str | os.PathLike | None = None,
) -> DemoConfig:
    """Reads and checks the demo YAML and finds the source checkout whose example scripts it runs.

    Args:
        path: the YAML file (default: the one shipped in the package).
        output_dir: replaces the file's `output_dir` (relative to the current directory).
        overrides: ``"section.key=value"`` or ``"section.args.flag=value"`` strings (value parsed as YAML).
        source_dir: replaces the file's `source_dir` (relative to the current directory).

    Raises:
        FileNotFoundError: no file at `path`. ValueError: a key or value is wrong (the message names it).
        DemoError: no source checkout (the message says where it looked and what to do).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Demo config {path} does not exist.")
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(content).__name__}.")
    for override in overrides:
        apply_override(content, override)
    check_config_keys(content, path)
    config = DemoConfig(
        output_dir=Path(output_dir or content.get("output_dir") or "outputs/demo").resolve(),
        source_dir=Path(),  # found below, once the rest of the config is known to be valid
        tasks=list(content.get("tasks") or []),
        offline=bool(content.get("offline", True)),
        jobs=content.get("jobs", 1),
        **{section: dict(content.get(section) or {}) for section in CONFIG_SECTIONS},
    )
    validate_config(config, path)
    config.source_dir = source_checkout(source_dir, content.get("source_dir"), path)
    if config.pretrain.get("config"):
        config.pretrain["config"] = str((config.source_dir / config.pretrain["config"]).resolve())
        if not Path(config.pretrain["config"]).is_file():
            raise ValueError(f"{path}: pretrain.config {config.pretrain['config']} does not exist.")
    return config


def source_checkout(from_command_line: str | os.PathLike | None, from_config: str | None, path: Path) -> Path:
    """`--source_dir` (relative to the current directory), else the config's `source_dir` (relative to the config
    file), else `find_source_checkout()`."""
    if from_command_line is not None:
        return resolve_source_dir(Path(from_command_line).resolve(), "--source_dir")
    if from_config is not None:
        return resolve_source_dir((path.resolve().parent / from_config).resolve(), f"{path}: source_dir")
    return find_source_checkout()


def is_source_checkout(folder: Path) -> bool:
    """True when `folder` holds every example script the demo runs (examples/*.py)."""
    return all((folder / "examples" / script).is_file() for script in SCRIPTS)


def resolve_source_dir(folder: Path, origin: str) -> Path:
    if not is_source_checkout(folder):
        missing = [script for script in SCRIPTS if not (folder / "examples" / script).is_file()]
        raise DemoError(f"{origin} {folder} is not a transformers-aasp source checkout: examples/{missing} missing.")
    return folder


def find_source_checkout(candidates: tuple[Path, ...] | None = None) -> Path:
    """The source checkout the demo runs the example scripts of: the current directory, else the checkout an
    editable install of the package points to (the first of `candidates` that holds them all).

    Raises:
        DemoError: none of them is a checkout (a wheel install run outside a clone of the repository).
    """
    candidates = candidates or (Path.cwd(), INSTALLED_FROM)
    for folder in candidates:
        if is_source_checkout(folder):
            return folder.resolve()
    raise DemoError(
        "aasp-demo runs the example scripts of a transformers-aasp source checkout (examples/"
        + ", examples/".join(SCRIPTS)
        + "), which a wheel install does not include, and found none in "
        + " or ".join(str(folder) for folder in candidates)
        + ". Run it inside a clone of the repository (`make demo` there sets everything up), or point to one with "
        "--source_dir PATH (or `source_dir` in the demo config)."
    )


def missing_demo_dependencies() -> list[str]:
    """The distributions of the [demo] extra (which includes [train]) that are not installed."""
    return missing_distributions("demo")


def apply_override(content: dict, override: str) -> None:
    """Sets one ``dotted.key=value`` in the raw config mapping (the value is parsed as YAML)."""
    key, separator, value = override.partition("=")
    if not separator or not key:
        raise ValueError(f"--set expects section.key=value, got {override!r}.")
    *parents, leaf = key.split(".")
    node = content
    for parent in parents:
        node = node.setdefault(parent, {})
        if not isinstance(node, dict):
            raise ValueError(f"--set {override!r}: {parent!r} is not a section.")
    node[leaf] = yaml.safe_load(value)


def check_config_keys(content: dict, path: Path) -> None:
    unknown = sorted(set(content) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; expected some of {list(TOP_LEVEL_KEYS)}.")
    for section, allowed in SECTION_KEYS.items():
        values = content.get(section) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: section {section!r} must be a mapping, got {type(values).__name__}.")
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(
                f"{path}: unknown key(s) {unknown} in section {section!r}; expected some of {list(allowed)}."
            )
        if "args" in values and not isinstance(values["args"] or {}, dict):
            raise ValueError(f"{path}: {section}.args must be a mapping of script flags to values.")


def validate_config(config: DemoConfig, path: Path) -> None:
    from ..data.corpus import EMBEDDED_TASKS

    if not config.tasks:
        raise ValueError(f"{path}: 'tasks' must list at least one embedded task ({sorted(EMBEDDED_TASKS)}).")
    if isinstance(config.jobs, bool) or not isinstance(config.jobs, int) or config.jobs < 1:
        raise ValueError(f"{path}: jobs must be a positive integer (steps run at once), got {config.jobs!r}.")
    unknown = [task for task in config.tasks if task not in EMBEDDED_TASKS]
    if unknown:
        raise ValueError(f"{path}: unknown task(s) {unknown}; the embedded tasks are {sorted(EMBEDDED_TASKS)}.")
    task = config.classify.get("task", config.tasks[0])
    if task not in config.tasks:
        raise ValueError(f"{path}: classify.task {task!r} must be one of the fine-tuned tasks {config.tasks}.")
    num_clips = config.classify.get("num_clips", 5)
    if not isinstance(num_clips, int) or num_clips <= 0:
        raise ValueError(f"{path}: classify.num_clips must be a positive integer, got {num_clips!r}.")
    for section in ("pretrain", "linear_eval", "finetune"):
        if "output_dir" in (getattr(config, section).get("args") or {}):
            raise ValueError(f"{path}: {section}.args.output_dir is set by the demo (under output_dir); remove it.")
        if CORPUS_SIZE_FLAGS[section] in (getattr(config, section).get("args") or {}):
            raise ValueError(
                f"{path}: {section}.args.{CORPUS_SIZE_FLAGS[section]} is set by the demo from corpus.clips_per_class "
                "(every step uses the same corpus); remove it."
            )
    clips_per_class = config.corpus.get("clips_per_class")
    if clips_per_class is not None and (not isinstance(clips_per_class, int) or clips_per_class < 3):
        raise ValueError(f"{path}: corpus.clips_per_class must be an integer >= 3 or null, got {clips_per_class!r}.")
    validate_baseline(config.baseline, path)


def validate_baseline(baseline: dict, path: Path) -> None:
    """`baseline.feature_sets`: a non-empty list of distinct `BASELINE_FEATURE_SETS`; `baseline.args`: no flag the
    demo sets itself."""
    feature_sets = baseline.get("feature_sets", list(BASELINE_FEATURE_SETS))
    if not isinstance(feature_sets, list) or not feature_sets:
        raise ValueError(
            f"{path}: baseline.feature_sets must be a non-empty list of {list(BASELINE_FEATURE_SETS)}, "
            f"got {feature_sets!r}."
        )
    unknown = [feature_set for feature_set in feature_sets if feature_set not in BASELINE_FEATURE_SETS]
    if unknown:
        raise ValueError(
            f"{path}: unknown baseline.feature_sets {unknown}; expected some of {list(BASELINE_FEATURE_SETS)}."
        )
    repeated = [feature_set for index, feature_set in enumerate(feature_sets) if feature_set in feature_sets[:index]]
    if repeated:
        raise ValueError(f"{path}: baseline.feature_sets lists {repeated} more than once; list each feature set once.")
    reserved = sorted(set(baseline.get("args") or {}) & set(BASELINE_RESERVED_ARGS))
    if reserved:
        raise ValueError(
            f"{path}: baseline.args {reserved} are set by the demo (output folder, task, feature set from "
            "baseline.feature_sets, and corpus.clips_per_class, so that the baseline is scored on the same clips); "
            "remove them."
        )


def script_flags(args: dict | None) -> list[str]:
    """{"max_steps": 100, "use_cpu": True, "seed": None} -> ["--max_steps", "100", "--use_cpu"]."""
    flags = []
    for name, value in (args or {}).items():
        if value is None or value is False:
            continue
        if value is True:
            flags.append(f"--{name}")
        elif isinstance(value, (list, tuple)):
            flags += [f"--{name}", *map(str, value)]
        elif isinstance(value, dict):
            flags += [f"--{name}", json.dumps(value)]
        else:
            flags += [f"--{name}", str(value)]
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Running the steps
# ----------------------------------------------------------------------------------------------------------------
class StepPrinter:
    """Numbered step headers with the elapsed time since the demo started (safe to call from several threads)."""

    def __init__(self, total: int, stream=None):
        self.total = total
        self.index = 0
        self.start = time.perf_counter()
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def next_number(self) -> int:
        with self.lock:
            self.index += 1
            return self.index

    def begin(self, title: str, number: int | None = None) -> None:
        """Prints the header of step `number` (default: the next one)."""
        number = number or self.next_number()
        self.write(f"\n=== [{number}/{self.total}] {title} (at {format_duration(self.elapsed())}) ===\n")

    def write(self, text: str) -> None:
        with self.lock:
            self.stream.write(text)
            self.stream.flush()


class RunningProcesses:
    """The subprocesses of the steps that run at the same time, so that when one step fails the others stop."""

    def __init__(self):
        self.lock = threading.Lock()
        self.processes: set[subprocess.Popen] = set()
        self.stopped = False

    def add(self, process: subprocess.Popen) -> None:
        with self.lock:
            if self.stopped:
                process.terminate()
            self.processes.add(process)

    def discard(self, process: subprocess.Popen) -> None:
        with self.lock:
            self.processes.discard(process)

    def stop(self) -> None:
        """Terminates every running step, and any step that starts from now on."""
        with self.lock:
            self.stopped = True
            for process in self.processes:
                process.terminate()


class CommandLineOnly:
    """The terminal stream of a step that runs beside others: shows its command line (`run_logged`'s first write),
    drops the rest of its output, which is in its log."""

    def __init__(self, printer: StepPrinter):
        self.printer = printer
        self.shown = False

    def write(self, text: str) -> None:
        if not self.shown:
            self.shown = True
            self.printer.write(text)

    def flush(self) -> None:
        pass


@dataclass
class StepContext:
    """How a step runs its script: the environment, where its output goes besides its log (None: this process's
    stdout; a `CommandLineOnly` for steps that run at the same time) and the processes to register for stopping."""

    environment: dict[str, str]
    stream: object = None
    running: RunningProcesses | None = None
    log_path: Path | None = None  # the log of the script it ran last

    def run(self, command: list[str], log_path: Path) -> None:
        self.log_path = log_path
        run_logged(command, log_path, self.environment, stream=self.stream, running=self.running)


@dataclass
class Step:
    """One step of the demo: `run(context)` returns its result; `category` is its entry in the report's times."""

    category: str
    title: str
    run: Callable[[StepContext], object]


def threads_per_job(jobs: int, cpu_count: int | None = None) -> int:
    """CPU threads for each of `jobs` steps that run at once: the cores shared out, at least one."""
    return max(1, (cpu_count or os.cpu_count() or 1) // jobs)


def run_steps(steps: list[Step], jobs: int, environment: dict[str, str], printer: StepPrinter, timings: dict) -> list:
    """Runs steps that do not depend on each other, `jobs` at a time, and returns their results in step order.

    With one job (or one step) each step runs alone, with every thread, and its output streams to the terminal.
    Otherwise each runs with `threads_per_job` threads (OMP_NUM_THREADS) and its output only goes to its log; the
    first failure stops the others and is raised. `timings[category]` adds up each step's own duration.
    """
    for step in steps:  # the report lists the kinds of step in the order they start
        timings.setdefault(step.category, 0.0)
    if jobs == 1 or len(steps) == 1:
        return [run_step(step, StepContext(environment), printer, timings) for step in steps]
    threads = threads_per_job(jobs)
    printer.write(
        f"\n--- {len(steps)} steps, {jobs} at a time with {threads} thread(s) each; their output goes to their logs "
        f"(`--set jobs=1` streams it) ---\n"
    )
    running = RunningProcesses()
    failures: list[BaseException] = []  # in the order they happened: the first one stopped the others
    numbers = [printer.next_number() for _ in steps]
    environment = {**environment, "OMP_NUM_THREADS": str(threads)}

    def run_in_pool(step: Step, number: int):
        if running.stopped:
            raise DemoError(f"{step.title}: not started, another step failed.")
        context = StepContext(environment, stream=CommandLineOnly(printer), running=running)
        try:
            return run_step(step, context, printer, timings, number)
        except BaseException as error:
            with running.lock:
                failures.append(error)
            running.stop()
            raise

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_in_pool, step, number) for step, number in zip(steps, numbers, strict=True)]
        wait(futures, return_when=FIRST_EXCEPTION)
        if failures:
            for future in futures:
                future.cancel()
            wait(futures)
    if failures:
        raise failures[0]
    return [future.result() for future in futures]


def run_step(step: Step, context: StepContext, printer: StepPrinter, timings: dict, number: int | None = None):
    """Runs one step, printing its header (and, when its output does not stream, where its log is)."""
    printer.begin(step.title, number)
    start = time.perf_counter()
    result = step.run(context)
    duration = time.perf_counter() - start
    with printer.lock:
        timings[step.category] = timings.get(step.category, 0.0) + duration
    if context.stream is not None:  # its output did not stream: say where it is
        log = f" (log: {context.log_path})" if context.log_path else ""
        printer.write(f"    done in {format_duration(duration)}: {step.title}{log}\n")
    return result


def script_command(config: DemoConfig, script: str, flags: list[str]) -> list[str]:
    path = config.examples_dir / script
    if not path.is_file():
        raise DemoError(
            f"{path} not found. The demo runs the example scripts of a source checkout: run it from the repository "
            "(make demo) or pass --source_dir PATH."
        )
    return [sys.executable, str(path), *flags]


def step_environment(config: DemoConfig) -> dict[str, str]:
    environment = dict(os.environ)
    if config.offline:
        environment.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    if config.corpus.get("cache_dir"):
        from ..data.corpus import CACHE_DIR_ENV

        environment[CACHE_DIR_ENV] = str(Path(config.corpus["cache_dir"]).expanduser().resolve())
    environment.setdefault("PYTHONUNBUFFERED", "1")
    return environment


def run_logged(
    command: list[str],
    log_path: Path,
    environment: dict[str, str],
    stream=None,
    running: RunningProcesses | None = None,
) -> None:
    """Runs `command`, copying its output (progress bars included) to `stream` and to `log_path` as it comes.

    With `running`, the process is registered there while it runs, so that a failing step elsewhere can stop it.
    """
    stream = stream or sys.stdout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream.write(f"$ {shlex.join(command)}\n")
    stream.flush()
    with (
        open(log_path, "wb") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=environment) as process,
    ):
        if running is not None:
            running.add(process)
        out = getattr(stream, "buffer", None)
        while chunk := os.read(process.stdout.fileno(), 8192):
            log.write(chunk)
            if out is not None:
                out.write(chunk)
                out.flush()
            else:
                stream.write(chunk.decode("utf-8", errors="replace"))
        returncode = process.wait()
        if running is not None:
            running.discard(process)
    if returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL_LINES_ON_FAILURE:]
        raise DemoError(
            f"`{Path(command[1]).name}` exited with status {returncode}; full log: {log_path}\n" + "\n".join(tail)
        )


def build_corpus(config: DemoConfig) -> Path:
    from ..data.corpus import build_embedded_corpus

    return build_embedded_corpus(
        cache_dir=config.corpus.get("cache_dir"),
        seed=int(config.corpus.get("seed", 0)),
        clips_per_class=config.corpus.get("clips_per_class"),
    )


def corpus_size_flags(config: DemoConfig, section: str) -> list[str]:
    """The flag that gives a step the demo's corpus size (`corpus.clips_per_class`), or nothing for the default."""
    clips_per_class = config.corpus.get("clips_per_class")
    if clips_per_class is None:
        return []
    flag = CORPUS_SIZE_FLAGS.get(section, "corpus_clips_per_class")
    return [f"--{flag}", str(clips_per_class)]


def pretrain(config: DemoConfig, context: StepContext) -> dict:
    """examples/pretrain.py into <output_dir>/pretrain; returns the last logged training metrics."""
    flags = []
    if config.pretrain.get("config"):
        flags += ["--config", config.pretrain["config"]]
    flags += ["--dataset", "embedded", "--output_dir", str(config.pretrain_dir), "--overwrite_output_dir"]
    flags += corpus_size_flags(config, "pretrain") + script_flags(config.pretrain.get("args"))
    context.run(script_command(config, "pretrain.py", flags), config.logs_dir / "pretrain.log")
    return last_training_record(config.pretrain_dir / "metrics.jsonl")


def last_training_record(path: Path) -> dict:
    """The last metrics record (not an event) of a pre-training ``metrics.jsonl``; {} when there is none."""
    if not path.is_file():
        return {}
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    training = [record for record in records if "event" not in record and "loss" in record]
    return training[-1] if training else {}


def baseline_flags(config: DemoConfig, task: str, feature_set: str) -> list[str]:
    """Flags of examples/logmel_baseline.py for one task and feature set: the demo's corpus size, then
    `baseline.args`."""
    flags = ["--benchmark", task, "--feature_set", feature_set]
    flags += ["--output_dir", str(config.baseline_output_dir(feature_set))]
    return flags + corpus_size_flags(config, "baseline") + script_flags(config.baseline.get("args"))


def logmel_baseline(config: DemoConfig, task: str, feature_set: str, context: StepContext) -> dict:
    """examples/logmel_baseline.py (no model: log-mel statistics + logistic regression) with one feature set, into
    <output_dir>/logmel_baseline/<feature_set>; returns its results JSON."""
    context.run(
        script_command(config, "logmel_baseline.py", baseline_flags(config, task, feature_set)),
        config.logs_dir / f"logmel_baseline_{feature_set}_{task}.log",
    )
    results = config.baseline_output_dir(feature_set) / f"logmel_baseline_{task}.json"
    if not results.is_file():
        raise DemoError(f"logmel_baseline.py wrote no {results}.")
    return json.loads(results.read_text(encoding="utf-8"))


def linear_eval(config: DemoConfig, task: str, context: StepContext) -> dict:
    """examples/linear_eval.py on the frozen encoder; returns its results JSON."""
    output_dir = config.linear_eval_dir / task
    flags = [
        "--model_name_or_path",
        str(config.encoder_dir),
        "--benchmark",
        task,
        "--output_dir",
        str(output_dir),
        "--embedding_cache_dir",
        str(config.linear_eval_dir / "embeddings"),
    ]
    flags += corpus_size_flags(config, "linear_eval") + script_flags(config.linear_eval.get("args"))
    context.run(script_command(config, "linear_eval.py", flags), config.logs_dir / f"linear_eval_{task}.log")
    results = sorted(output_dir.glob(f"linear_eval_{task}_*.json"))
    if not results:
        raise DemoError(f"linear_eval.py wrote no results file into {output_dir}.")
    return json.loads(results[-1].read_text(encoding="utf-8"))


def finetune_flags(config: DemoConfig, task: str, encoder_dir: Path, output_dir: Path) -> list[str]:
    """Flags of examples/finetune.py for one task: the encoder, the demo's corpus size, then `finetune.args`."""
    flags = ["--model_name_or_path", str(encoder_dir), "--benchmark", task, "--output_dir", str(output_dir)]
    return flags + corpus_size_flags(config, "finetune") + script_flags(config.finetune.get("args"))


def finetune(config: DemoConfig, task: str, context: StepContext) -> dict:
    """examples/finetune.py from the pre-trained encoder; returns its results.json."""
    output_dir = config.finetune_dir(task)
    flags = finetune_flags(config, task, config.encoder_dir, output_dir)
    context.run(script_command(config, "finetune.py", flags), config.logs_dir / f"finetune_{task}.log")
    results = output_dir / "results.json"
    if not results.is_file():
        raise DemoError(f"finetune.py wrote no {results}.")
    return json.loads(results.read_text(encoding="utf-8"))


def make_figures(config: DemoConfig, context: StepContext) -> dict[str, str]:
    from ..reporting.figures import FIGURE_FILES

    flags = ["--checkpoint", str(config.encoder_dir), "--output_dir", str(config.figures_dir)]
    metrics = config.pretrain_dir / "metrics.jsonl"
    if metrics.is_file():
        flags += ["--metrics", str(metrics)]
    context.run(script_command(config, "make_figures.py", flags), config.logs_dir / "make_figures.log")
    paths = {name: config.figures_dir / file for name, file in FIGURE_FILES.items()}
    return {name: str(path) for name, path in paths.items() if path.is_file()}


@dataclass
class Prediction:
    file: str
    true_label: str
    predicted_label: str
    score: float

    @property
    def correct(self) -> bool:
        return self.true_label == self.predicted_label


def classify_held_out(config: DemoConfig) -> list[Prediction]:
    """pipeline("audio-classification") on the fine-tuned checkpoint, for the first test clips of its task."""
    from transformers import pipeline

    from ..data import corpus

    task = config.classify.get("task", config.tasks[0])
    num_clips = int(config.classify.get("num_clips", 5))
    folder = corpus.corpus_dir(
        config.corpus.get("cache_dir"),
        seed=int(config.corpus.get("seed", 0)),
        clips_per_class=config.corpus.get("clips_per_class"),
    )
    rows = corpus.read_task_metadata(folder, task, "test")
    rows = pick_one_per_label(rows, num_clips)
    classifier = pipeline("audio-classification", model=str(config.finetune_dir(task)), device="cpu")
    predictions = []
    for row in rows:
        path = folder / task / "test" / row["file_name"]
        best = classifier(str(path), top_k=1)[0]
        predictions.append(Prediction(str(path), row["label"], best["label"], float(best["score"])))
    return predictions


def pick_one_per_label(rows: list[dict], count: int) -> list[dict]:
    """Up to `count` rows, cycling through the labels so that the examples show different classes."""
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    picked, depth = [], 0
    while len(picked) < count and any(len(group) > depth for group in by_label.values()):
        for group in by_label.values():
            if len(group) > depth and len(picked) < count:
                picked.append(group[depth])
        depth += 1
    return picked


# ----------------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class TaskScores:
    """Test accuracies of one task. `baselines` holds the log-mel statistics baseline per feature set (in the order
    of `baseline.feature_sets`); `baseline_ci95` their 95 % Wilson intervals and `num_test_clips` the test clips
    they (and the other scores) were scored on."""

    task: str
    num_classes: int
    linear_eval: float | None = None
    finetune: float | None = None
    finetune_single_view: float | None = None
    baselines: dict[str, float] = field(default_factory=dict)
    baseline_ci95: dict[str, tuple[float, float]] = field(default_factory=dict)
    num_test_clips: int | None = None

    @property
    def chance(self) -> float:
        return 1.0 / self.num_classes

    @property
    def above_chance(self) -> bool:
        scores = [score for score in (self.linear_eval, self.finetune) if score is not None]
        return bool(scores) and all(score > self.chance for score in scores)

    @property
    def finetune_below_baseline(self) -> dict[str, bool]:
        """{feature set: fine-tune below that baseline}; False for every one when no fine-tune was measured."""
        return {
            feature_set: self.finetune is not None and self.finetune < baseline
            for feature_set, baseline in self.baselines.items()
        }

    @property
    def baselines_above_finetune(self) -> list[str]:
        """The feature sets whose baseline the fine-tune is below."""
        return [feature_set for feature_set, below in self.finetune_below_baseline.items() if below]


@dataclass
class DemoReport:
    wall_seconds: float
    load_average: tuple[float, float, float] | None
    cpu_count: int | None
    pretraining: dict
    scores: list[TaskScores]
    predictions: list[Prediction]
    files: dict[str, str]
    step_seconds: dict[str, float] = field(default_factory=dict)
    jobs: int = 1  # steps run at once (their times in step_seconds overlap)

    def to_json(self) -> dict:
        payload = asdict(self)
        for entry, scores in zip(payload["scores"], self.scores, strict=True):
            entry.update(
                chance=scores.chance,
                above_chance=scores.above_chance,
                finetune_below_baseline=scores.finetune_below_baseline,
            )
        return payload


def format_duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def format_percent(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:5.1f} %"


def report_feature_sets(scores: list[TaskScores]) -> list[str]:
    """The baseline feature sets measured on any task, in the order they were run: one report column each."""
    feature_sets: dict[str, None] = {}
    for task_scores in scores:
        feature_sets.update(dict.fromkeys(task_scores.baselines))
    return list(feature_sets)


def baseline_header(feature_set: str) -> str:
    return f"baseline {feature_set}"


def format_report(report: DemoReport) -> str:
    """The text printed at the end of the demo (also saved as report.md)."""
    feature_sets = report_feature_sets(report.scores)
    load = "n/a" if report.load_average is None else ", ".join(f"{value:.1f}" for value in report.load_average)
    lines = [
        "AaSP demo report",
        "================",
        f"Finished in {format_duration(report.wall_seconds)} on {report.cpu_count or '?'} CPU core(s) "
        f"(load average at the end: {load}).",
        "",
        "What it did: built the embedded corpus, scored log-mel statistics baselines (examples/logmel_baseline.py),",
        "pre-trained a tiny AaSP (examples/pretrain.py), evaluated the frozen encoder with a linear classifier",
        "(examples/linear_eval.py), fine-tuned it on every task (examples/finetune.py), reloaded a fine-tuned",
        "checkpoint with pipeline('audio-classification') and drew the figures.",
        "",
        pretraining_line(report.pretraining),
        "",
        "Test accuracy per embedded task:",
        f"  {'task':<12} "
        + "".join(f"{baseline_header(feature_set):>15} " for feature_set in feature_sets)
        + f" {'linear eval':>11} {'fine-tune':>10} {'chance':>8}  above chance  fine-tune vs baselines",
    ]
    lines += [score_row(scores, feature_sets) for scores in report.scores]
    lines += single_view_lines(report.scores)
    lines += baseline_legend_lines(feature_sets)
    lines += baseline_interval_lines(report.scores)
    if report.predictions:
        correct = sum(prediction.correct for prediction in report.predictions)
        lines += [
            "",
            f"pipeline('audio-classification') on held-out clips ({correct}/{len(report.predictions)} right):",
        ]
        for prediction in report.predictions:
            mark = "ok" if prediction.correct else "--"
            lines.append(
                f"  {mark} {Path(prediction.file).name:<24} true {prediction.true_label:<10} "
                f"predicted {prediction.predicted_label:<10} ({prediction.score:.2f})"
            )
    if report.step_seconds:
        overlap = f" (added up per kind of step; up to {report.jobs} ran at once)" if report.jobs > 1 else ""
        lines += [
            "",
            f"Time per step{overlap}: "
            + ", ".join(f"{name} {format_duration(seconds)}" for name, seconds in report.step_seconds.items()),
        ]
    lines += ["", "Files:"] + [f"  {name:<22} {path}" for name, path in report.files.items()]
    return "\n".join(lines)


def score_row(scores: TaskScores, feature_sets: list[str]) -> str:
    """One task's line of the score table: a column per baseline feature set, then the model's scores."""
    baselines = "".join(f"{format_percent(scores.baselines.get(feature_set)):>15} " for feature_set in feature_sets)
    return (
        f"  {scores.task:<12} {baselines} {format_percent(scores.linear_eval):>11} "
        f"{format_percent(scores.finetune):>10} {format_percent(scores.chance):>8}  "
        f"{'yes' if scores.above_chance else 'NO':<12}  {baseline_verdict(scores)}"
    )


def single_view_lines(scores: list[TaskScores]) -> list[str]:
    """When the fine-tuned models average shifted views, what each scores on the unshifted view alone."""
    single = [(s.task, s.finetune_single_view) for s in scores if s.finetune_single_view is not None]
    if not single:
        return []
    return [
        "",
        "The fine-tune column scores each model as pipeline('audio-classification') runs it: the mean logits of",
        "time-shifted views (finetune.args.classifier_shift_views; docs/demo.md). On the unshifted view alone:",
        "  " + ", ".join(f"{task} {format_percent(score).strip()}" for task, score in single) + ".",
    ]


def baseline_verdict(scores: TaskScores) -> str:
    """Per feature set, whether the fine-tune is below that baseline: "not below stats; BELOW full"."""
    if scores.finetune is None or not scores.baselines:
        return "n/a"
    return "; ".join(
        f"{'BELOW' if below else 'not below'} {feature_set}"
        for feature_set, below in scores.finetune_below_baseline.items()
    )


def baseline_legend_lines(feature_sets: list[str]) -> list[str]:
    """What each baseline column measures (the `--feature_set` of examples/logmel_baseline.py)."""
    if not feature_sets:
        return []
    return ["", "Log-mel baselines (examples/logmel_baseline.py --feature_set):"] + [
        f"  {feature_set}: {BASELINE_DESCRIPTIONS.get(feature_set, '')}" for feature_set in feature_sets
    ]


def baseline_interval_lines(scores: list[TaskScores]) -> list[str]:
    """Report lines with each baseline's 95 % Wilson interval and the number of test clips per task (the test-set
    sampling error of the other columns is of the same size); none when no baseline was measured."""
    parts = [
        f"  {s.task}: "
        + ", ".join(
            f"{feature_set} {100 * low:.1f}-{100 * high:.1f} %" for feature_set, (low, high) in s.baseline_ci95.items()
        )
        + f" ({s.num_test_clips} test clips)"
        for s in scores
        if s.baseline_ci95
    ]
    if not parts:
        return []
    return [
        "",
        "Log-mel baselines, 95 % Wilson interval of their test accuracy (the linear evaluation and fine-tune are",
        "scored on the same test clips, so their sampling error is of the same size):",
        *parts,
    ]


def pretraining_line(metrics: dict) -> str:
    if not metrics:
        return "Pre-training: no metrics were logged."
    from ..modeling_aasp import PRETRAINING_LOSS_TERMS

    terms = ", ".join(f"{name} {float(metrics[name]):.3f}" for name in PRETRAINING_LOSS_TERMS[1:] if name in metrics)
    return f"Pre-training: {metrics.get('step', '?')} steps, final loss {float(metrics['loss']):.3f} ({terms})."


def collect_scores(
    tasks: list[str], linear_results: dict, finetune_results: dict, baseline_results: dict | None = None
) -> list[TaskScores]:
    """One `TaskScores` per task from the step results; `baseline_results` is {task: {feature set: results}}."""
    from ..data.corpus import EMBEDDED_TASKS

    baseline_results = baseline_results or {}
    return [
        TaskScores(
            task=task,
            num_classes=EMBEDDED_TASKS[task].num_classes,
            linear_eval=linear_results[task]["mean"] if task in linear_results else None,
            finetune=finetune_results[task]["mean"] if task in finetune_results else None,
            finetune_single_view=(finetune_results.get(task, {}).get("single_view") or {}).get("mean"),
            **baseline_scores(baseline_results.get(task) or {}),
        )
        for task in tasks
    ]


def baseline_scores(results: dict[str, dict]) -> dict:
    """The baseline fields of `TaskScores` from one task's logmel_baseline.py results per feature set (all scored on
    the same test clips: `num_test_clips` is the first one's)."""
    return {
        "baselines": {feature_set: result["accuracy"] for feature_set, result in results.items()},
        "baseline_ci95": {
            feature_set: (result["ci95_low"], result["ci95_high"]) for feature_set, result in results.items()
        },
        "num_test_clips": next((result["num_test_clips"] for result in results.values()), None),
    }


def below_baseline_summary(scores: list[TaskScores]) -> str:
    """The tasks whose fine-tune is below a baseline, with those feature sets: "keyword (full); modulation (stats,
    full)"; empty when there is none."""
    return "; ".join(
        f"{task_scores.task} ({', '.join(task_scores.baselines_above_finetune)})"
        for task_scores in scores
        if task_scores.baselines_above_finetune
    )


def output_files(config: DemoConfig, corpus_folder: Path, figures: dict[str, str]) -> dict[str, str]:
    files = {
        "embedded corpus": str(corpus_folder),
        "pre-trained encoder": str(config.encoder_dir),
        "pre-training metrics": str(config.pretrain_dir / "metrics.jsonl"),
    }
    files.update({f"fine-tuned {task}": str(config.finetune_dir(task)) for task in config.tasks})
    files["linear-eval results"] = str(config.linear_eval_dir)
    files["log-mel baseline results"] = str(config.baseline_dir)
    files.update({f"figure: {name}": path for name, path in figures.items()})
    files["logs"] = str(config.logs_dir)
    files["report"] = str(config.output_dir / "report.md")
    return files


def write_report(report: DemoReport, output_dir: Path) -> None:
    (output_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    (output_dir / "report.md").write_text("```\n" + format_report(report) + "\n```\n", encoding="utf-8")


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


# ----------------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="aasp-demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", default=str(DEFAULT_CONFIG), help="Demo YAML (default: the package's; see --print_config)."
    )
    parser.add_argument("--output_dir", default=None, help="Where everything goes (default: the config's).")
    parser.add_argument(
        "--source_dir",
        default=None,
        help="The transformers-aasp source checkout whose examples/ scripts run (default: the config's "
        "source_dir, else the current directory or the checkout of an editable install).",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="Override one config value, e.g. --set pretrain.args.max_steps=50 (repeatable).",
    )
    parser.add_argument(
        "--print_config", action="store_true", help="Print the config file (to copy and edit) and exit."
    )
    return parser.parse_args(argv)


def task_steps(config: DemoConfig, category: str, title: str, function) -> list[Step]:
    """One step per task of `function(config, task, context)`; `title` is formatted with the task and its number of
    classes."""
    from ..data.corpus import EMBEDDED_TASKS

    return [
        Step(
            category,
            title.format(task=task, classes=EMBEDDED_TASKS[task].num_classes),
            lambda context, task=task: function(config, task, context),
        )
        for task in config.tasks
    ]


def run_demo(config: DemoConfig) -> DemoReport:
    """Runs every step and returns the report (also written to <output_dir>/report.json and report.md).

    Steps that do not depend on each other run `config.jobs` at a time (`run_steps`): the baselines, then, after
    pre-training, the fine-tunes, linear evaluations and figures.
    """

    config.output_dir.mkdir(parents=True, exist_ok=True)
    environment = step_environment(config)
    figures_enabled = bool(config.figures.get("enabled", True))
    num_baseline_runs = len(config.tasks) * len(config.baseline_feature_sets)
    steps = StepPrinter(total=4 + num_baseline_runs + 2 * len(config.tasks) + int(figures_enabled))
    timings: dict[str, float] = {}

    def run_group(group: list[Step]) -> list:
        return run_steps(group, config.jobs, environment, steps, timings)

    steps.begin("Building the embedded corpus (cached after the first run)")
    start = time.perf_counter()
    corpus_folder = build_corpus(config)
    timings["corpus"] = time.perf_counter() - start

    baseline_runs = [(task, feature_set) for task in config.tasks for feature_set in config.baseline_feature_sets]
    baseline_outputs = run_group(
        [
            Step(
                "log-mel baseline",
                f"Log-mel statistics baseline '{feature_set}' on '{task}' "
                f"(examples/logmel_baseline.py --feature_set {feature_set})",
                lambda context, task=task, feature_set=feature_set: logmel_baseline(
                    config, task, feature_set, context
                ),
            )
            for task, feature_set in baseline_runs
        ]
    )
    baseline_results = {task: {} for task in config.tasks}
    for (task, feature_set), result in zip(baseline_runs, baseline_outputs, strict=True):
        baseline_results[task][feature_set] = result

    (metrics,) = run_group(
        [
            Step(
                "pre-training",
                "Pre-training a tiny AaSP (examples/pretrain.py)",
                lambda context: pretrain(config, context),
            )
        ]
    )

    evaluations = task_steps(config, "fine-tuning", "Fine-tuning on '{task}' (examples/finetune.py)", finetune)
    evaluations += task_steps(
        config,
        "linear eval",
        "Linear evaluation on '{task}' ({classes} classes, examples/linear_eval.py)",
        linear_eval,
    )
    if figures_enabled:
        evaluations.append(
            Step(
                "figures",
                "Drawing the figures (examples/make_figures.py)",
                lambda context: make_figures(config, context),
            )
        )
    outcomes = run_group(evaluations)
    finetune_results = dict(zip(config.tasks, outcomes[: len(config.tasks)], strict=True))
    linear_results = dict(zip(config.tasks, outcomes[len(config.tasks) : 2 * len(config.tasks)], strict=True))
    figures = outcomes[2 * len(config.tasks)] if figures_enabled else {}

    steps.begin("Classifying held-out clips with pipeline('audio-classification')")
    start = time.perf_counter()
    predictions = classify_held_out(config)
    timings["pipeline"] = time.perf_counter() - start
    steps.begin("Report")
    report = DemoReport(
        wall_seconds=steps.elapsed(),
        load_average=load_average(),
        cpu_count=os.cpu_count(),
        pretraining=metrics,
        scores=collect_scores(config.tasks, linear_results, finetune_results, baseline_results),
        predictions=predictions,
        files=output_files(config, corpus_folder, figures),
        step_seconds=timings,
        jobs=config.jobs,
    )
    write_report(report, config.output_dir)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.set_verbosity_warning()
    logging.enable_default_handler()
    try:
        if args.print_config:
            sys.stdout.write(Path(args.config).read_text(encoding="utf-8"))
            return 0
        missing = missing_demo_dependencies()
        if missing:
            raise DemoError(
                f"the demo needs the [demo] extra; missing: {', '.join(missing)}. "
                "Install it with: pip install 'transformers-aasp[demo]'"
            )
        config = load_demo_config(args.config, args.output_dir, args.overrides, args.source_dir)
        report = run_demo(config)
    except (DemoError, FileNotFoundError, ValueError) as error:
        sys.stderr.write(f"\naasp-demo failed: {error}\n")
        return 1
    sys.stdout.write("\n" + format_report(report) + "\n")
    failing = [scores.task for scores in report.scores if not scores.above_chance]
    if failing:
        sys.stderr.write(f"\nWarning: scores are not above chance on {failing}; see docs/demo.md (tuning).\n")
    below = below_baseline_summary(report.scores)
    if below:
        sys.stderr.write(f"\nNote: the fine-tune is below the log-mel baseline on {below}; see docs/demo.md.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
