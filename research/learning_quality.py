#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""What AaSP learns on the embedded tasks, against the plain stem and log-mel baselines (issue: learning quality).

    python -m research.learning_quality                       # everything below, 3 seeds, hours on 2 idle cores
    python -m research.learning_quality --phases pretrain     # one phase; finished jobs are reused from --work_dir
    python -m research.learning_quality --clips_per_class 12 --seeds 0 --arms plain aape aape_peak paper \\
        --finetune_arms plain aape_peak --pretrain_steps 4 --finetune_epochs 1 --work_dir /tmp/lq --results_dir /tmp/lq

The tasks are the embedded ones at `--corpus_seed` and `--clips_per_class` (270: 328 / 410 / 205 test clips for
instrument / keyword / modulation), loaded through the task registry. Per seed:

* pre-training of every arm in `--arms` (arms of `research.ablations`: the plain stem, AaPE with the first
  experiments' options ("aape_v1"), each later option alone on top of it, the un-anchored band energy ("aape"), the
  paper's features ("paper") and the package's default ("aape_peak")) through the package's own loop
  (`research.pretraining_runs`, `transformers_aasp.training.pretraining.Pretrainer`): the recipe is
  `--pretrain_config` plus `--pretrain_args`, `--pretrain_steps` optimizer steps on the train clips of the corpus,
  the encoder exported at step 0 (the seed's random initialisation) and at the last step;
* the frozen linear probe (`transformers_aasp.evaluation.linear_probe`, weight decay chosen on validation) of every
  pre-trained encoder and of the step-0 encoders of the plain stem and of "aape";
* fine-tuning (`transformers_aasp.training.finetuning.fine_tune`, the package's recipe, mean pooling) of the
  `--finetune_arms` from their step-0 encoder ("scratch") and from their pre-trained one ("pretrained");
* the `stats` and `full` log-mel baselines (`transformers_aasp.evaluation.baseline`, C chosen on validation).

Analyses (seed 0): beta tracking, i.e. the Spearman correlation of the per-clip median beta with the true modulation
rate, at random initialisation and after pre-training for each AaPE arm (the anchored default "aape_peak" tracks the
rate by construction at initialisation; the un-anchored "paper" arm is the control), and after fine-tuning on the
modulation task; the spread of beta after pre-training; the shift stability of clip embeddings (1-15 frames);
Figure 4. The analyses read the test clips from <work_dir>/features.pt (decoded once, re-normalised for each
checkpoint's feature extractor), which research/shift_views.py reads too.

Statistics come from `research.statistics`: accuracies with 95 % Wilson intervals, paired differences
across seeds with 95 % t-intervals. Results: <results_dir>/<result_name>.json and .md (the Markdown is also printed).

The results committed in research/results/ before this script used the package's pre-training and fine-tuning code
came from its former own loops (a fixed-C logistic probe on 100 train clips per class plus validation, and
fine-tuning on 30 train clips per class); they are not comparable number for number with a run of this version.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import load_average
from research.ablations import ARMS as ABLATION_ARMS
from research.ablations import arm_class, from_pretrained
from research.learning_curve import probe_arguments, score_baseline, score_probe
from research.pretraining_runs import (
    embedded_pool,
    pretraining_argv,
    recipe_model_overrides,
    run_jobs,
    run_pretraining,
    snapshot_dir,
)
from research.protocol import REPO_ROOT
from research.statistics import accuracy_with_interval, paired_difference
from transformers_aasp.evaluation.linear_probe import WEIGHT_DECAY_GRID
from transformers_aasp.reporting.metrics import summarize_scores


RESULTS_DIR = Path(__file__).resolve().parent / "results"  # this script's results

TASKS = ("instrument", "keyword", "modulation")
# The arms compared, by their names in research.ablations (each: the fields and module variants that define it).
# "aape_v1": the first experiments (the paper's features with 4 kernels, zeroed masked views, Bernoulli masks); the
# "v1+..." arms change one of them; "aape": band energy without the spectral-peak anchor; "aape_flatten": the paper's
# features with 4 kernels; "paper": the paper's features; "aape_peak": the package's default.
ARMS = (
    "plain_v1",
    "plain",
    "aape_v1",
    "v1+mirror_runs",
    "v1+band_energy",
    "v1+gated_fusion",
    "v1+block_masking",
    "v1+ffn_targets",
    "all_options_h4",
    "plain_ffn",
    "aape",
    "aape_flatten",
    "paper",
    "aape_peak",
)
FINETUNE_ARMS = ("plain", "aape", "aape_peak")
RANDOM_INIT_ARMS = ("plain", "aape")  # probed at step 0 too (as "random_<arm>")
ANALYSED_ARMS = ("plain", "aape_v1", "aape", "paper", "aape_peak")  # analysed when seed 0 of the arm was pre-trained
DEFAULT_PRETRAIN_ARGS = "--per_device_batch_size 16 --crop_frames 304 --num_workers 0 --logging_steps 20"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", nargs="+", default=["features", "pretrain", "finetune", "analyse"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ABLATION_ARMS))
    parser.add_argument(
        "--finetune_arms",
        nargs="+",
        default=list(FINETUNE_ARMS),
        choices=list(ABLATION_ARMS),
        help="Arms fine-tuned from their step-0 encoder and from their pre-trained encoder.",
    )
    parser.add_argument("--clips_per_class", type=int, default=270, help="Embedded corpus size.")
    parser.add_argument("--corpus_seed", type=int, default=0, help="Seed of the embedded corpus (pool and tasks).")
    parser.add_argument("--pretrain_steps", type=int, default=300)
    parser.add_argument("--pretrain_config", default=str(REPO_ROOT / "configs" / "aasp_tiny.yaml"))
    parser.add_argument(
        "--pretrain_args",
        default=DEFAULT_PRETRAIN_ARGS,
        help="More examples/pretrain.py flags (not --dataset, --output_dir, --max_steps, --seed, --model_overrides, "
        "--warmup_steps: set per run, with a warm-up of a tenth of the steps).",
    )
    parser.add_argument("--weight_decay_grid", nargs="+", type=float, default=list(WEIGHT_DECAY_GRID))
    parser.add_argument("--probe_learning_rate", type=float, default=3e-4)
    parser.add_argument("--probe_max_epochs", type=int, default=200)
    parser.add_argument("--probe_patience", type=int, default=20)
    parser.add_argument("--finetune_epochs", type=int, default=12)
    parser.add_argument("--finetune_batch_size", type=int, default=16)
    parser.add_argument("--finetune_learning_rate", type=float, default=1e-3)
    parser.add_argument("--workers", type=int, default=2, help="Jobs in parallel (one thread each).")
    parser.add_argument("--work_dir", default="outputs/learning_quality")
    parser.add_argument("--result_name", default="learning_quality")
    parser.add_argument(
        "--results_dir",
        default=str(RESULTS_DIR),
        help="Where <result_name>.json / .md and the figure folders are written (default: research/results).",
    )
    args = parser.parse_args(argv)
    check_phase_arms(parser, args)
    return args


def check_phase_arms(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a run that pre-trains a subset of the arms and then fine-tunes an encoder it did not pre-train."""
    if args.pretrain_steps < 1:
        parser.error(f"--pretrain_steps must be >= 1, got {args.pretrain_steps}.")
    if "pretrain" not in args.phases:
        return  # later phases read the encoders of an earlier run in --work_dir
    missing = [arm for arm in args.finetune_arms if arm not in args.arms]
    if "finetune" in args.phases and missing:
        parser.error(
            f"--phases finetune reads the pre-trained encoders of {', '.join(args.finetune_arms)} (--finetune_arms); "
            f"add {missing} to --arms"
        )
    if "analyse" in args.phases and 0 not in args.seeds:
        parser.error("--phases analyse reads the encoders of seed 0; add 0 to --seeds")


# ---------------------------------------------------------------------------------------------------------------
# Tasks and the decoded test clips of the analyses
# ---------------------------------------------------------------------------------------------------------------
def load_embedded(args, name: str):
    """The registry's task `name` on the embedded corpus at --corpus_seed / --clips_per_class (a LoadedTask)."""
    from transformers_aasp.data.loading import load_task

    return load_task(name, loader_kwargs={"seed": args.corpus_seed, "clips_per_class": args.clips_per_class})


def build_features(args) -> Path:
    """Decode every clip once: <work_dir>/features.pt holds per task and split (N, 400, 80) float16 log-mels, their
    lengths and labels, normalised with "norm" (mean, std over a quarter of the train clips)."""
    from aasp_corpora.synthetic import load_embedded_task
    from transformers_aasp import AaSPFeatureExtractor

    path = Path(args.work_dir) / "features.pt"
    if path.is_file():
        return path
    extractor = AaSPFeatureExtractor()
    raw = {}
    for task in TASKS:
        data = load_embedded_task(task, seed=args.corpus_seed, clips_per_class=args.clips_per_class)
        for split, dataset in data.items():
            waves = [np.asarray(row["audio"].get_all_samples().data[0]) for row in dataset]
            raw[(task, split)] = (waves, np.asarray(dataset["label"]))
    train_waves = [w for task in TASKS for w in raw[(task, "train")][0]]
    logmels = extractor.log_mel([torch.from_numpy(w) for w in train_waves[::4]])
    mean, std = float(logmels.mean()), float(logmels.std())
    extractor.set_normalization(mean, std)
    store = {"norm": (mean, std), "data": {}}
    for (task, split), (waves, labels) in raw.items():
        batch = extractor(
            waves, sampling_rate=16000, return_tensors="pt", padding="max_length", max_length=400, truncation=True
        )
        store["data"][f"{task}/{split}"] = {
            "input_values": batch["input_values"].half(),
            "lengths": batch["attention_mask"].sum(1),
            "labels": torch.from_numpy(labels),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(store, path)
    return path


def load_features(args) -> dict:
    return torch.load(Path(args.work_dir) / "features.pt", weights_only=True)


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    return (torch.arange(frames)[None] < lengths[:, None]).long()


def split_tensors(store: dict, task: str, split: str, checkpoint: Path):
    """(N, T, F) log-mels normalised as `checkpoint`'s feature extractor normalises (padding stays 0), (N,) lengths
    and (N,) labels of one split."""
    from transformers_aasp import AaSPFeatureExtractor

    part = store["data"][f"{task}/{split}"]
    values, lengths = part["input_values"].float(), part["lengths"]
    mean, std = store["norm"]
    extractor = AaSPFeatureExtractor.from_pretrained(checkpoint)
    renormalised = (values * std + mean - extractor.mean) / extractor.std
    return renormalised * frame_mask(lengths, values.shape[1])[..., None], lengths, part["labels"]


# ---------------------------------------------------------------------------------------------------------------
# Jobs (each runs in a worker process, one thread, when --workers > 1)
# ---------------------------------------------------------------------------------------------------------------
def run_dir(args, arm: str, seed: int) -> Path:
    return Path(args.work_dir) / "pretrain" / f"{arm}-s{seed}"


def snapshot(args, arm: str, seed: int, pretrained: bool) -> Path:
    """The arm's encoder of `seed`: after --pretrain_steps (`pretrained`) or at its random initialisation."""
    return snapshot_dir(run_dir(args, arm, seed), args.pretrain_steps if pretrained else 0)


def pretraining_jobs(args) -> list[dict]:
    """One job of `research.pretraining_runs.run_pretraining` per arm and seed."""
    steps = args.pretrain_steps
    overrides = {**recipe_model_overrides(args.pretrain_config, args.pretrain_args, steps), "ema_anneal_steps": steps}
    pool = embedded_pool(args.work_dir, args.corpus_seed, args.clips_per_class)
    return [
        {
            "argv": pretraining_argv(
                args.pretrain_config,
                args.pretrain_args,
                dataset=pool,
                output_dir=str(run_dir(args, arm, seed)),
                max_steps=steps,
                warmup_steps=steps // 10,
                seed=seed,
                model_overrides=overrides,
            ),
            "steps": [0, steps],
            "arm": arm,
            "seed": seed,
            "threads": 1 if args.workers > 1 else None,
            "ablation_arm": arm,
        }
        for seed in args.seeds
        for arm in args.arms
    ]


def probe_all(args, tasks: dict) -> dict:
    """Linear probe of every pre-trained encoder and of the step-0 encoders of RANDOM_INIT_ARMS:
    {arm or "random_<arm>": {task: {seed: accuracy_with_interval + "weight_decay"}}}."""
    probe = probe_arguments(args)
    encoders = [(arm, seed, True) for seed in args.seeds for arm in args.arms]
    encoders += [(arm, seed, False) for seed in args.seeds for arm in RANDOM_INIT_ARMS if arm in args.arms]
    scores = {}
    for arm, seed, pretrained in encoders:
        folder = snapshot(args, arm, seed, pretrained)
        name = f"{arm}-s{seed}-{args.pretrain_steps}steps-{folder.name}"  # embedding cache key
        for task_name, task in tasks.items():
            score = score_probe(task, folder, probe, seed, name)
            entry = {**accuracy_with_interval(score["correct"]), "weight_decay": score["weight_decay"]}
            scores.setdefault(arm if pretrained else f"random_{arm}", {}).setdefault(task_name, {})[str(seed)] = entry
    return scores


def classifier_from_snapshot(folder: Path, task, pooling: str = "mean"):
    """An AaSPForAudioClassification (of the arm the checkpoint names, if any) with `folder`'s encoder and a new
    head for `task`'s labels."""
    from transformers_aasp import AaSPConfig, AaSPForAudioClassification

    saved = json.loads((folder / "config.json").read_text())
    arm = saved.pop("ablation_arm", None)
    config = AaSPConfig.from_dict(
        {
            **saved,
            "num_labels": task.num_labels,
            "id2label": task.id2label,
            "label2id": task.label2id,
            "classifier_pooling": pooling,
            "problem_type": "single_label_classification",
        }
    )
    model_class = AaSPForAudioClassification if arm is None else arm_class(arm, AaSPForAudioClassification)
    return model_class.from_pretrained(folder, config=config)


def finetune_job(job: dict) -> dict:
    """One fine-tuning run through `fine_tune`; <folder>/model holds the model, <folder>/result.json the result."""
    from transformers import TrainingArguments, set_seed

    from transformers_aasp.training.finetuning import (
        FineTuningDataArguments,
        FineTuningModelArguments,
        RecipeArguments,
        RunSteps,
        fine_tune,
    )

    args, arm, seed, task_name, init = job["args"], job["arm"], job["seed"], job["task"], job["init"]
    folder = Path(args.work_dir) / "finetune" / f"{init}-{arm}-{task_name}-s{seed}"
    if (folder / "result.json").is_file():
        return json.loads((folder / "result.json").read_text())
    if args.workers > 1:
        torch.set_num_threads(1)
    task = load_embedded(args, task_name)
    encoder = snapshot(args, arm, seed, pretrained=init == "pretrained")
    set_seed(seed)
    model = classifier_from_snapshot(encoder, task)
    training_args = TrainingArguments(
        output_dir=str(folder / "model"),
        per_device_train_batch_size=args.finetune_batch_size,
        per_device_eval_batch_size=64,
        num_train_epochs=args.finetune_epochs,
        learning_rate=args.finetune_learning_rate,
        weight_decay=0.01,
        lr_scheduler_type="cosine",
        warmup_steps=0.1,
        seed=seed,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    start = time.perf_counter()
    run = fine_tune(
        task,
        None,
        FineTuningModelArguments(model_name_or_path=str(encoder), classifier_pooling="mean"),
        FineTuningDataArguments(task=task_name, corpus_seed=args.corpus_seed),
        RecipeArguments(),
        training_args,
        RunSteps(train=True, evaluate=True),
        model=model,
    )
    n = run["num_test_clips"]
    result = {
        "arm": arm,
        "init": init,
        "task": task_name,
        "seed": seed,
        "seconds": time.perf_counter() - start,
        "accuracy": run["test_score"],
        "num_correct": round(run["test_score"] * n),
        "n": n,
        "train_clips": run["num_train_clips"],
    }
    trained = run["trainer"].model
    if task_name == "modulation" and trained.config.use_aape:
        values, lengths, labels = split_tensors(load_features(args), "modulation", "test", folder / "model")
        result["beta_tracking"] = beta_tracking(trained.aasp, values, lengths, labels)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    return result


def baselines_all(tasks: dict) -> dict:
    """{feature_set: {task: accuracy_with_interval + "C"}} of the log-mel baselines."""
    results = {}
    for feature_set in ("stats", "full"):
        for name, task in tasks.items():
            score = score_baseline(task, feature_set)
            results.setdefault(feature_set, {})[name] = {
                **accuracy_with_interval(score["correct"]),
                "C": score["regularization"],
            }
    return results


# ---------------------------------------------------------------------------------------------------------------
# Analyses of the estimated SBLU parameters and of shift stability
# ---------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def per_patch_median_beta_hz(encoder, values, lengths) -> tuple[np.ndarray, np.ndarray]:
    """(N, G_f * G_t) median over subbands and kernels of beta in Hz per patch, and (N, G_f * G_t) validity."""
    params = encoder.get_sblu_parameters(values, attention_mask=frame_mask(lengths, values.shape[1]))
    median = params["frequency_hz"].flatten(3).median(-1).values.flatten(1)
    return median.numpy(), params["patch_valid"].flatten(1).numpy()


def beta_tracking(encoder, values, lengths, labels) -> dict:
    """Correlation, across test clips, of the clip's median per-patch median beta (Hz) with its modulation rate;
    None when every clip has the same beta ("constant_beta")."""
    from scipy.stats import pearsonr, spearmanr

    from aasp_corpora.synthetic import MODULATION_MULTIPLES, TOKEN_RATE_HZ

    encoder.eval()
    medians, valid = per_patch_median_beta_hz(encoder, values, lengths)
    clip_beta = np.array([np.median(m[v.astype(bool)]) for m, v in zip(medians, valid, strict=True)])
    rates = np.array([MODULATION_MULTIPLES[int(label)] * TOKEN_RATE_HZ for label in labels])
    constant = bool(np.ptp(clip_beta) == 0)  # e.g. an un-anchored stem at initialisation: no correlation defined
    return {
        "constant_beta": constant,
        "pearson": None if constant else float(pearsonr(clip_beta, rates)[0]),
        "spearman": None if constant else float(spearmanr(clip_beta, rates)[0]),
        "clip_median_beta_hz_by_rate": {f"{r:g}": float(np.median(clip_beta[rates == r])) for r in np.unique(rates)},
    }


def beta_tracking_of_encoder(encoder_dir: Path, store: dict) -> dict:
    from transformers_aasp import AaSPModel

    values, lengths, labels = split_tensors(store, "modulation", "test", encoder_dir)
    return beta_tracking(from_pretrained(AaSPModel, encoder_dir), values, lengths, labels)


def beta_spread(encoder_dir: Path, store: dict) -> dict:
    from transformers_aasp import AaSPModel

    encoder = from_pretrained(AaSPModel, encoder_dir).eval()
    values, lengths, _ = split_tensors(store, "modulation", "test", encoder_dir)
    medians, valid = per_patch_median_beta_hz(encoder, values, lengths)
    patch_values = medians[valid.astype(bool)]
    clip_means = np.array([m[v.astype(bool)].mean() for m, v in zip(medians, valid, strict=True)])
    return {
        "std_over_patches_hz": float(patch_values.std()),
        "std_over_clips_hz": float(clip_means.std()),
        "range_hz": [float(patch_values.min()), float(patch_values.max())],
    }


@torch.no_grad()
def clip_embeddings(encoder, values: torch.Tensor, lengths: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Mean of the frame features over valid time columns: (N, T, F) -> (N, G_f * D)."""
    parts = []
    for start in range(0, len(values), batch_size):
        chunk, chunk_lengths = values[start : start + batch_size], lengths[start : start + batch_size]
        out = encoder(chunk, attention_mask=frame_mask(chunk_lengths, chunk.shape[1]))
        weights = out.time_column_attention_mask.float()[..., None]
        parts.append(((out.time_column_features * weights).sum(1) / weights.sum(1)).numpy())
    return np.concatenate(parts)


SHIFT_WINDOW_FRAMES = 368  # 23 time patches
SHIFT_MIN_CLIP_FRAMES = 385  # the window plus the largest shift (15), with 2 frames to spare


@torch.no_grad()
def shift_stability(encoder_dir: Path, store: dict, shifts=(1, 3, 5, 8, 15), num_clips: int = 120) -> dict:
    """Mean cosine between the clip embedding of frames [0, L) and of frames [k, k + L), L = 368, per shift k.

    Uses the first `num_clips` test clips of each task that last at least `SHIFT_MIN_CLIP_FRAMES`; "clips" says how
    many. A task without such a clip (a small corpus) is reported with 0 clips and no shifts.
    """
    from transformers_aasp import AaSPModel

    encoder = from_pretrained(AaSPModel, encoder_dir).eval()
    window = SHIFT_WINDOW_FRAMES
    result = {}
    for task in TASKS:
        values, lengths, _ = split_tensors(store, task, "test", encoder_dir)
        keep = lengths >= SHIFT_MIN_CLIP_FRAMES
        values = values[keep][:num_clips]
        result[task] = {"clips": len(values)}
        if len(values) == 0:
            print(f"shift stability, {task}: no test clip lasts {SHIFT_MIN_CLIP_FRAMES} frames; skipped")
            continue
        reference = clip_embeddings(encoder, values[:, :window], torch.full((len(values),), window))
        for k in shifts:
            shifted = clip_embeddings(encoder, values[:, k : k + window], torch.full((len(values),), window))
            cosine = (reference * shifted).sum(1) / (
                np.linalg.norm(reference, axis=1) * np.linalg.norm(shifted, axis=1)
            )
            result[task][str(k)] = float(cosine.mean())
    return result


def uses_aape(arm: str) -> bool:
    return ABLATION_ARMS[arm].config.get("use_aape", True)


def figure_name(kind: str, arm: str) -> str:
    """Figure folder suffix: "pretrained" / "modulation_supervised" for the `aape` arm (the folders the research notes cite),
    with "_<arm>" for the others."""
    return kind if arm == "aape" else f"{kind}_{arm}"


def analyse(args) -> dict:
    """Beta tracking at initialisation and after pre-training, beta spread, shift stability and Figure 4 of the
    seed-0 encoders of the analysed arms in --arms."""
    from research.figures import make_figures
    from transformers_aasp import AaSPModel

    store = load_features(args)
    work = Path(args.work_dir)
    arms = [arm for arm in ANALYSED_ARMS if arm in args.arms and snapshot(args, arm, 0, True).is_dir()]
    encoders = {arm: snapshot(args, arm, 0, True) for arm in arms}
    checkpoints = {figure_name("pretrained", arm): path for arm, path in encoders.items() if uses_aape(arm)}
    for arm in args.finetune_arms:
        supervised = work / "finetune" / f"scratch-{arm}-modulation-s0" / "model"
        if uses_aape(arm) and supervised.is_dir():
            checkpoints[figure_name("modulation_supervised", arm)] = supervised
    figures = {}
    for name, checkpoint in checkpoints.items():
        output_dir = Path(args.results_dir) / f"learning_quality_figures_{name}"
        written = make_figures(checkpoint, output_dir, model=from_pretrained(AaSPModel, checkpoint))
        figures[name] = {k: repository_path(v) for k, v in written.items()}
    return {
        "beta_tracking_pretraining": {
            arm: {
                "random_init": beta_tracking_of_encoder(snapshot(args, arm, 0, False), store),
                "pretrained": beta_tracking_of_encoder(path, store),
            }
            for arm, path in encoders.items()
            if uses_aape(arm)
        },
        "beta_spread_pretrained": {arm: beta_spread(path, store) for arm, path in encoders.items() if uses_aape(arm)},
        "shift_stability": {arm: shift_stability(path, store) for arm, path in encoders.items()},
        "figures": figures,
    }


def repository_path(path) -> str:
    """`path` relative to the repository root when it lies inside it (as the research notes cite it), else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
def points_over_seeds(accuracies: list[float]) -> str:
    """Mean accuracy in %, with the half-width of its 95 % t-interval over seeds when there are several."""
    summary = summarize_scores([100 * value for value in accuracies])
    return f"{summary['mean']:.1f} ± {summary['ci95']:.1f}" if summary["n"] > 1 else f"{summary['mean']:.1f}"


def paired_cell(a: dict, b: dict) -> str:
    """a - b in points over the seeds both have (a, b: seed -> accuracy), with its 95 % t-interval over seeds."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return "-"
    difference = paired_difference([100 * a[s] for s in seeds], [100 * b[s] for s in seeds])
    if difference["n"] > 1:
        return f"{difference['mean']:+.1f} ± {difference['ci95']:.1f}"
    return f"{difference['mean']:+.1f}"


def markdown(results: dict) -> str:
    """Markdown tables of the phases whose results are present (a run of `--phases analyse` alone has none)."""
    lines = ["# What AaSP learns on the embedded tasks", ""]
    if "linear_probe" in results:
        lines += linear_probe_report(results["linear_probe"])
    if results.get("finetune"):
        lines += finetune_report(results["finetune"], results.get("baseline", {}))
    if results.get("beta_tracking_pretraining"):
        lines += beta_tracking_report(
            results["beta_tracking_pretraining"], results.get("beta_tracking_supervised", {})
        )
    return "\n".join(lines) + "\n"


def linear_probe_report(probe: dict) -> list[str]:
    """probe: arm -> task -> seed -> accuracy."""
    lines = ["Linear probe, test accuracy % (mean ± 95 % t-interval over seeds):\n"]
    lines.append("| arm | " + " | ".join(TASKS) + " |")
    lines.append("|---|" + "---|" * len(TASKS))
    for arm, per_task in probe.items():
        cells = [points_over_seeds(list(per_task[t].values())) for t in TASKS]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines.append("\nPaired differences of the linear probe (points, mean ± 95 % t-interval over seeds):\n")
    lines.append("| comparison | " + " | ".join(TASKS) + " |")
    lines.append("|---|" + "---|" * len(TASKS))
    comparisons = [
        ("aape", "plain"),
        ("aape_v1", "plain_v1"),
        ("aape", "aape_v1"),
        ("aape", "aape_flatten"),
        ("aape_peak", "aape"),
        ("aape_peak", "paper"),
        ("aape_peak", "plain"),
        ("aape", "all_options_h4"),
        ("aape", "random_aape"),
        ("plain", "random_plain"),
    ]
    comparisons += [(arm, "aape_v1") for arm in probe if arm.startswith("v1+")]
    for a, b in comparisons:
        if a in probe and b in probe:
            cells = [paired_cell(probe[a][t], probe[b][t]) for t in TASKS]
            lines.append(f"| {a} − {b} | " + " | ".join(cells) + " |")
    return lines


def finetune_report(finetune: dict, baselines: dict) -> list[str]:
    """finetune: "init-arm" -> task -> seed -> accuracy; baselines: feature set -> task -> accuracy_with_interval."""
    lines = [
        "\nFine-tuning, test accuracy % (mean ± 95 % t-interval over seeds), and the log-mel baselines [95 % Wilson]:\n"
    ]
    lines.append("| model | " + " | ".join(TASKS) + " |")
    lines.append("|---|" + "---|" * len(TASKS))
    for key, per_task in finetune.items():
        cells = [points_over_seeds(list(per_task[t].values())) if t in per_task else "-" for t in TASKS]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    for feature_set, per_task in baselines.items():
        cells = [
            f"{100 * e['accuracy']:.1f} [{100 * e['ci95_low']:.0f}, {100 * e['ci95_high']:.0f}]"
            for e in (per_task[t] for t in TASKS)
        ]
        lines.append(f"| log-mel baseline ({feature_set}) | " + " | ".join(cells) + " |")
    lines.append("\nPaired fine-tuning differences (points):\n")
    lines.append("| comparison | " + " | ".join(TASKS) + " |")
    lines.append("|---|" + "---|" * len(TASKS))
    for a, b in (
        ("scratch-aape", "scratch-plain"),
        ("scratch-aape_peak", "scratch-aape"),
        ("scratch-aape_peak", "scratch-plain"),
        ("pretrained-aape_peak", "pretrained-aape"),
        ("pretrained-aape", "pretrained-plain"),
        ("pretrained-aape_peak", "pretrained-plain"),
        ("pretrained-aape", "scratch-aape"),
        ("pretrained-aape_peak", "scratch-aape_peak"),
        ("pretrained-plain", "scratch-plain"),
    ):
        if a in finetune and b in finetune:
            cells = [
                paired_cell(finetune[a][t], finetune[b][t]) if t in finetune[a] and t in finetune[b] else "-"
                for t in TASKS
            ]
            lines.append(f"| {a} − {b} | " + " | ".join(cells) + " |")
    return lines


def beta_tracking_report(pretraining: dict, supervised: dict) -> list[str]:
    """pretraining: arm -> {"random_init", "pretrained"} -> beta_tracking; supervised: "init-arm-s0" -> tracking."""
    lines = [
        "\nBeta tracking on the modulation test clips, seed 0: Spearman correlation of the per-clip median beta with "
        "the true modulation rate. Tracking at random initialisation holds by construction (the spectral-peak "
        "anchor), not by learning; the un-anchored `paper` arm is the control.\n",
        "| arm | random init | pre-trained | fine-tuned from random init | fine-tuned from pre-trained |",
        "|---|---|---|---|---|",
    ]
    for arm, tracking in pretraining.items():
        entries = [tracking["random_init"], tracking["pretrained"]]
        entries += [supervised.get(f"{init}-{arm}-s0") for init in ("scratch", "pretrained")]
        cells = [spearman_cell(entry) for entry in entries]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def spearman_cell(tracking: dict | None) -> str:
    if tracking is None:
        return "-"
    return "n/a (beta constant)" if tracking["constant_beta"] else f"{tracking['spearman']:+.2f}"


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    results_dir = Path(args.results_dir)
    results_path = results_dir / f"{args.result_name}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["setup"] = {k: v for k, v in vars(args).items() if k != "phases"}
    results["setup"]["results_dir"] = repository_path(args.results_dir)  # no machine-specific absolute path
    results["setup"]["pretrain_config"] = repository_path(args.pretrain_config)
    started = time.perf_counter()
    tasks = {name: load_embedded(args, name) for name in TASKS}
    if "features" in args.phases:
        build_features(args)
    if "pretrain" in args.phases:
        results["pretrain_runs"] = run_jobs(run_pretraining, pretraining_jobs(args), args.workers)
        details = probe_all(args, tasks)
        results["linear_probe_details"] = details
        results["linear_probe"] = {
            arm: {
                task: {seed: entry["accuracy"] for seed, entry in per_seed.items()}
                for task, per_seed in per_task.items()
            }
            for arm, per_task in details.items()
        }
    if "finetune" in args.phases:
        jobs = [
            {"args": args, "arm": arm, "seed": seed, "task": task, "init": init}
            for seed in args.seeds
            for init in ("scratch", "pretrained")
            for arm in args.finetune_arms
            for task in TASKS
        ]
        done = run_jobs(finetune_job, jobs, args.workers)
        finetune = {}
        for record in done:
            key = f"{record['init']}-{record['arm']}"
            finetune.setdefault(key, {}).setdefault(record["task"], {})[str(record["seed"])] = record["accuracy"]
        results["finetune"] = finetune
        results["finetune_runs"] = [{k: v for k, v in r.items() if k != "beta_tracking"} for r in done]
        results["beta_tracking_supervised"] = {
            f"{r['init']}-{r['arm']}-s{r['seed']}": r["beta_tracking"] for r in done if "beta_tracking" in r
        }
        results["baseline"] = baselines_all(tasks)
    if "analyse" in args.phases:
        results.update(analyse(args))
    results["wall_seconds_last_run"] = time.perf_counter() - started
    results["load_average"] = load_average()
    results_dir.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2))
    report = markdown(results)
    results_path.with_suffix(".md").write_text(report)
    print(report)
    for key in ("beta_spread_pretrained", "shift_stability", "figures"):
        if key in results:
            print(f"\n{key}: {json.dumps(results[key], indent=1)}")
    return results


if __name__ == "__main__":
    main()
