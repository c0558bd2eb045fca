# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Does pre-training learn? The frozen linear probe along pre-training, against random initialisation and log-mel
baselines, scored on test splits registered before they are scored (research/protocol.py).

    python -m research.learning_curve                    # AaPE and plain stem, 3 seeds, 0/300/1000/3000 steps
    python -m research.learning_curve --pool <folder> --tasks <real tasks> --corpus_seed 7
    python -m research.learning_curve --seeds 0 1 2 3 4 --steps 0 3000 \\
        --hypothesis "AaPE minus plain stem after 3000 identical steps, linear probe, 5 seeds"   # AaPE vs plain

For every arm (`aape`: the default model; `plain`: the same model with `use_aape=False`) and seed, one pre-training
run of `AaSPConfig.tiny()` uses the package's own loop (`transformers_aasp.training.pretraining.Pretrainer`). Its
recipe is `--pretrain_config` (default configs/aasp_tiny.yaml) plus `--pretrain_args`. The run lasts max(--steps)
optimizer steps, with the cosine schedule and the EMA anneal over that length. The student encoder is exported at
every step of --steps; step 0 is the initialisation of that seed, the random-init control. The pool is unlabelled:
`embedded` means the train splits of the embedded corpus at --corpus_seed, `recordings` the real-audio corpus's pool
(`aasp_corpora.recordings.recorded_pretraining_pool`, its speech capped by --pool_speech_clips), while a folder,
prepared folder or dataset id is passed on as examples/pretrain.py's --dataset.

On every task, the frozen linear probe of each snapshot (`transformers_aasp.evaluation.linear_probe`) has its weight
decay chosen on the validation split and scores the test split once. The `stats` and `full` log-mel baselines
(`evaluation.baseline`, C chosen on validation) are scored once per task. Every test scoring is a registered unit.
The script registers all units it is about to score before it pre-trains anything, and it refuses units that
another run has already scored (`--rescore "reason"` overrides this). Scores are kept per unit in --work_dir, so
that a re-run, or a run with more seeds, reuses them instead of scoring again.

Results: <output>.json holds every accuracy with its n, its 95 % Wilson interval and the per-clip correctness
summary. It also holds paired comparisons on the same clips and seeds: trained minus random init per arm and step,
AaPE minus plain per step, and probe minus baseline. Each comparison gives a 95 % t-interval over seeds, a 95 %
paired bootstrap over clips and an exact McNemar test per seed. <output>.md renders the same numbers as tables.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from transformers.utils import logging

from aasp_corpora.recordings import RECORDINGS_VERSION, recorded_pretraining_pool
from research.ablations import from_pretrained
from research.pretraining_runs import (
    FLAGS_SET_HERE,
    SNAPSHOTS_FILE,
    embedded_pool,
    recipe_model_overrides,
    run_jobs,
    run_pretraining,
    snapshot_dir,
)
from research.pretraining_runs import pretraining_argv as recipe_argv
from research.protocol import (
    REPO_ROOT,
    AlreadyScoredError,
    Registry,
    add_registry_arguments,
    canonical_json,
    git_state,
    unit_id,
)
from research.statistics import accuracy_with_interval, mcnemar_exact, paired_bootstrap_difference, paired_difference
from transformers_aasp import AaSPFeatureExtractor, AaSPModel
from transformers_aasp.data.loading import load_task
from transformers_aasp.evaluation.baseline import evaluate_logmel_baseline
from transformers_aasp.evaluation.linear_probe import (
    WEIGHT_DECAY_GRID,
    ClipEmbedder,
    LinearProbeArguments,
    embed_task,
    predicted_correctly,
    select_rows,
    select_weight_decay,
)
from transformers_aasp.reporting.metrics import summarize_scores
from transformers_aasp.training.pretraining import parse_pretraining_options


logger = logging.get_logger("research.learning_curve")

SCRIPT = "research.learning_curve"
ARMS = {"aape": {}, "plain": {"use_aape": False}}  # AaSPConfig overrides on top of the recipe's
DEFAULT_TASKS = ("instrument", "keyword", "modulation")
DEFAULT_STEPS = (0, 300, 1000, 3000)
BASELINES = ("stats", "full")
VALIDATION_FRACTION = 0.1  # tasks without a validation split hold out this stratified share of train
DEFAULT_HYPOTHESIS = (
    "Pre-training learns: for each arm and each number of pre-training steps > 0, the frozen linear probe (weight "
    "decay chosen on validation) is more accurate than the same architecture at random initialisation (step 0 of the "
    "same seed) on every task, with a paired 95 % interval that excludes zero. Secondary, reported whatever its sign: "
    "AaPE minus the plain stem at each step."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS), help="Single-label registry tasks.")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", nargs="+", type=int, default=list(DEFAULT_STEPS), help="Probed snapshots.")
    parser.add_argument(
        "--pool",
        default="embedded",
        help="'embedded', 'recordings' (the real-audio corpus's pool) or a folder / prepared folder / dataset id.",
    )
    parser.add_argument(
        "--pool_speech_clips",
        type=int,
        default=None,
        help="With --pool recordings: keep this many spoken-prompt clips (a seeded draw) instead of all of them.",
    )
    parser.add_argument("--corpus_seed", type=int, default=0, help="Seed of the embedded corpus (pool and tasks).")
    parser.add_argument("--clips_per_class", type=int, default=None, help="Embedded corpus size (default: its own).")
    parser.add_argument("--pretrain_config", default=str(REPO_ROOT / "configs" / "aasp_tiny.yaml"))
    parser.add_argument(
        "--pretrain_args",
        default="",
        help=f"More examples/pretrain.py flags, e.g. '--per_device_batch_size 16' (not {', '.join(FLAGS_SET_HERE)}).",
    )
    parser.add_argument("--warmup_fraction", type=float, default=0.1, help="Warm-up steps / max(--steps).")
    parser.add_argument("--weight_decay_grid", nargs="+", type=float, default=list(WEIGHT_DECAY_GRID))
    parser.add_argument("--probe_learning_rate", type=float, default=3e-4)
    parser.add_argument("--probe_max_epochs", type=int, default=200)
    parser.add_argument("--probe_patience", type=int, default=20)
    parser.add_argument("--bootstrap_resamples", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=1, help="Pre-training runs in parallel (one thread each).")
    parser.add_argument("--work_dir", default="outputs/learning_curve")
    parser.add_argument(
        "--output",
        default=str(REPO_ROOT / "research" / "results" / "learning_curve"),
        help="Path prefix of the .json and .md results.",
    )
    add_registry_arguments(parser, DEFAULT_HYPOTHESIS)
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if min(args.steps) < 0:
        parser.error(f"--steps must be >= 0, got {args.steps}.")
    if max(args.steps) == 0:
        parser.error("--steps needs at least one positive number of pre-training steps.")
    reserved = [flag for flag in shlex.split(args.pretrain_args) if flag.split("=")[0] in FLAGS_SET_HERE]
    if reserved:
        parser.error(f"--pretrain_args may not set {reserved}: the learning curve sets {', '.join(FLAGS_SET_HERE)}.")
    if not 0 <= args.warmup_fraction < 1:
        parser.error(f"--warmup_fraction must lie in [0, 1), got {args.warmup_fraction}.")
    if args.pool_speech_clips is not None and args.pool != "recordings":
        parser.error(f"--pool_speech_clips caps the speech of --pool recordings, not of --pool {args.pool}.")
    args.steps = sorted(set(args.steps))
    args.seeds = sorted(set(args.seeds))


# ----------------------------------------------------------------------------------------------------------------
# Tasks, pool and the configuration that gets registered
# ----------------------------------------------------------------------------------------------------------------
def load_tasks(args) -> dict:
    """{name: LoadedTask} of single-label tasks with one test split; embedded ones at --corpus_seed."""
    tasks = {}
    for name in args.tasks:
        corpus = {"seed": args.corpus_seed}
        if args.clips_per_class is not None:
            corpus["clips_per_class"] = args.clips_per_class
        task = load_task(name, loader_kwargs=corpus)
        if task.spec.multi_label or task.spec.protocol == "folds":
            raise ValueError(
                f"Task {name!r} is {'multi-label' if task.spec.multi_label else 'cross-validated'}: the learning "
                "curve scores single-label tasks with one test split (accuracy per test clip)."
            )
        tasks[name] = task
    return tasks


def pool_description(args) -> dict:
    if args.pool == "embedded":
        return {
            "embedded_corpus_train_splits": True,
            "corpus_seed": args.corpus_seed,
            "clips_per_class": args.clips_per_class,
        }
    if args.pool == "recordings":
        return {
            "recordings_pool": RECORDINGS_VERSION,
            "corpus_seed": args.corpus_seed,
            "speech_clips": args.pool_speech_clips,
        }
    return {"dataset": args.pool}


def pool_source(args) -> str:
    """What examples/pretrain.py's --dataset gets: the given pool; for 'embedded' a folder of links to the train
    clips of the embedded corpus at --corpus_seed; for 'recordings' the real-audio corpus's pool at --corpus_seed,
    capped at --pool_speech_clips spoken clips (neither holds a validation or test clip)."""
    if args.pool == "recordings":
        return str(recorded_pretraining_pool(seed=args.corpus_seed, speech_clips=args.pool_speech_clips))
    if args.pool != "embedded":
        return args.pool
    return embedded_pool(args.work_dir, args.corpus_seed, args.clips_per_class)


def pretraining_argv(args, arm: str, seed: int, output_dir: str, dataset: str) -> list[str]:
    """examples/pretrain.py's command line of one run: the recipe, then what the learning curve fixes."""
    max_steps = max(args.steps)
    return recipe_argv(
        args.pretrain_config,
        args.pretrain_args,
        dataset=dataset,
        output_dir=output_dir,
        max_steps=max_steps,
        warmup_steps=int(args.warmup_fraction * max_steps),
        seed=seed,
        model_overrides={**recipe_overrides(args), "ema_anneal_steps": max_steps, **ARMS[arm]},
    )


def recipe_overrides(args) -> dict:
    """The model overrides of --pretrain_config / --pretrain_args (the learning curve adds its own on top)."""
    return recipe_model_overrides(args.pretrain_config, args.pretrain_args, max(args.steps))


def pretraining_recipe(args) -> dict:
    """The resolved pre-training options shared by every run (what differs per run is left out)."""
    options = parse_pretraining_options(pretraining_argv(args, "aape", 0, "x", "x"))
    sections = options.sections()
    for section, names in {
        "data": ("dataset",),
        "checkpointing": ("output_dir", "overwrite_output_dir"),
        "optimization": ("seed",),
        "model": ("model_overrides",),
        "hub": ("model_name",),
    }.items():
        for name in names:
            sections[section].pop(name, None)
    sections["model"]["model_overrides_before_arm"] = {
        **recipe_overrides(args),
        "ema_anneal_steps": max(args.steps),
    }
    return sections


def probe_arguments(args) -> LinearProbeArguments:
    return LinearProbeArguments(
        embedding_cache_dir=str(Path(args.work_dir) / "embeddings"),
        learning_rate=args.probe_learning_rate,
        max_epochs=args.probe_max_epochs,
        patience=args.probe_patience,
        weight_decay_grid=list(args.weight_decay_grid),
        device="cpu",
    )


def task_configuration(args, task, recipe: dict) -> dict:
    """What every test scoring of one task shares (registered, and hashed into each unit's id)."""
    return {
        "task": task.spec.name,
        "task_data": task.fingerprint(),
        "corpus_seed": args.corpus_seed,
        "clips_per_class": args.clips_per_class,
        "pool": pool_description(args),
        "pretraining": recipe,
        "probe": {
            "protocol": "frozen encoder, mean of time-column features, standardised, early-stopped linear layer",
            "weight_decay_grid": list(args.weight_decay_grid),
            "learning_rate": args.probe_learning_rate,
            "max_epochs": args.probe_max_epochs,
            "patience": args.probe_patience,
            "validation_fraction": VALIDATION_FRACTION,
        },
        "baseline": {"regularization_selection": "validation", "validation_fraction": VALIDATION_FRACTION},
    }


def probe_unit(arm: str, seed: int, step: int) -> dict:
    return {"model": "linear_probe", "arm": arm, "arm_overrides": ARMS[arm], "seed": seed, "step": step}


def baseline_unit(feature_set: str) -> dict:
    return {"model": f"logmel_{feature_set}"}


def task_units(args) -> list[dict]:
    units = [probe_unit(arm, seed, step) for arm in args.arms for seed in args.seeds for step in args.steps]
    return units + [baseline_unit(feature_set) for feature_set in BASELINES]


# ----------------------------------------------------------------------------------------------------------------
# Pre-training runs (research.pretraining_runs)
# ----------------------------------------------------------------------------------------------------------------
def run_name(args, arm: str, seed: int, recipe: dict) -> str:
    key = canonical_json({"recipe": recipe, "pool": pool_description(args), "arm": ARMS[arm], "seed": seed})
    return f"{arm}-s{seed}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


# ----------------------------------------------------------------------------------------------------------------
# Scoring (after registration): validation choices first, the test split once
# ----------------------------------------------------------------------------------------------------------------
def score_probe(task, snapshot: Path, probe: LinearProbeArguments, seed: int, name: str) -> dict:
    """Frozen-encoder probe of one snapshot (the package's encoder or an arm of research.ablations): weight decay
    chosen on validation, then per-clip test correctness."""
    embedder = ClipEmbedder(
        from_pretrained(AaSPModel, snapshot), AaSPFeatureExtractor.from_pretrained(snapshot), None, probe.device
    )
    embeddings = embed_task(task, embedder, name, probe)
    indices = task.split_indices(None, validation_fraction=VALIDATION_FRACTION, seed=seed)
    split = {part: select_rows(embeddings[source], rows) for part, (source, rows) in indices.items()}
    scaler, layer, chosen, validation_scores = select_weight_decay(
        split["train"], split["validation"], task.num_labels, False, seed, probe
    )
    correct = predicted_correctly(scaler, layer, split["test"])
    return {"correct": correct.astype(int).tolist(), "weight_decay": chosen, "validation_scores": validation_scores}


def score_baseline(task, feature_set: str) -> dict:
    result = evaluate_logmel_baseline(
        task, AaSPFeatureExtractor(), feature_set=feature_set, validation_fraction=VALIDATION_FRACTION
    )
    return {
        "correct": result["test_correct"],
        "regularization": result["regularization"][0],
        "validation_scores": result["runs"][0]["validation_accuracy"],
    }


def score_path(args, configuration: dict, unit: dict) -> Path:
    return Path(args.work_dir) / "scores" / f"{unit_id(configuration, unit)}.json"


def load_score(args, configuration: dict, unit: dict) -> dict | None:
    path = score_path(args, configuration, unit)
    return json.loads(path.read_text()) if path.is_file() else None


def save_score(args, configuration: dict, unit: dict, score: dict) -> None:
    path = score_path(args, configuration, unit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"unit": unit, **score}))


# ----------------------------------------------------------------------------------------------------------------
# Statistics and report
# ----------------------------------------------------------------------------------------------------------------
def paired_comparison(correct_a: np.ndarray, correct_b: np.ndarray, seeds: list[int], resamples: int) -> dict:
    """A - B on the same clips and seeds: (S, N) per-clip correctness of each, seed i in row i."""
    return {
        "seeds": seeds,
        "difference_over_seeds": paired_difference(correct_a.mean(axis=1), correct_b.mean(axis=1)),
        "bootstrap_over_clips": paired_bootstrap_difference(correct_a, correct_b, num_resamples=resamples),
        "mcnemar_per_seed": {str(s): mcnemar_exact(a, b) for s, a, b in zip(seeds, correct_a, correct_b, strict=True)},
    }


def summarize_task(scores: dict, args) -> dict:
    """scores: {("probe", arm, seed, step) | ("baseline", feature_set): score dict} of one task -> its results."""
    seeds, steps, resamples = args.seeds, args.steps, args.bootstrap_resamples
    correct = {key: np.asarray(score["correct"], dtype=bool) for key, score in scores.items()}

    def probe_matrix(arm: str, step: int) -> np.ndarray:
        return np.stack([correct[("probe", arm, seed, step)] for seed in seeds])  # (S, N)

    baselines = {
        feature_set: {
            **accuracy_with_interval(correct[("baseline", feature_set)]),
            "C": scores[("baseline", feature_set)]["regularization"],
        }
        for feature_set in BASELINES
    }
    probe = {}
    for arm in args.arms:
        for step in steps:
            per_seed = {
                str(seed): {
                    **accuracy_with_interval(correct[("probe", arm, seed, step)]),
                    "weight_decay": scores[("probe", arm, seed, step)]["weight_decay"],
                    # the probe's validation accuracy at that weight decay: the split every choice was made on
                    "validation_accuracy": max(scores[("probe", arm, seed, step)]["validation_scores"].values()),
                }
                for seed in seeds
            }
            over_seeds = summarize_scores([entry["accuracy"] for entry in per_seed.values()])
            over_seeds["validation_mean"] = float(
                np.mean([entry["validation_accuracy"] for entry in per_seed.values()])
            )
            probe.setdefault(arm, {})[str(step)] = {"per_seed": per_seed, "over_seeds": over_seeds}
    trained_minus_random = {
        arm: {
            str(step): paired_comparison(probe_matrix(arm, step), probe_matrix(arm, 0), seeds, resamples)
            for step in steps
            if step > 0
        }
        for arm in args.arms
        if 0 in steps
    }
    aape_minus_plain = {}
    if {"aape", "plain"} <= set(args.arms):
        aape_minus_plain = {
            str(step): paired_comparison(probe_matrix("aape", step), probe_matrix("plain", step), seeds, resamples)
            for step in steps
        }
    probe_minus_baseline = {
        arm: {
            str(step): {
                feature_set: paired_comparison(
                    probe_matrix(arm, step),
                    np.tile(correct[("baseline", feature_set)], (len(seeds), 1)),
                    seeds,
                    resamples,
                )
                for feature_set in BASELINES
            }
            for step in steps
        }
        for arm in args.arms
    }
    return {
        "num_test_clips": int(next(iter(correct.values())).size),
        "baselines": baselines,
        "linear_probe": probe,
        "trained_minus_random_init": trained_minus_random,
        "aape_minus_plain": aape_minus_plain,
        "probe_minus_baseline": probe_minus_baseline,
    }


def points(value: float) -> str:
    return f"{100 * value:.1f}"


def interval(low: float, high: float) -> str:
    return f"[{points(low)}, {points(high)}]"


def comparison_row(name: str, step: str, comparison: dict) -> str:
    t = comparison["difference_over_seeds"]
    boot = comparison["bootstrap_over_clips"]
    t_interval = interval(t["ci95_low"], t["ci95_high"]) if t["n"] > 1 else "n/a (1 seed)"
    p_values = ", ".join(f"{entry['p_value']:.3g}" for entry in comparison["mcnemar_per_seed"].values())
    return (
        f"| {name} | {step} | {100 * t['mean']:+.1f} | {t_interval} | {interval(boot['ci95_low'], boot['ci95_high'])} "
        f"| {p_values} |"
    )


def markdown(results: dict) -> str:
    lines = [
        "# Learning curve of the frozen linear probe",
        "",
        f"Command: `python -m {SCRIPT} {results['setup']['argv']}`; commit {results['setup']['git_commit']}.",
        "Accuracy in %; probe rows: mean over seeds with its 95 % t-interval (one seed: the 95 % Wilson interval);",
        "baseline rows: the 95 % Wilson interval. Differences in points, paired on the same test clips and seeds.",
        "validation: the probes' mean validation accuracy at the weight decay chosen on it (the best of the grid).",
    ]
    for task, summary in results["tasks"].items():
        n = summary["num_test_clips"]
        lines += [
            "",
            f"## {task} (n = {n} test clips)",
            "",
            "| model | steps | accuracy | 95 % interval | n | validation |",
        ]
        lines.append("|---|---|---|---|---|---|")
        for feature_set, entry in summary["baselines"].items():
            lines.append(
                f"| log-mel `{feature_set}` (C {entry['C']:g}) | - | {points(entry['accuracy'])} | "
                f"{interval(entry['ci95_low'], entry['ci95_high'])} | {entry['n']} | |"
            )
        for arm, per_step in summary["linear_probe"].items():
            for step, entry in per_step.items():
                over = entry["over_seeds"]
                if over["n"] > 1:
                    bounds = interval(over["mean"] - over["ci95"], over["mean"] + over["ci95"])
                else:
                    [only] = entry["per_seed"].values()
                    bounds = interval(only["ci95_low"], only["ci95_high"])
                lines.append(
                    f"| probe `{arm}` ({over['n']} seeds) | {step} | {points(over['mean'])} | {bounds} | {n} | "
                    f"{points(over['validation_mean'])} |"
                )
        lines += [
            "",
            "| comparison | steps | difference | 95 % t over seeds | 95 % bootstrap over clips | McNemar p per seed |",
            "|---|---|---|---|---|---|",
        ]
        for arm, per_step in summary["trained_minus_random_init"].items():
            for step, comparison in per_step.items():
                lines.append(comparison_row(f"`{arm}` trained - random init", step, comparison))
        for step, comparison in summary["aape_minus_plain"].items():
            lines.append(comparison_row("`aape` - `plain`", step, comparison))
        for arm, per_step in summary["probe_minus_baseline"].items():
            last = max(per_step, key=int)
            for feature_set, comparison in per_step[last].items():
                lines.append(comparison_row(f"probe `{arm}` - `{feature_set}`", last, comparison))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------------------------
def register_missing_units(args, tasks: dict, configurations: dict) -> dict:
    """Register, per task, every unit that has no stored score yet; {task: (Registration, units)}."""
    registry = Registry(args.registry_dir)
    registrations = {}
    for name in tasks:
        missing = [unit for unit in task_units(args) if load_score(args, configurations[name], unit) is None]
        if missing:
            registration = registry.register(
                configurations[name], missing, args.hypothesis, script=SCRIPT, rescore=args.rescore
            )
            registrations[name] = (registration, missing)
    return registrations


def pretrain_all(args, registrations: dict, recipe: dict) -> dict:
    """Pre-train every (arm, seed) that a missing probe unit needs; returns {(arm, seed): run folder}."""
    dataset = pool_source(args)
    runs = {
        (arm, seed): Path(args.work_dir) / "pretrain" / run_name(args, arm, seed, recipe)
        for arm in args.arms
        for seed in args.seeds
    }
    needed = {
        (unit["arm"], unit["seed"])
        for _, units in registrations.values()
        for unit in units
        if unit["model"] == "linear_probe"
    }
    jobs = [
        {
            "argv": pretraining_argv(args, arm, seed, str(runs[(arm, seed)]), dataset),
            "steps": args.steps,
            "arm": arm,
            "seed": seed,
            "threads": 1 if args.workers > 1 else None,
        }
        for arm, seed in sorted(needed)
    ]
    run_jobs(run_pretraining, jobs, args.workers)
    return runs


def score_missing_units(args, tasks: dict, configurations: dict, registrations: dict, runs: dict) -> None:
    probe = probe_arguments(args)
    for name, (registration, units) in registrations.items():
        task = tasks[name]
        for unit in units:
            if unit["model"] == "linear_probe":
                arm, seed, step = unit["arm"], unit["seed"], unit["step"]
                snapshot = snapshot_dir(runs[(arm, seed)], step)
                score = score_probe(task, snapshot, probe, seed, f"{runs[(arm, seed)].name}-step{step}")
            else:
                score = score_baseline(task, unit["model"].removeprefix("logmel_"))
            save_score(args, configurations[name], unit, score)
            registration.mark_scored(unit, accuracy_with_interval(score["correct"]))


def collect_scores(args, configuration: dict) -> dict:
    """{("probe", arm, seed, step) | ("baseline", feature_set): stored score} of one task's units."""
    scores = {}
    for unit in task_units(args):
        if unit["model"] == "linear_probe":
            key = ("probe", unit["arm"], unit["seed"], unit["step"])
        else:
            key = ("baseline", unit["model"].removeprefix("logmel_"))
        scores[key] = load_score(args, configuration, unit)
    return scores


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    tasks = load_tasks(args)
    recipe = pretraining_recipe(args)
    configurations = {name: task_configuration(args, task, recipe) for name, task in tasks.items()}
    try:
        registrations = register_missing_units(args, tasks, configurations)  # before any pre-training or scoring
    except AlreadyScoredError as error:
        sys.exit(f"research.learning_curve: error: {error}")
    runs = pretrain_all(args, registrations, recipe)
    score_missing_units(args, tasks, configurations, registrations, runs)
    commit, dirty = git_state()
    results = {
        "setup": {
            "argv": " ".join(shlex.quote(arg) for arg in argv),
            "git_commit": commit,
            "git_dirty": dirty,
            "tasks": args.tasks,
            "arms": {arm: ARMS[arm] for arm in args.arms},
            "seeds": args.seeds,
            "steps": args.steps,
            "pool": pool_description(args),
            "pretraining": recipe,
        },
        "registrations": {name: registration.path.name for name, (registration, _) in registrations.items()},
        "pretraining_runs": [
            json.loads((run / SNAPSHOTS_FILE).read_text()) for run in runs.values() if (run / SNAPSHOTS_FILE).is_file()
        ],
        "tasks": {name: summarize_task(collect_scores(args, configurations[name]), args) for name in tasks},
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
