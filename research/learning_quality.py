#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""What AaSP learns on the embedded tasks, against the plain stem and a log-mel baseline (issue: learning quality).

    python -m research.learning_quality                       # everything below, 3 seeds, 2-2.5 h on 2 idle cores
    python -m research.learning_quality --phases pretrain     # one phase; finished jobs are reused from --work_dir
    python -m research.learning_quality --clips_per_class 12 --seeds 0 --arms plain aape_v1 aape --pretrain_steps 4 \
        --finetune_epochs 1 --work_dir /tmp/lq --results_dir /tmp/lq    # a one-minute check that every phase runs

An evidence-sized variant of the embedded corpus (`--clips_per_class 270`: 328 / 410 / 205 test clips for instrument /
keyword / modulation) is decoded once into normalised log-mel features. Then, per seed:

* pre-training (tiny config, `--pretrain_steps` steps, the same loop as examples/pretrain.py: AdamW without decay on
  norms / biases / gates, cosine schedule with warm-up, EMA teacher updated after every step, per-step masks) of
  every arm in `ARMS`: the plain stem, AaPE with all first-wave options ("aape_v1"), each fix of the learning-quality
  issue switched on alone on top of aape_v1, AaPE with the defaults of BENCHMARKS.md 7a-7f ("aape": no beta anchor)
  and AaPE with the current defaults ("aape_peak": beta anchored on the spectral peak, grid features);
* linear probe of every pre-trained encoder and of a random-init encoder: clip embedding = mean of the frame
  features over valid time columns, standardised, logistic regression (C = 0.1 for every arm), trained on
  `--probe_clips_per_class` train clips per class plus the validation split, test accuracy;
* fine-tuning (mean pooling, `--finetune_epochs`, random crops of `--finetune_crop_frames`) of the plain and AaPE
  encoders, pre-trained and from scratch, on `--finetune_clips_per_class` train clips per class;
* the log-mel statistics baseline (`transformers_aasp.evaluation.baseline`) on the fine-tuning clips and the same test set.

Analyses: paired differences across seeds with 95 % t-intervals, binomial intervals per run, the shift stability
of clip embeddings (1-15 frames), the spread of the estimated beta after pre-training, the correlation of the
per-patch median beta with the true modulation rate after supervised training, and Figure 4 of both models.
Results: research/results/learning_quality.json and a Markdown summary on stdout (copied into BENCHMARKS.md).
Jobs run in `--workers` processes with one thread each (tiny models do not use two threads well).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import REPO_ROOT, load_average, mean_ci
from research.ablations import ARMS as ABLATION_ARMS
from research.ablations import arm_config, build_model, from_pretrained


RESULTS_DIR = Path(__file__).resolve().parent / "results"  # this script's results


TASKS = ("instrument", "keyword", "modulation")
# The arms compared, by their names in research.ablations (each: the fields and module variants that define it).
# "aape_v1": the first experiments (the paper's features with 4 kernels, zeroed masked views, Bernoulli masks); the
# "v1+..." arms change one of them; "aape": band energy without the spectral-peak anchor; "aape_flatten": the paper's
# features with 4 kernels; "aape_peak": the package's default.
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
    "aape_peak",
)
FINETUNE_ARMS = ("plain", "aape", "aape_peak")
ANALYSED_ARMS = ("plain", "aape_v1", "aape", "aape_peak")  # analysed when seed 0 of the arm was pre-trained


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", nargs="+", default=["features", "pretrain", "finetune", "analyse"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ABLATION_ARMS))
    parser.add_argument(
        "--finetune_arms",
        nargs="+",
        default=list(FINETUNE_ARMS),
        choices=list(ABLATION_ARMS),
        help="Arms fine-tuned from scratch and from their pre-trained encoder.",
    )
    parser.add_argument("--clips_per_class", type=int, default=270)
    parser.add_argument("--pretrain_steps", type=int, default=300)
    parser.add_argument("--pretrain_batch_size", type=int, default=16)
    parser.add_argument("--pretrain_crop_frames", type=int, default=304)
    parser.add_argument("--pretrain_learning_rate", type=float, default=1e-3)
    parser.add_argument(
        "--probe_clips_per_class",
        type=int,
        default=100,
        help="Train clips per class of the linear probe (plus the validation split).",
    )
    parser.add_argument(
        "--finetune_clips_per_class",
        type=int,
        default=30,
        help="Train clips per class of fine-tuning and of the log-mel baseline.",
    )
    parser.add_argument("--finetune_epochs", type=int, default=12)
    parser.add_argument("--finetune_batch_size", type=int, default=16)
    parser.add_argument("--finetune_learning_rate", type=float, default=1e-3)
    parser.add_argument(
        "--finetune_crop_frames",
        type=int,
        default=320,
        help="Random training crop (3.2 s); test clips are scored whole (up to 4 s).",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work_dir", default="outputs/learning_quality")
    parser.add_argument("--result_name", default="learning_quality")
    parser.add_argument(
        "--results_dir",
        default=str(RESULTS_DIR),
        help="Where <result_name>.json and the figure folders are written (default: research/results).",
    )
    args = parser.parse_args()
    check_phase_arms(parser, args)
    return args


def check_phase_arms(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a run that pre-trains a subset of the arms and then fine-tunes an encoder it did not pre-train."""
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
# Features: the evidence corpus as normalised log-mel tensors
# ---------------------------------------------------------------------------------------------------------------
def build_features(args) -> Path:
    """Decode every clip once: <work_dir>/features.pt holds per task and split (N, 400, 80) float16 + lengths."""
    from transformers_aasp import AaSPFeatureExtractor
    from transformers_aasp.data.corpus import load_embedded_task

    path = Path(args.work_dir) / "features.pt"
    if path.is_file():
        return path
    extractor = AaSPFeatureExtractor()
    raw = {}
    for task in TASKS:
        data = load_embedded_task(task, clips_per_class=args.clips_per_class)
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


def split_tensors(store: dict, task: str, split: str):
    part = store["data"][f"{task}/{split}"]
    return part["input_values"].float(), part["lengths"], part["labels"]


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    return (torch.arange(frames)[None] < lengths[:, None]).long()


def per_class_subset(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first `per_class` clips of every class (clips are exchangeable)."""
    keep = [torch.nonzero(labels == label).flatten()[:per_class] for label in labels.unique()]
    return torch.cat(keep).sort().values


# ---------------------------------------------------------------------------------------------------------------
# Jobs (each runs in a worker process, one thread)
# ---------------------------------------------------------------------------------------------------------------
def random_crops(values: torch.Tensor, lengths: torch.Tensor, crop: int, generator: torch.Generator):
    """Random crop of `crop` frames inside each clip's valid frames: (B, T, F) -> (B, crop, F) + lengths."""
    starts = (torch.rand(len(values), generator=generator) * (lengths - crop).clamp(min=0).float()).long()
    index = starts[:, None] + torch.arange(crop)[None]
    cropped = torch.gather(values, 1, index.clamp(max=values.shape[1] - 1)[..., None].expand(-1, -1, values.shape[2]))
    new_lengths = torch.minimum(lengths - starts, torch.tensor(crop))
    return cropped * frame_mask(new_lengths, crop)[..., None], new_lengths


def finished(folder: Path) -> dict | None:
    """The result of a job that already ran in `folder` (its result.json), else None: jobs are resumable."""
    path = folder / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def save_result(folder: Path, result: dict) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    return result


def pretrain_job(job: dict) -> dict:
    from transformers import get_cosine_schedule_with_warmup

    from transformers_aasp import AaSPForPreTraining
    from transformers_aasp.training.optimization import mask_generator, weight_decay_groups

    args, arm, seed = job["args"], job["arm"], job["seed"]
    folder = Path(args.work_dir) / "pretrain" / f"{arm}-s{seed}"
    if (done := finished(folder)) is not None:
        return done
    torch.manual_seed(seed)
    store = load_features(args)
    pool = [split_tensors(store, task, "train") for task in TASKS]
    values = torch.cat([p[0] for p in pool])
    lengths = torch.cat([p[1] for p in pool])
    steps = args.pretrain_steps
    model = build_model(arm, AaSPForPreTraining, arm_config(arm, ema_anneal_steps=steps))
    optimizer = torch.optim.AdamW(weight_decay_groups(model, 0.05), lr=args.pretrain_learning_rate, betas=(0.9, 0.95))
    scheduler = get_cosine_schedule_with_warmup(optimizer, steps // 10, steps)
    generator = torch.Generator().manual_seed(seed)
    start, losses = time.perf_counter(), []
    model.train()
    for step in range(steps):
        index = torch.randint(len(values), (args.pretrain_batch_size,), generator=generator)
        crops, crop_lengths = random_crops(values[index], lengths[index], args.pretrain_crop_frames, generator)
        out = model(
            crops,
            attention_mask=frame_mask(crop_lengths, crops.shape[1]),
            mask_generator=mask_generator(seed, 0, step),
        )
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 4.0)
        optimizer.step()
        scheduler.step()
        model.update_teacher(step)
        losses.append([float(out.masked_patch_loss), float(out.contrastive_accuracy)])
    seconds = time.perf_counter() - start
    model.export_encoder(folder / "encoder")
    result = {
        "arm": arm,
        "seed": seed,
        "seconds": seconds,
        "steps": steps,
        "final_masked_patch_loss": float(np.mean([pair[0] for pair in losses[-20:]])),
        "final_contrastive_accuracy": float(np.mean([pair[1] for pair in losses[-20:]])),
        "linear_probe": linear_probe_all(folder / "encoder", store, seed, args.probe_clips_per_class),
    }
    return save_result(folder, result)


def random_init_job(job: dict) -> dict:
    from transformers_aasp import AaSPModel

    args, arm, seed = job["args"], job["arm"], job["seed"]
    folder = Path(args.work_dir) / "random" / f"{arm}-s{seed}"
    if (done := finished(folder)) is not None:
        return done
    torch.manual_seed(seed)
    build_model(arm, AaSPModel, arm_config(arm)).save_pretrained(folder / "encoder")
    result = {
        "arm": f"random_{arm}",
        "seed": seed,
        "linear_probe": linear_probe_all(folder / "encoder", load_features(args), seed, args.probe_clips_per_class),
    }
    return save_result(folder, result)


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


def logistic_probe(train_x, train_y, test_x, test_y, seed: int, regularization: float = 0.1) -> dict:
    """Standardise, fit a logistic regression (C = `regularization`, fixed for every arm), score test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=2000, random_state=seed))
    correct = int((model.fit(train_x, train_y).predict(test_x) == test_y).sum())
    return {"accuracy": correct / len(test_y), "correct": correct, "n": len(test_y)}


def probe_training_split(store: dict, task: str, per_class: int):
    """The probe's (and fine-tuning's) training clips: `per_class` train clips per class plus the validation split."""
    values, lengths, labels = split_tensors(store, task, "train")
    subset = per_class_subset(labels, per_class)
    val_values, val_lengths, val_labels = split_tensors(store, task, "validation")
    return (
        torch.cat([values[subset], val_values]),
        torch.cat([lengths[subset], val_lengths]),
        torch.cat([labels[subset], val_labels]),
    )


def finetune_training_split(store: dict, task: str, per_class: int):
    """Fine-tuning's (and the baseline's) training clips: the first `per_class` train clips of every class."""
    values, lengths, labels = split_tensors(store, task, "train")
    subset = per_class_subset(labels, per_class)
    return values[subset], lengths[subset], labels[subset]


def linear_probe_all(encoder_dir: Path, store: dict, seed: int, per_class: int) -> dict:
    from transformers_aasp import AaSPModel

    encoder = from_pretrained(AaSPModel, encoder_dir).eval()
    scores = {}
    for task in TASKS:
        train_values, train_lengths, train_labels = probe_training_split(store, task, per_class)
        test_values, test_lengths, test_labels = split_tensors(store, task, "test")
        scores[task] = logistic_probe(
            clip_embeddings(encoder, train_values, train_lengths),
            train_labels.numpy(),
            clip_embeddings(encoder, test_values, test_lengths),
            test_labels.numpy(),
            seed,
        )
    return scores


def finetune_job(job: dict) -> dict:
    from transformers import get_cosine_schedule_with_warmup

    from transformers_aasp import AaSPForAudioClassification, AaSPModel
    from transformers_aasp.training.optimization import weight_decay_groups

    args, arm, seed, task, init = job["args"], job["arm"], job["seed"], job["task"], job["init"]
    folder = Path(args.work_dir) / "finetune" / f"{init}-{arm}-{task}-s{seed}"
    if (done := finished(folder)) is not None:
        return done
    torch.manual_seed(seed)
    store = load_features(args)
    values, lengths, labels = finetune_training_split(store, task, args.finetune_clips_per_class)
    num_labels = int(labels.max()) + 1
    config = arm_config(arm, classifier_pooling="mean", num_labels=num_labels)
    model = build_model(arm, AaSPForAudioClassification, config)
    if init == "pretrained":
        encoder = from_pretrained(AaSPModel, Path(args.work_dir) / "pretrain" / f"{arm}-s{seed}" / "encoder")
        model.aasp.load_state_dict(encoder.state_dict())
    batch_size = args.finetune_batch_size
    steps_per_epoch = math.ceil(len(values) / batch_size)
    total = steps_per_epoch * args.finetune_epochs
    optimizer = torch.optim.AdamW(weight_decay_groups(model, 0.01), lr=args.finetune_learning_rate)
    scheduler = get_cosine_schedule_with_warmup(optimizer, total // 10, total)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    model.train()
    for _ in range(args.finetune_epochs):
        order = torch.randperm(len(values), generator=generator)
        for first in range(0, len(values), batch_size):
            index = order[first : first + batch_size]
            crops, crop_lengths = random_crops(values[index], lengths[index], args.finetune_crop_frames, generator)
            out = model(crops, attention_mask=frame_mask(crop_lengths, crops.shape[1]), labels=labels[index])
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            scheduler.step()
    seconds = time.perf_counter() - start
    model.eval()
    test_values, test_lengths, test_labels = split_tensors(store, task, "test")
    with torch.no_grad():
        logits = torch.cat(
            [
                model(
                    test_values[i : i + 64], attention_mask=frame_mask(test_lengths[i : i + 64], test_values.shape[1])
                ).logits
                for i in range(0, len(test_values), 64)
            ]
        )
    correct = int((logits.argmax(-1) == test_labels).sum())
    result = {
        "arm": arm,
        "init": init,
        "task": task,
        "seed": seed,
        "seconds": seconds,
        "accuracy": correct / len(test_labels),
        "correct": correct,
        "n": len(test_labels),
        "train_clips": len(values),
    }
    if task == "modulation" and config.use_aape:
        result["beta_tracking"] = beta_tracking(model.aasp, test_values, test_lengths, test_labels)
    if seed == 0:
        model.save_pretrained(folder / "model")
    return save_result(folder, result)


def baseline_job(job: dict) -> dict:
    from transformers_aasp.evaluation.baseline import logmel_features

    args, task, feature_set = job["args"], job["task"], job["feature_set"]
    store = load_features(args)
    train_values, train_lengths, train_labels = finetune_training_split(store, task, args.finetune_clips_per_class)
    test_values, test_lengths, test_labels = split_tensors(store, task, "test")

    def features(values, lengths):
        return logmel_features(values.numpy(), frame_mask(lengths, values.shape[1]).numpy(), feature_set)

    score = logistic_probe(
        features(train_values, train_lengths),
        train_labels.numpy(),
        features(test_values, test_lengths),
        test_labels.numpy(),
        seed=0,
        regularization=1.0,
    )
    return {"task": task, "feature_set": feature_set, **score}


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
    """Correlation, across test clips, of the clip's median per-patch median beta (Hz) with its modulation rate."""
    from scipy.stats import pearsonr, spearmanr

    from transformers_aasp.data.corpus import MODULATION_MULTIPLES, TOKEN_RATE_HZ

    encoder.eval()
    medians, valid = per_patch_median_beta_hz(encoder, values, lengths)
    clip_beta = np.array([np.median(m[v]) for m, v in zip(medians, valid, strict=True)])
    rates = np.array([MODULATION_MULTIPLES[int(label)] * TOKEN_RATE_HZ for label in labels])
    return {
        "pearson": float(pearsonr(clip_beta, rates)[0]),
        "spearman": float(spearmanr(clip_beta, rates)[0]),
        "clip_median_beta_hz_by_rate": {f"{r:g}": float(np.median(clip_beta[rates == r])) for r in np.unique(rates)},
    }


def beta_spread(encoder_dir: Path, store: dict) -> dict:
    from transformers_aasp import AaSPModel

    encoder = from_pretrained(AaSPModel, encoder_dir).eval()
    values, lengths, _ = split_tensors(store, "modulation", "test")
    medians, valid = per_patch_median_beta_hz(encoder, values, lengths)
    patch_values = medians[valid.astype(bool)]
    clip_means = np.array([m[v.astype(bool)].mean() for m, v in zip(medians, valid, strict=True)])
    return {
        "std_over_patches_hz": float(patch_values.std()),
        "std_over_clips_hz": float(clip_means.std()),
        "range_hz": [float(patch_values.min()), float(patch_values.max())],
    }


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
        values, lengths, _ = split_tensors(store, task, "test")
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


# ---------------------------------------------------------------------------------------------------------------
# Statistics and report
# ---------------------------------------------------------------------------------------------------------------
def wilson(correct: int, n: int) -> tuple[float, float]:
    z = 1.96
    centre = (correct + z * z / 2) / (n + z * z)
    half = z * math.sqrt(correct * (n - correct) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def paired(a: dict, b: dict) -> tuple[float, float, int]:
    """Mean and 95 % half-width of a - b over the seeds both have (accuracy points)."""
    seeds = sorted(set(a) & set(b))
    mean, half = mean_ci([100 * (a[s] - b[s]) for s in seeds])
    return mean, half, len(seeds)


def fmt(mean: float, half: float) -> str:
    return f"{mean:+.1f} ± {half:.1f}" if not math.isnan(half) else f"{mean:+.1f}"


def report(results: dict) -> str:
    """Markdown tables of the phases whose results are present (a run of `--phases analyse` alone has none)."""
    lines = []
    if "linear_probe" in results:
        lines += linear_probe_report(results["linear_probe"])
    if results.get("finetune"):
        lines += finetune_report(results["finetune"], results.get("baseline", {}))
    return "\n".join(lines)


def linear_probe_report(probe: dict) -> list[str]:
    """probe: arm -> task -> seed -> accuracy."""
    lines = ["Linear probe, test accuracy % (mean ± 95 % t-interval over seeds):\n"]
    lines.append("| arm | " + " | ".join(TASKS) + " |")
    lines.append("|---|" + "---|" * len(TASKS))
    for arm, per_task in probe.items():
        cells = [fmt(*mean_ci([100 * v for v in per_task[t].values()])).lstrip("+") for t in TASKS]
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
        ("aape_peak", "plain"),
        ("aape", "all_options_h4"),
        ("aape", "random_aape"),
        ("plain", "random_plain"),
    ]
    comparisons += [(arm, "aape_v1") for arm in probe if arm.startswith("v1+")]
    for a, b in comparisons:
        if a in probe and b in probe:
            cells = [fmt(*paired(probe[a][t], probe[b][t])[:2]) for t in TASKS]
            lines.append(f"| {a} − {b} | " + " | ".join(cells) + " |")
    return lines


def finetune_report(finetune: dict, baselines: dict) -> list[str]:
    """finetune: "init-arm" -> task -> seed -> accuracy; baselines: feature set -> task -> score."""
    lines = []
    lines.append("\nFine-tuning, test accuracy % (mean ± 95 % t-interval over seeds), and the log-mel baseline:\n")
    lines.append("| model | " + " | ".join(TASKS) + " |")
    lines.append("|---|" + "---|" * len(TASKS))
    for key, per_task in finetune.items():
        cells = [
            fmt(*mean_ci([100 * v for v in per_task[t].values()])).lstrip("+") if t in per_task else "-" for t in TASKS
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    for feature_set, per_task in baselines.items():
        cells = []
        for t in TASKS:
            low, high = wilson(per_task[t]["correct"], per_task[t]["n"])
            cells.append(f"{100 * per_task[t]['accuracy']:.1f} [{100 * low:.0f}, {100 * high:.0f}]")
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
        ("pretrained-plain", "scratch-plain"),
    ):
        if a in finetune and b in finetune:
            cells = [
                fmt(*paired(finetune[a][t], finetune[b][t])[:2]) if t in finetune[a] and t in finetune[b] else "-"
                for t in TASKS
            ]
            lines.append(f"| {a} − {b} | " + " | ".join(cells) + " |")
    return lines


def uses_aape(arm: str) -> bool:
    return ABLATION_ARMS[arm].config.get("use_aape", True)


def figure_name(kind: str, arm: str) -> str:
    """Figure folder suffix: "pretrained" / "modulation_supervised" for the `aape` arm (the folders of BENCHMARKS.md 7d),
    with "_<arm>" for the others."""
    return kind if arm == "aape" else f"{kind}_{arm}"


def analyse(args) -> dict:
    """Beta spread, shift stability and Figure 4 of the seed-0 encoders of the analysed arms in --arms."""
    from research.figures import make_figures
    from transformers_aasp import AaSPFeatureExtractor, AaSPModel

    store = load_features(args)
    work = Path(args.work_dir)
    encoders = {
        arm: work / "pretrain" / f"{arm}-s0" / "encoder"
        for arm in ANALYSED_ARMS
        if arm in args.arms and (work / "pretrain" / f"{arm}-s0" / "encoder").is_dir()
    }
    checkpoints = {figure_name("pretrained", arm): path for arm, path in encoders.items() if uses_aape(arm)}
    for arm in args.finetune_arms:
        supervised = work / "finetune" / f"scratch-{arm}-modulation-s0" / "model"
        if uses_aape(arm) and supervised.is_dir():
            checkpoints[figure_name("modulation_supervised", arm)] = supervised
    figures = {}
    for name, checkpoint in checkpoints.items():
        if not (checkpoint / "preprocessor_config.json").is_file():
            AaSPFeatureExtractor(mean=store["norm"][0], std=store["norm"][1]).save_pretrained(checkpoint)
        output_dir = Path(args.results_dir) / f"learning_quality_figures_{name}"
        written = make_figures(checkpoint, output_dir, model=from_pretrained(AaSPModel, checkpoint))
        figures[name] = {k: repository_path(v) for k, v in written.items()}
    return {
        "beta_spread_pretrained": {arm: beta_spread(path, store) for arm, path in encoders.items() if uses_aape(arm)},
        "shift_stability": {arm: shift_stability(path, store) for arm, path in encoders.items()},
        "figures": figures,
    }


def repository_path(path) -> str:
    """`path` relative to the repository root when it lies inside it (as BENCHMARKS.md cites it), else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def run_jobs(function, jobs: list[dict], workers: int) -> list[dict]:
    if workers <= 1:
        return [function(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        return pool.map(function, jobs, chunksize=1)


def main() -> None:
    args = parse_args()
    results_path = Path(args.results_dir) / f"{args.result_name}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["setup"] = {k: v for k, v in vars(args).items() if k != "phases"}
    results["setup"]["results_dir"] = repository_path(args.results_dir)  # no machine-specific absolute path
    started = time.perf_counter()
    if "features" in args.phases:
        build_features(args)
    if "pretrain" in args.phases:
        jobs = [{"args": args, "arm": arm, "seed": seed} for seed in args.seeds for arm in args.arms]
        done = run_jobs(pretrain_job, jobs, args.workers)
        randoms = run_jobs(
            random_init_job,
            [{"args": args, "arm": arm, "seed": seed} for seed in args.seeds for arm in ("plain", "aape")],
            args.workers,
        )
        probe = {}
        for record in done + randoms:
            for task, score in record["linear_probe"].items():
                probe.setdefault(record["arm"], {}).setdefault(task, {})[str(record["seed"])] = score["accuracy"]
        results["linear_probe"] = probe
        results["pretrain_runs"] = [{k: v for k, v in r.items() if k != "linear_probe"} for r in done]
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
        results["beta_tracking_supervised"] = {
            f"{r['init']}-{r['arm']}-s{r['seed']}": r["beta_tracking"] for r in done if "beta_tracking" in r
        }
        baselines = run_jobs(
            baseline_job,
            [{"args": args, "task": t, "feature_set": f} for t in TASKS for f in ("stats", "full")],
            args.workers,
        )
        results["baseline"] = {}
        for record in baselines:
            results["baseline"].setdefault(record["feature_set"], {})[record["task"]] = record
    if "analyse" in args.phases:
        results.update(analyse(args))
    results["wall_seconds_last_run"] = time.perf_counter() - started
    results["load_average"] = load_average()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2))
    print(report(results))
    for key in ("beta_tracking_supervised", "beta_spread_pretrained", "shift_stability", "figures"):
        if key in results:
            print(f"\n{key}: {json.dumps(results[key], indent=1)}")


if __name__ == "__main__":
    main()
