# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The log-mel statistics baseline: hand-made clip features + logistic regression, next to AaSP's scores.

What a learned encoder's downstream score has to beat is what a linear classifier gets from plain statistics of the
same log-mel spectrogram (F = 80 mel bins, 100 frames/s), over each clip's valid frames only:
    "stats" (2F = 160 values): mean and standard deviation over time of each mel bin;
    "full" (3F + 16 x 12 = 432 values): "stats", the standard deviation of frame-to-frame differences of each mel
        bin, and a modulation spectrum: log power of 16 mel-band envelopes in 12 log-spaced bins of 0.5-50 Hz.

The classifier is `make_pipeline(StandardScaler(), LogisticRegression(C=C))`, C chosen on the validation split,
refitted on train + validation, and scored once on test, with a 95 % Wilson interval that covers the sampling of the
test clips only. Clips are cut to the task's `clip_seconds` by the rule of every script (`audio.fit_clip`): a shorter
clip is not zero-padded (only up to one analysis window), and padding frames are masked out, so that silence added by
padding never enters the statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from transformers import AutoFeatureExtractor
from transformers.utils import logging

from ..audio import SAMPLING_RATE, decode_waveform, fit_clip
from ..data.loading import LoadedTask
from ..data.sources import undecoded_audio
from ..data.tasks import get_task
from ..feature_extraction_aasp import AaSPFeatureExtractor
from ..reporting.metrics import wilson_interval
from ..training.arguments import option


logger = logging.get_logger(__name__)

FEATURE_SETS = ("stats", "full")
NUM_MODULATION_BANDS = 16
NUM_MODULATION_BINS = 12
MODULATION_RANGE_HZ = (0.5, 50.0)
MIN_FFT_FRAMES = 1024  # zero-padding target: a 0.1 Hz grid at 100 frames/s, so every modulation bin holds FFT bins
POWER_EPS = 1e-6
REGULARIZATION_GRID = (0.01, 0.1, 1.0, 10.0)  # LogisticRegression C values tried on the validation split
INTERVAL_NAME = "95 % Wilson score interval for the test accuracy (a binomial proportion)"
PROTOCOL = (
    "log-mel statistics + StandardScaler + LogisticRegression, C chosen on validation, refitted on train+validation, "
    "accuracy on test"
)


@dataclass
class LogmelBaselineArguments:
    """Options of the baseline itself (the benchmark options are `TaskDataArguments`)."""

    feature_set: Literal["stats", "full"] = option(
        "full", "stats: mean, std per mel bin; full: + delta std, modulation."
    )
    feature_extractor_name_or_path: str | None = option(None, "AaSP feature extractor (default: a new one).")
    batch_size: int = option(32, "Clips per feature-extractor call.")
    max_iter: int = option(2000, "LogisticRegression max_iter.")
    regularization: float | None = option(None, "Fixed LogisticRegression C (default: chosen on validation).")
    regularization_grid: list[float] = field(
        default_factory=lambda: list(REGULARIZATION_GRID),
        metadata={"help": "C values tried on the validation split when --regularization is not given."},
    )
    output_dir: str = option("outputs/logmel_baseline", "Where the results JSON goes.")


# ---- Features of one clip ---------------------------------------------------------------------------------------------
def feature_dimension(feature_set: str = "full", num_mel_bins: int = 80) -> int:
    """D, the number of features per clip: 2F for "stats", 3F + bands x modulation bins for "full"."""
    check_feature_set(feature_set)
    if feature_set == "stats":
        return 2 * num_mel_bins
    return 3 * num_mel_bins + NUM_MODULATION_BANDS * NUM_MODULATION_BINS


def check_feature_set(feature_set: str) -> None:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"Unknown feature_set {feature_set!r}; expected one of {FEATURE_SETS}.")


def modulation_bin_edges() -> np.ndarray:
    """(NUM_MODULATION_BINS + 1,) log-spaced edges in Hz over `MODULATION_RANGE_HZ`; bin k is [edges[k], edges[k + 1]),
    the last one includes the top of the range."""
    return np.geomspace(*MODULATION_RANGE_HZ, NUM_MODULATION_BINS + 1)


def mel_mean_and_std(frames: np.ndarray) -> np.ndarray:
    """(n, F) valid frames -> (2F,): the mean over time of every mel bin, then its standard deviation over time."""
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def frame_difference_std(frames: np.ndarray) -> np.ndarray:
    """(n, F) valid frames -> (F,): standard deviation over time of frame-to-frame differences (0 for one frame)."""
    if len(frames) < 2:
        return np.zeros(frames.shape[1])
    return np.diff(frames, axis=0).std(axis=0)


def band_envelopes(frames: np.ndarray) -> np.ndarray:
    """(n, F) valid frames -> (n, NUM_MODULATION_BANDS): the mean of F / NUM_MODULATION_BANDS adjacent mel bins."""
    (num_frames, num_mel_bins), num_bands = frames.shape, NUM_MODULATION_BANDS
    if num_mel_bins % num_bands:
        raise ValueError(f"{num_mel_bins} mel bins cannot be grouped into {num_bands} equal bands.")
    return frames.reshape(num_frames, num_bands, num_mel_bins // num_bands).mean(axis=-1)


def fft_length(num_frames: int) -> int:
    """Zero-padded FFT length: the next power of two of `num_frames`, at least `MIN_FFT_FRAMES`."""
    return max(MIN_FFT_FRAMES, 1 << max(0, num_frames - 1).bit_length())


def modulation_power(envelopes: np.ndarray, frame_rate: float, edges: np.ndarray) -> np.ndarray:
    """(n, num_bands) band envelopes at `frame_rate` -> (num_bands, num_bins) power between the (num_bins + 1,)
    `edges` in Hz. Each band is mean-removed and Hann-windowed; the one-sided periodogram is normalised to sum to the
    window-weighted variance of the band, so the numbers depend neither on the clip length nor on the FFT padding."""
    num_frames = len(envelopes)
    window = np.hanning(num_frames + 2)[1:-1] if num_frames > 1 else np.ones(1)  # no zero end points
    centred = (envelopes - envelopes.mean(axis=0)) * window[:, None]
    length = fft_length(num_frames)
    power = np.abs(np.fft.rfft(centred, n=length, axis=0)) ** 2 / (length * np.sum(window**2))
    power[1 : (length + 1) // 2] *= 2.0  # one-sided: every bin but DC (and Nyquist for even lengths) counts twice
    frequencies = np.fft.rfftfreq(length, d=1.0 / frame_rate)
    bin_of_frequency = np.searchsorted(edges, frequencies, side="right") - 1
    bin_of_frequency[np.isclose(frequencies, edges[-1])] = len(edges) - 2  # the top edge belongs to the last bin
    in_range = (bin_of_frequency >= 0) & (bin_of_frequency < len(edges) - 1)
    summed = np.zeros((len(edges) - 1, envelopes.shape[1]))
    np.add.at(summed, bin_of_frequency[in_range], power[in_range])
    return summed.T


def modulation_spectrum(frames: np.ndarray, frame_rate: float) -> np.ndarray:
    """(n, F) valid frames -> (bands * modulation bins,) log(POWER_EPS + power), band-major (band 0's bins first)."""
    power = modulation_power(band_envelopes(frames), frame_rate, modulation_bin_edges())
    return np.log(POWER_EPS + power).reshape(-1)


def clip_features(frames: np.ndarray, feature_set: str = "full", frame_rate: float = 100.0) -> np.ndarray:
    """(n, F) valid log-mel frames of one clip -> (D,) float64 features (`feature_dimension`)."""
    frames = np.asarray(frames, dtype=np.float64)
    parts = [mel_mean_and_std(frames)]
    if feature_set == "full":
        parts += [frame_difference_std(frames), modulation_spectrum(frames, frame_rate)]
    return np.concatenate(parts)


def logmel_features(input_values, attention_mask, feature_set: str = "full", frame_rate: float = 100.0) -> np.ndarray:
    """(B, T, F) log-mel `input_values` of `AaSPFeatureExtractor` (numpy or torch) and their (B, T)
    `attention_mask` -> (B, D) float64 features of `feature_set`; padding frames never enter the features."""
    check_feature_set(feature_set)
    input_values = np.asarray(input_values, dtype=np.float64)
    valid = np.asarray(attention_mask).astype(bool)
    if input_values.ndim != 3 or valid.shape != input_values.shape[:2]:
        raise ValueError(
            f"Expected input_values (B, T, F) and attention_mask (B, T), got {input_values.shape} and {valid.shape}."
        )
    empty = np.flatnonzero(~valid.any(axis=1))
    if empty.size:
        raise ValueError(f"Clip {int(empty[0])} has no valid frame in attention_mask.")
    return np.stack(
        [clip_features(clip[mask], feature_set, frame_rate) for clip, mask in zip(input_values, valid, strict=True)]
    )


# ---- Features of a dataset split --------------------------------------------------------------------------------------
def split_features(
    dataset, feature_extractor: AaSPFeatureExtractor, feature_set: str, clip_samples: int, batch_size: int = 32
) -> dict:
    """{"features": (N, D) float64, "labels": (N,) int64, "valid": (N,) bool} of a dataset with columns "audio" and
    "label", its clips cut to `clip_samples` (`fit_clip`); rows whose audio could not be decoded have `valid` False and
    zero features."""
    dataset = undecoded_audio(dataset)
    features = np.zeros((dataset.num_rows, feature_dimension(feature_set, feature_extractor.num_mel_bins)))
    valid = np.zeros(dataset.num_rows, dtype=bool)
    for start in range(0, dataset.num_rows, batch_size):
        waveforms = [decode_waveform(audio) for audio in dataset[start : start + batch_size]["audio"]]
        keep = [index for index, waveform in enumerate(waveforms) if waveform is not None]
        if not keep:
            continue
        min_samples = feature_extractor.min_num_samples
        clips = [fit_clip(waveform, clip_samples, min_samples) for waveform in waveforms if waveform is not None]
        inputs = feature_extractor(clips, sampling_rate=SAMPLING_RATE, return_tensors="np")
        rows = start + np.asarray(keep)
        features[rows] = logmel_features(
            inputs["input_values"], inputs["attention_mask"], feature_set, feature_extractor.frame_rate
        )
        valid[rows] = True
    labels = np.asarray(dataset.select_columns(["label"]).to_dict()["label"], dtype=np.int64)
    if not valid.all():
        logger.warning(f"Log-mel baseline: skipped {int((~valid).sum())} undecodable clip(s) of {dataset.num_rows}.")
    return {"features": features, "labels": labels, "valid": valid}


# ---- Classifier and score ---------------------------------------------------------------------------------------------
def fit_logmel_classifier(
    features: np.ndarray, labels: np.ndarray, max_iter: int = 2000, regularization: float = 1.0
) -> Pipeline:
    """`make_pipeline(StandardScaler(), LogisticRegression(C=regularization))` fitted on (N, D) features and (N,)
    labels."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=max_iter))
    return classifier.fit(features, labels)


def evaluate_logmel_baseline(
    task: LoadedTask,
    feature_extractor: AaSPFeatureExtractor,
    *,
    feature_set: str = "full",
    clip_seconds: float | None = None,
    fold: int | None = None,
    batch_size: int = 32,
    max_iter: int = 2000,
    regularization: float | None = None,
    regularization_grid=REGULARIZATION_GRID,
    validation_fraction: float = 0.1,
) -> dict:
    """Test accuracy of the log-mel statistics baseline on one task.

    Args:
        task: its protocol chooses the splits; cross-validation runs every fold (or `fold`), pooling their test clips.
        feature_extractor: gives the log-mel frames (features are standardised, so its normalisation matters only
            through the fixed eps of the modulation log-power).
        clip_seconds: keep the first `clip_seconds` of every clip (default: the task's clip length).
        regularization: fix C; None (default) chooses it on validation from `regularization_grid`.
        validation_fraction: the stratified share of train held out as validation when the data has none.

    Returns:
        {"accuracy" (pooled over the test clips of every run), "ci95_low", "ci95_high", "chance", "regularization"
        (the C of every run), "test_correct" ((num_test_clips,) 0/1 per test clip, runs in order), "runs": [{"fold",
        "accuracy", "regularization", "validation_accuracy" (C -> accuracy), ...}], and the settings used}.
    """
    check_feature_set(feature_set)
    refuse_multi_label(None, task.spec.multi_label)
    grid = [regularization] if regularization is not None else sorted(regularization_grid)
    if not grid:
        raise ValueError("--regularization_grid is empty: give at least one C, or fix --regularization.")
    runs_rows = protocol_rows(task, fold, validation_fraction)
    clip_seconds = task.spec.clip_seconds if clip_seconds is None else clip_seconds
    clip_samples, num_classes = round(clip_seconds * SAMPLING_RATE), task.num_labels
    sources = {source for rows in runs_rows for source, _ in rows["train"] + rows["validation"] + rows["test"]}
    computed = {
        source: split_features(task.dataset[source], feature_extractor, feature_set, clip_samples, batch_size)
        for source in sorted(sources)
    }
    runs = [score_one_run(computed, rows, max_iter, grid) for rows in runs_rows]
    test_correct = [flag for run in runs for flag in run.pop("test_correct")]
    num_correct = sum(run.pop("num_correct") for run in runs)
    num_test = sum(run["num_test_clips"] for run in runs)
    low, high = wilson_interval(num_correct, num_test)
    accuracy = num_correct / num_test
    logger.info(
        f"Log-mel baseline ({feature_set}): accuracy {accuracy:.4f} on {num_test} test clips "
        f"(95 % Wilson interval {low:.3f}-{high:.3f}); C {[run['regularization'] for run in runs]}."
    )
    return {
        "metric": "accuracy",
        "accuracy": accuracy,
        "num_correct": num_correct,
        "num_test_clips": num_test,
        "ci95_low": low,
        "ci95_high": high,
        "interval": INTERVAL_NAME,
        "chance": 1.0 / num_classes,
        "num_classes": num_classes,
        "feature_set": feature_set,
        "feature_dimension": feature_dimension(feature_set, feature_extractor.num_mel_bins),
        "clip_seconds": clip_seconds,
        "num_skipped_clips": int(sum((~arrays["valid"]).sum() for arrays in computed.values())),
        "regularization_selection": "fixed" if regularization is not None else "validation",
        "regularization_grid": grid,
        "regularization": [run["regularization"] for run in runs],
        "test_correct": test_correct,
        "runs": runs,
    }


def protocol_rows(task: LoadedTask, fold: int | None, validation_fraction: float = 0.1) -> list[dict]:
    """The runs of the task's protocol (every fold, or `fold`) as [{"fold", "train" / "validation" / "test":
    [(source split, rows)]}]; validation is the task's own split, or a stratified `validation_fraction` of train."""
    runs = []
    for current in [fold] if fold is not None else task.spec.folds:
        indices = task.split_indices(current, validation_fraction=validation_fraction)
        validation = [indices["validation"]] if "validation" in indices else []
        runs.append(
            {"fold": current, "train": [indices["train"]], "validation": validation, "test": [indices["test"]]}
        )
    return runs


def stack_rows(computed: dict, parts: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features and (N,) labels of the decodable rows of `parts` [(source split, row indices)]."""
    if not parts:
        return np.zeros((0, next(iter(computed.values()))["features"].shape[1])), np.zeros(0, dtype=np.int64)
    features, labels = [], []
    for source, rows in parts:
        arrays = computed[source]
        rows = rows[arrays["valid"][rows]]
        features.append(arrays["features"][rows])
        labels.append(arrays["labels"][rows])
    return np.concatenate(features), np.concatenate(labels)


def score_one_run(computed: dict, rows: dict, max_iter: int, grid: list[float]) -> dict:
    """Choose C on the run's validation rows, refit on train + validation, predict its test rows once."""
    train_features, train_labels = stack_rows(computed, rows["train"])
    validation_features, validation_labels = stack_rows(computed, rows["validation"])
    test_features, test_labels = stack_rows(computed, rows["test"])
    if len(test_labels) == 0 or len(np.unique(train_labels)) < 2:
        raise ValueError(
            f"Fold {rows['fold']}: {len(test_labels)} test clip(s) and {len(np.unique(train_labels))} training "
            "class(es); the baseline needs test clips and at least two classes to train on."
        )
    chosen, validation_accuracy = choose_regularization(
        (train_features, train_labels), (validation_features, validation_labels), max_iter, grid
    )
    features = np.concatenate([train_features, validation_features])
    classifier = fit_logmel_classifier(features, np.concatenate([train_labels, validation_labels]), max_iter, chosen)
    correct = classifier.predict(test_features) == test_labels
    return {
        "fold": rows["fold"],
        "accuracy": float(correct.mean()),
        "num_correct": int(correct.sum()),
        "num_test_clips": len(test_labels),
        "num_train_clips": len(train_labels) + len(validation_labels),
        "regularization": chosen,
        "validation_accuracy": validation_accuracy,
        "test_correct": correct.astype(int).tolist(),
    }


def choose_regularization(
    train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray], max_iter: int, grid: list[float]
) -> tuple[float, dict]:
    """(the C of `grid` whose classifier, fitted on `train` ((N, D) features, (N,) labels), is most accurate on
    `validation` (ties: the smaller C), {str(C): validation accuracy}); a one-value grid is returned as it is."""
    if len(grid) == 1:
        return grid[0], {}
    if len(validation[1]) == 0:
        raise ValueError(
            "Choosing C needs validation clips: the data has no validation split and validation_fraction is 0. "
            "Fix --regularization or give --train_val_split > 0."
        )
    scores = {str(c): float(fit_logmel_classifier(*train, max_iter, c).score(*validation)) for c in sorted(grid)}
    chosen = max(sorted(grid), key=lambda c: scores[str(c)])  # max keeps the first of equal scores
    return chosen, scores


# ---- The script's steps -----------------------------------------------------------------------------------------------
def refuse_multi_label(task: str | None, multi_label: bool) -> None:
    """Raises a ValueError when the registered `task` (None: the data, `multi_label`) is multi-label: the baseline
    reports single-label accuracy. The script calls it before any data is loaded."""
    name = "the dataset"
    if task is not None:
        spec = get_task(task)
        multi_label, name = spec.multi_label, f"benchmark {task!r} ({spec.display_name})"
    if multi_label:
        raise ValueError(
            f"The log-mel baseline handles single-label classification only (accuracy); {name} is multi-label "
            "(its metric is mAP)."
        )


def load_baseline_feature_extractor(name_or_path: str | None) -> AaSPFeatureExtractor:
    """`AaSPFeatureExtractor()` (mean 0, std 1) or the AaSP feature extractor saved at `name_or_path`."""
    if name_or_path is None:
        return AaSPFeatureExtractor()
    feature_extractor = AutoFeatureExtractor.from_pretrained(name_or_path)
    if not isinstance(feature_extractor, AaSPFeatureExtractor):
        raise ValueError(
            f"{name_or_path} holds a {type(feature_extractor).__name__}; the baseline needs an AaSPFeatureExtractor "
            "(log-mel frames with an attention mask)."
        )
    return feature_extractor


def write_baseline_results(
    results: dict, benchmark: LoadedTask, options: LogmelBaselineArguments, dataset_name: str | None
) -> Path:
    """`<output_dir>/logmel_baseline_<benchmark>.json`: the results with the protocol and the data's revision."""
    path = Path(options.output_dir) / f"logmel_baseline_{benchmark.spec.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": benchmark.spec.name,
        "display_name": benchmark.spec.display_name,
        "dataset": dataset_name or benchmark.spec.dataset_id,
        "dataset_revision": getattr(benchmark, "revision", None),
        "protocol": PROTOCOL,
        "feature_extractor": options.feature_extractor_name_or_path or "AaSPFeatureExtractor() (mean 0, std 1)",
        **results,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path


def baseline_summary_line(results: dict, benchmark: LoadedTask, feature_set: str) -> str:
    return (
        f"{benchmark.spec.display_name} | log-mel baseline ({feature_set}) | accuracy "
        f"{100 * results['accuracy']:.2f} % (95 % Wilson interval {100 * results['ci95_low']:.1f}-"
        f"{100 * results['ci95_high']:.1f} %, {results['num_test_clips']} test clips; chance "
        f"{100 * results['chance']:.1f} %; C {results['regularization']} chosen by {results['regularization_selection']})"
    )
