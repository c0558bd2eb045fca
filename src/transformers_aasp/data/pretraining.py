# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Data pipeline of AaSP self-supervised pre-training, over the sources that `data.sources.load_audio_records` opens.

Every clip is randomly cropped to `crop_frames` spectrogram frames (608, about 6 s), decoding only that window
(`audio.decode_random_crop`), mixed to mono, resampled, turned into normalised log-mel features and zero-padded, with
a frame-level attention mask. This runs in DataLoader workers; with `return_waveforms=True` the workers only decode
and the training step computes the log-mel batch on its device (`features_from_waveform_batch`).

A clip that cannot be used (corrupt or empty file, non-finite samples, shorter than `min_clip_seconds`) is never
fatal: it is logged, counted and replaced, so that every batch keeps its size (the contrastive loss gathers
equally sized batches across processes). Each batch carries the number of such skipped clips in `num_skipped`.

Data order is a pure function of `(seed, position)` for map-style sources (a memory-mapped prepared folder, the
documented path for AudioSet): batch `b` of process `r` holds the stream positions `start + [(b * world_size + r) *
batch_size, ... + batch_size)`, position `p` reads clip `permutation(seed, epoch)[p % n]` with `epoch = p // n`, and
its crop is drawn from a generator seeded with `(seed, p)`. The sampler state is therefore the number of clips
consumed (`start`, all processes together): a resume starts there, on any number of processes, without decoding a
clip it skips. Streaming sources are read in a deterministic shuffled order (`datasets` buffer shuffle) and resumed
by decoding and dropping every batch already seen: a resume at clip C costs C / world_size decodes per process
(hours at AudioSet scale), and a changed world size splits the stream differently, so it is not exact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from datasets.distributed import split_dataset_by_node
from transformers.utils import logging

from ..audio import ClipDecodeError, crop_num_samples, decode_random_crop, describe_record, load_mono_waveform
from ..functional_aasp import draw_mask_noise, validate_input_values


logger = logging.get_logger(__name__)


def num_records(records) -> int | None:
    """Number of clips of a map-style source; `None` for a stream."""
    return len(records) if isinstance(records, Sequence) or hasattr(records, "__len__") else None


# Cropping and features


def clip_features(waveform: np.ndarray, feature_extractor, crop_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised log-mel of one (cropped) clip, zero-padded to `crop_frames`.

    Args:
        waveform: (samples,) float32 at the feature extractor's rate.
    Returns:
        input_values (crop_frames, num_mel_bins) float32 and attention_mask (crop_frames,) int64 (1 = real frame).
    """
    features = feature_extractor(waveform, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
    values = features["input_values"][0, :crop_frames].float()
    if "attention_mask" in features:
        mask = features["attention_mask"][0, :crop_frames].long()
    else:
        mask = torch.ones(values.shape[0], dtype=torch.long)
    padding = crop_frames - values.shape[0]
    if padding > 0:
        values = torch.nn.functional.pad(values, (0, 0, 0, padding))
        mask = torch.nn.functional.pad(mask, (0, padding))
    return values, mask


class ClipFeaturizer:
    """Record -> one training example, with a random crop decoded straight from the file (`decode_random_crop`).

    By default an example is `{"input_values": (crop_frames, F), "attention_mask": (crop_frames,)}`; with
    `return_waveforms=True` it is `{"waveform": (samples <= crop_samples,) float32}` and the log-mel is computed
    later, for the whole batch, on the accelerator (`features_from_waveform_batch`). With a `mask_config`, the
    example also holds its mask `noise` (num_mask_clones, 2, num_patches) (`draw_mask_noise`), drawn after the crop
    from the same generator: for map-style data, seeded by the clip's place in the stream, a clip's masks do not
    depend on the batch or the world size.
    """

    def __init__(
        self,
        feature_extractor,
        crop_frames: int = 608,
        min_clip_seconds: float = 0.1,
        return_waveforms: bool = False,
        mask_config=None,
    ):
        if crop_frames <= 0:
            raise ValueError(f"crop_frames must be positive, got {crop_frames}.")
        self.feature_extractor = feature_extractor
        self.crop_frames = crop_frames
        self.return_waveforms = return_waveforms
        self.mask_config = mask_config
        self.sampling_rate = int(feature_extractor.sampling_rate)
        self.hop_length = int(getattr(feature_extractor, "hop_length", 160))
        self.crop_samples = crop_num_samples(crop_frames, self.hop_length)
        # never shorter than what the extractor accepts (one analysis window), so that no clip fails later
        min_samples = max(1, math.ceil(min_clip_seconds * self.sampling_rate))
        self.min_samples = max(min_samples, int(getattr(feature_extractor, "min_num_samples", 1)))

    def waveform(self, record) -> np.ndarray:
        """Decoded, mono, resampled and validated waveform (samples,); raises `ClipDecodeError`."""
        return load_mono_waveform(record, self.sampling_rate, self.min_samples)

    def crop(self, record, generator: np.random.Generator) -> np.ndarray:
        """A random window of at most `crop_samples` samples (samples,), decoding only that window."""
        return decode_random_crop(
            record, self.crop_samples, generator, sampling_rate=self.sampling_rate, min_samples=self.min_samples
        )

    def example(self, record, generator: np.random.Generator) -> dict[str, torch.Tensor]:
        """The example of `record`: `{"waveform"}` or `{"input_values", "attention_mask"}`, `noise` (see the class)."""
        waveform = self.crop(record, generator)
        if self.return_waveforms:
            example = {"waveform": torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))}
        else:
            values, mask = clip_features(waveform, self.feature_extractor, self.crop_frames)
            example = {"input_values": values, "attention_mask": mask}
        if self.mask_config is not None:
            masks = torch.Generator().manual_seed(int(generator.integers(2**63 - 1)))
            example["noise"] = draw_mask_noise(self.mask_config, 1, self.crop_frames, generator=masks)[0]
        return example


def features_from_waveform_batch(
    batch: dict, feature_extractor, crop_frames: int, device: str | torch.device | None = None
) -> dict[str, torch.Tensor]:
    """The log-mel batch of a `return_waveforms=True` batch, computed on `device` (e.g. the training GPU).

    Args:
        batch: `{"waveforms": (B, S) float32 zero-padded, "waveform_lengths": (B,) int64, ...}`, on the CPU or
            already on `device` (as Accelerate's prepared loaders deliver it).
        feature_extractor: the `AaSPFeatureExtractor` of the run; its `device=` path moves the reflect-padded batch
            to `device` once and computes the STFT, mel product and normalisation there.
    Returns:
        `{"input_values": (B, crop_frames, F) float32, "attention_mask": (B, crop_frames) int64}` on `device`: the
        same values as the default (worker-side) path, up to float32 rounding of the batched FFT / product.
    """
    lengths = batch["waveform_lengths"].tolist()
    clips = [row[:length] for row, length in zip(batch["waveforms"], lengths, strict=True)]
    features = feature_extractor(
        clips,
        sampling_rate=feature_extractor.sampling_rate,
        padding="max_length",
        max_length=crop_frames,
        truncation=True,
        pad_to_multiple_of=1,
        return_attention_mask=True,
        return_tensors="pt",
        device=device,
    )
    return {"input_values": features["input_values"], "attention_mask": features["attention_mask"].long()}


def _record_at(records, index: int, audio_column: str):
    record = records[index]
    return record[audio_column] if isinstance(record, dict) and audio_column in record else record


# Map-style sources: order is a pure function of (seed, batch index)


class StepBatchSampler:
    """Infinite batch sampler whose batch `b` depends only on `(seed, start_position, b, rank, world_size,
    batch_size)`; `start_position` is the number of clips consumed before batch 0 (the sampler state of a resume).

    Yields lists of `(position, index)` pairs: `position` is the clip's place in the global stream (it seeds the
    crop) and `index` the record to read (a fresh permutation of the corpus every epoch).
    """

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        start_position: int = 0,
    ):
        if num_examples <= 0:
            raise ValueError("The pre-training corpus is empty.")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}.")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_batch = start_batch
        self.start_position = start_position
        self._permutation_epoch = None
        self._permutation = None

    def permutation(self, epoch: int) -> np.ndarray:
        if self._permutation is None or epoch != self._permutation_epoch:
            self._permutation = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
            self._permutation_epoch = epoch
        return self._permutation

    def batch(self, batch: int) -> list[tuple[int, int]]:
        first = self.start_position + (batch * self.world_size + self.rank) * self.batch_size
        pairs = []
        for position in range(first, first + self.batch_size):
            epoch, offset = divmod(position, self.num_examples)
            pairs.append((position, int(self.permutation(epoch)[offset])))
        return pairs

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch in itertools.count(self.start_batch):
            yield self.batch(batch)


class CroppedClipDataset(torch.utils.data.Dataset):
    """Map-style dataset indexed by `(position, index)` pairs from `StepBatchSampler`.

    An unusable record is logged and replaced by the next records of the corpus (`index + 1, index + 2, ...`), up to
    `max_replacements` tries; `num_skipped` in the returned example counts the records that were skipped for it.
    """

    def __init__(
        self,
        records,
        featurizer: ClipFeaturizer,
        *,
        seed: int = 0,
        audio_column: str = "audio",
        max_replacements: int = 64,
    ):
        self.records = records
        self.featurizer = featurizer
        self.seed = seed
        self.audio_column = audio_column
        self.max_replacements = max_replacements

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor | int]:
        position, index = key
        generator = np.random.default_rng([self.seed, position])
        num_records_ = len(self.records)
        for attempt in range(min(self.max_replacements, num_records_)):
            candidate = (index + attempt) % num_records_
            record = _record_at(self.records, candidate, self.audio_column)
            try:
                example = self.featurizer.example(record, generator)
            except ClipDecodeError as error:
                logger.warning(f"Skipping clip {candidate} ({describe_record(record)}): {error}")
                continue
            return {**example, "num_skipped": attempt}
        raise RuntimeError(
            f"{min(self.max_replacements, num_records_)} consecutive clips starting at index {index} could not be "
            "decoded; the corpus looks unreadable (see the warnings above)."
        )


# Streaming sources


class StreamingClipDataset(torch.utils.data.IterableDataset):
    """Endless stream of cropped clips from a `datasets.IterableDataset` (already split for this process).

    Epoch `e` reads the source shuffled with `(seed, e)` (a `shuffle_buffer_size` buffer). Unusable records are
    logged, skipped and counted in the `num_skipped` of the next good example.
    """

    def __init__(
        self,
        records,
        featurizer: ClipFeaturizer,
        *,
        seed: int = 0,
        rank: int = 0,
        audio_column: str = "audio",
        shuffle_buffer_size: int = 1000,
    ):
        self.records = (
            records.shuffle(seed=seed, buffer_size=shuffle_buffer_size) if shuffle_buffer_size > 1 else records
        )
        self.featurizer = featurizer
        self.seed = seed
        self.rank = rank
        self.audio_column = audio_column

    def __iter__(self) -> Iterator[dict[str, torch.Tensor | int]]:
        worker = torch.utils.data.get_worker_info()
        worker_id = worker.id if worker is not None else 0
        generator = np.random.default_rng([self.seed, self.rank, worker_id])
        skipped = 0
        for epoch in itertools.count():
            self.records.set_epoch(epoch)
            seen = good = 0
            for record in self.records:
                seen += 1
                audio = record[self.audio_column] if isinstance(record, dict) else record
                try:
                    example = self.featurizer.example(audio, generator)
                except ClipDecodeError as error:
                    logger.warning(f"Skipping streamed clip {describe_record(audio)}: {error}")
                    skipped += 1
                    continue
                good += 1
                yield {**example, "num_skipped": skipped}
                skipped = 0
            if seen == 0:
                return  # this worker received no shard of the stream
            if good == 0:
                raise RuntimeError(f"None of the {seen} streamed clips of epoch {epoch} could be decoded.")


def stack_examples(examples: list[dict], names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields (and `noise`, when the examples carry it) stacked along a new batch dimension, and
    `num_skipped`, a Python int, so that the training loop reads it without waiting for the device."""
    names = (*names, "noise") if "noise" in examples[0] else names
    batch: dict[str, Any] = {name: torch.stack([example[name] for example in examples]) for name in names}
    return {**batch, "num_skipped": sum(int(example["num_skipped"]) for example in examples)}


def collate_clips(examples: list[dict]) -> dict[str, Any]:
    """Stack examples: input_values (B, T, F), attention_mask (B, T), `noise` and num_skipped (`stack_examples`).
    The values are checked here, on the host, once (`validate_input_values`), so that the model's forward skips the
    checks that would read the device."""
    batch = stack_examples(examples, ("input_values", "attention_mask"))
    validate_input_values(batch["input_values"], batch["attention_mask"])
    return batch


class WaveformCollator:
    """Stack cropped waveforms: `{"waveforms": (B, num_samples) float32 zero-padded at the end, "waveform_lengths":
    (B,) int64, "num_skipped": int}` and `noise` (a fixed width, so that every step sees the same shape)."""

    def __init__(self, num_samples: int):
        self.num_samples = num_samples

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor | int]:
        waveforms = torch.zeros(len(examples), self.num_samples, dtype=torch.float32)
        lengths = torch.empty(len(examples), dtype=torch.long)
        for index, example in enumerate(examples):
            waveform = example["waveform"][: self.num_samples]
            waveforms[index, : waveform.numel()] = waveform
            lengths[index] = waveform.numel()
        return {"waveforms": waveforms, "waveform_lengths": lengths, **stack_examples(examples, ())}


class _SkipFirstBatches:
    """Iterating yields the batches of `loader` after the first `num_batches` (resume of a stream)."""

    def __init__(self, loader, num_batches: int):
        self.loader = loader
        self.num_batches = num_batches

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.num_batches, None)


def build_pretraining_dataloader(
    records,
    feature_extractor,
    *,
    batch_size: int,
    crop_frames: int = 608,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    start_batch: int = 0,
    start_position: int = 0,
    num_workers: int = 0,
    audio_column: str = "audio",
    min_clip_seconds: float = 0.1,
    shuffle_buffer_size: int = 1000,
    return_waveforms: bool = False,
    pin_memory: bool = False,
    mask_config=None,
):
    """An endless iterable of pre-training batches for process `rank` of `world_size`, starting at `start_batch`.

    Each batch is a dict with input_values (batch_size, crop_frames, F) float32, attention_mask
    (batch_size, crop_frames) int64 and num_skipped () int64. With `return_waveforms=True` the workers only decode
    and crop: a batch is `{"waveforms": (batch_size, S) float32 zero-padded, "waveform_lengths": (batch_size,) int64,
    "num_skipped": int}` with `S = (crop_frames - 1) * hop_length` samples, and the training step computes the
    log-mel on its device with `features_from_waveform_batch`. Crops are the same in both modes.
    Map-style sources start directly at batch `start_batch` after `start_position` consumed clips; streams (already
    split per process, see `split_stream_by_process`) decode and drop their first `start_batch` batches.
    `pin_memory=True` (on a GPU) lets the copy to the device run asynchronously. With `mask_config` (the model's
    `AaSPConfig`) the workers also draw each clip's mask noise: batches hold `noise` (batch_size, M, 2, N) float32.
    """
    featurizer = ClipFeaturizer(
        feature_extractor,
        crop_frames=crop_frames,
        min_clip_seconds=min_clip_seconds,
        return_waveforms=return_waveforms,
        mask_config=mask_config,
    )
    loader_options: dict[str, Any] = {
        "num_workers": num_workers,
        "collate_fn": WaveformCollator(featurizer.crop_samples) if return_waveforms else collate_clips,
        # a private generator: creating the iterator must not consume the global RNG (exact resume)
        "generator": torch.Generator().manual_seed(seed),
        "persistent_workers": num_workers > 0,
        "prefetch_factor": 2 if num_workers > 0 else None,
        "pin_memory": pin_memory,
    }
    length = num_records(records)
    if length is None:
        dataset = StreamingClipDataset(
            records,
            featurizer,
            seed=seed,
            rank=rank,
            audio_column=audio_column,
            shuffle_buffer_size=shuffle_buffer_size,
        )
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, drop_last=True, **loader_options)
        return _SkipFirstBatches(loader, start_batch) if start_batch else loader
    sampler = StepBatchSampler(
        length,
        batch_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
        start_batch=start_batch,
        start_position=start_position,
    )
    dataset = CroppedClipDataset(records, featurizer, seed=seed, audio_column=audio_column)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, **loader_options)


def split_stream_by_process(records, rank: int, world_size: int):
    """Give each process its own part of a stream (`datasets.distributed.split_dataset_by_node`)."""
    if num_records(records) is not None or world_size == 1:
        return records
    return split_dataset_by_node(records, rank=rank, world_size=world_size)


def iter_waveforms(records, featurizer: ClipFeaturizer, max_clips: int, audio_column: str = "audio"):
    """Up to `max_clips` usable waveforms (samples,) in corpus order, skipping unusable ones (for mean/std). Raises
    `ValueError` with their count when the records hold no usable clip at all."""
    produced, skipped, first_error = 0, 0, None
    iterator = (
        (_record_at(records, index, audio_column) for index in range(len(records)))
        if num_records(records) is not None
        else (record[audio_column] if isinstance(record, dict) else record for record in records)
    )
    for record in iterator:
        if produced >= max_clips:
            return
        try:
            yield featurizer.waveform(record)
        except ClipDecodeError as error:
            logger.warning(f"Normalisation statistics: skipping clip: {error}")
            skipped, first_error = skipped + 1, first_error or error
            continue
        produced += 1
    if produced == 0:
        raise ValueError(f"None of the {skipped} clip(s) could be decoded (the first: {first_error}).")
