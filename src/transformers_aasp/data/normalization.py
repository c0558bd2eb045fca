"""Dataset statistics (mean / std of the log-mel values) for `AaSPFeatureExtractor`.

Typical use in an example script::

    fe = AaSPFeatureExtractor()
    mean, std = fit_normalization_stats(fe, (row["audio"] for row in dataset), max_clips=10_000)
    fe.save_pretrained(output_dir)   # preprocessor_config.json now holds mean and std
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers.utils import logging

from ..feature_extraction_aasp import AaSPFeatureExtractor


logger = logging.get_logger(__name__)

MAX_LOGGED_FAILURES = 5


@dataclass
class RunningMoments:
    """Count, mean and sum of squared deviations, merged batch by batch in float64 (Chan et al.'s parallel
    update), so that neither large sums nor `E[x^2] - E[x]^2` cancellation degrade the result."""

    count: int = 0
    mean: float = 0.0
    sum_squared_deviations: float = 0.0

    def update(self, values: torch.Tensor) -> None:
        """Add `values` (any shape; every element counts once)."""
        values = values.detach().to(torch.float64).flatten()
        batch_count = values.numel()
        if batch_count == 0:
            return
        batch_mean = values.mean().item()
        batch_ssd = (values - batch_mean).pow(2).sum().item()
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean += delta * batch_count / total
        self.sum_squared_deviations += batch_ssd + delta * delta * self.count * batch_count / total
        self.count = total

    @property
    def std(self) -> float:
        """Population standard deviation."""
        return (self.sum_squared_deviations / self.count) ** 0.5


def compute_normalization_stats(
    audio_iterable: Iterable[Any],
    feature_extractor: AaSPFeatureExtractor,
    max_clips: int | None = None,
    batch_size: int = 16,
    sampling_rate: int | None = None,
    audio_column: str | None = None,
    show_progress: bool = True,
) -> tuple[float, float]:
    """`(mean, std)` as Python floats of the un-normalised log-mel values of every real `(frame, mel bin)` (never
    padding), over the first `max_clips` valid clips (`None`: all), featurised `batch_size` at a time by
    `feature_extractor`'s front end (its own `mean` / `std` are ignored; the extractor is not modified).

    `audio_iterable` yields clips in any form `AaSPFeatureExtractor` accepts (raw arrays at `sampling_rate`; dicts
    and decoders carry their own), or rows holding one under `audio_column`. Clips the extractor rejects (empty, too
    short, NaN, wrong rate...) are skipped, counted and logged.
    """
    if max_clips is not None and max_clips < 1:
        raise ValueError(f"max_clips must be a positive integer or None, got {max_clips}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    raw_extractor = copy.deepcopy(feature_extractor)
    raw_extractor.set_normalization(0.0, 1.0)

    moments = RunningMoments()
    seen, used, skipped = 0, 0, 0
    clips = iter(audio_iterable) if audio_column is None else (item[audio_column] for item in audio_iterable)
    total = max_clips if max_clips is not None else len(audio_iterable) if isinstance(audio_iterable, Sized) else None
    with tqdm(total=total, desc="normalisation stats", unit="clip", disable=not show_progress) as progress:
        while max_clips is None or used < max_clips:
            wanted = batch_size if max_clips is None else min(batch_size, max_clips - used)
            batch = list(itertools.islice(clips, wanted))
            if not batch:
                break
            frames, failures = _real_frames(raw_extractor, batch, sampling_rate)
            for index, reason in failures:
                skipped += 1
                if skipped <= MAX_LOGGED_FAILURES:
                    logger.warning(f"Skipping item {seen + index}: {reason}")
            seen += len(batch)
            moments.update(frames)
            used += len(batch) - len(failures)
            progress.update(len(batch) - len(failures))
    if skipped:
        logger.warning(f"Skipped {skipped} clip(s) that the feature extractor rejected; {used} clip(s) used.")
    if moments.count == 0:
        raise ValueError(f"No valid clip to compute statistics from ({skipped} clip(s) rejected).")
    logger.info(f"Log-mel statistics over {used} clips ({moments.count} values): {moments.mean=}, {moments.std=}")
    return moments.mean, moments.std


def fit_normalization_stats(
    feature_extractor: AaSPFeatureExtractor, audio_iterable: Iterable[Any], **kwargs
) -> tuple[float, float]:
    """Compute the statistics (see `compute_normalization_stats`, same keyword arguments) and store them in
    `feature_extractor`, so that `feature_extractor.save_pretrained(...)` writes them to
    `preprocessor_config.json`. Returns `(mean, std)`."""
    mean, std = compute_normalization_stats(audio_iterable, feature_extractor, **kwargs)
    feature_extractor.set_normalization(mean, std)
    return mean, std


def _real_frames(
    extractor: AaSPFeatureExtractor, batch: list[Any], sampling_rate: int | None
) -> tuple[torch.Tensor, list[tuple[int, str]]]:
    """Real (unpadded) frames of a batch, `(num_real_frames, num_mel_bins)`, and `(index, reason)` for each
    clip the extractor rejected. The batch is featurised at once; on an error, clip by clip."""
    try:
        return _featurise(extractor, batch, sampling_rate), []
    except (ValueError, TypeError, RuntimeError):
        pass
    kept, failures = [], []
    for index, clip in enumerate(batch):
        try:
            kept.append(_featurise(extractor, [clip], sampling_rate))
        except (ValueError, TypeError, RuntimeError) as error:
            failures.append((index, str(error)))
    frames = torch.cat(kept) if kept else torch.empty(0, extractor.num_mel_bins)
    return frames, failures


def _featurise(extractor: AaSPFeatureExtractor, batch: list[Any], sampling_rate: int | None) -> torch.Tensor:
    features = extractor(
        batch, sampling_rate=sampling_rate, padding="longest", return_attention_mask=True, return_tensors="pt"
    )
    return features["input_values"][features["attention_mask"].bool()]


__all__ = ["RunningMoments", "compute_normalization_stats", "fit_normalization_stats"]
