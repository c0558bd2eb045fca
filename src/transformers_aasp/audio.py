# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The one path from an audio file or `datasets` item to a mono float32 waveform at the model's rate.

Pre-training, fine-tuning, linear evaluation and the baseline all decode through `decode_audio` and
`prepare_waveform` (decode, mix to mono, resample, validate), then crop with `random_crop` / `crop_or_pad`.
Every decoded waveform is (channels, samples) here; the feature extractor's `to_mono_waveform` handles in-memory
arrays given by users.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import soundfile
import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)

SAMPLING_RATE = 16000


class ClipDecodeError(ValueError):
    """A clip that cannot be used for training (corrupt, empty, non-finite or too short)."""


def decode_audio(record: Any) -> tuple[np.ndarray, int]:
    """Decode one record to `(waveform (channels, samples) float32, sampling_rate)`.

    A record is a file path, an undecoded `datasets` audio value (`{"bytes": ..., "path": ...}`), an already decoded
    one (`{"array": ..., "sampling_rate": ...}`) or a torchcodec `AudioDecoder`. Raises `ClipDecodeError`.
    """
    try:
        if isinstance(record, (str, os.PathLike)):
            return _read_with_soundfile(record)
        if isinstance(record, dict) and record.get("array") is not None:
            return _as_channels_first(np.asarray(record["array"], dtype=np.float32)), int(record["sampling_rate"])
        if isinstance(record, dict) and (record.get("bytes") is not None or record.get("path") is not None):
            return _read_encoded(record)
        if hasattr(record, "get_all_samples"):
            samples = record.get_all_samples()
            return samples.data.numpy().astype(np.float32), int(samples.sample_rate)
    except ClipDecodeError:
        raise
    except Exception as error:  # soundfile, torchcodec and OS errors all mean "this clip is unusable"
        raise ClipDecodeError(f"cannot decode {describe_record(record)}: {type(error).__name__}: {error}") from error
    raise ClipDecodeError(f"unsupported audio record of type {type(record).__name__}: {describe_record(record)}")


def _read_encoded(record: dict) -> tuple[np.ndarray, int]:
    """An undecoded `datasets` item: soundfile first (fast), torchcodec/FFmpeg for formats libsndfile lacks."""
    source = io.BytesIO(record["bytes"]) if record.get("bytes") is not None else record["path"]
    try:
        return _read_with_soundfile(source)
    except soundfile.LibsndfileError:
        from torchcodec.decoders import AudioDecoder

        samples = AudioDecoder(record["bytes"] if record.get("bytes") is not None else record["path"])
        samples = samples.get_all_samples()
        return samples.data.numpy().astype(np.float32), int(samples.sample_rate)


def _read_with_soundfile(source) -> tuple[np.ndarray, int]:
    waveform, sampling_rate = soundfile.read(source, dtype="float32", always_2d=True)
    return waveform.T, int(sampling_rate)


def _as_channels_first(waveform: np.ndarray) -> np.ndarray:
    if waveform.ndim == 1:
        return waveform[None]
    if waveform.ndim != 2:
        raise ClipDecodeError(f"expected a 1-D or 2-D waveform, got shape {waveform.shape}")
    # datasets decoders give (samples,) or (channels, samples); the channel axis is the short one
    return waveform if waveform.shape[0] <= waveform.shape[1] else waveform.T


def describe_record(record: Any) -> str:
    if isinstance(record, dict):
        return repr(record.get("path") or "<in-memory audio>")
    return repr(str(record))[:200]


def prepare_waveform(
    waveform: np.ndarray, sampling_rate: int, target_sampling_rate: int, min_samples: int
) -> np.ndarray:
    """Mono mix, resample and validate a decoded clip.

    Args:
        waveform: (channels, samples) float32.
    Returns:
        (samples,) float32 at `target_sampling_rate`. Silent clips are valid.
    Raises:
        ClipDecodeError: the clip is empty, holds NaN/Inf, or is shorter than `min_samples` after resampling.
    """
    if waveform.size == 0:
        raise ClipDecodeError("empty clip (0 samples)")
    if not np.isfinite(waveform).all():
        raise ClipDecodeError("clip holds NaN or Inf samples")
    mono = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32)).mean(dim=0)
    if sampling_rate != target_sampling_rate:
        import torchaudio.functional

        mono = torchaudio.functional.resample(mono, sampling_rate, target_sampling_rate)
    if mono.numel() < min_samples:
        raise ClipDecodeError(f"clip too short: {mono.numel()} samples < {min_samples} at {target_sampling_rate} Hz")
    return mono.numpy()


def crop_num_samples(crop_frames: int, hop_length: int) -> int:
    """Samples whose centred STFT gives exactly `crop_frames` frames (`1 + L // hop`)."""
    return (crop_frames - 1) * hop_length


def random_crop(waveform: np.ndarray, num_samples: int, generator: np.random.Generator) -> np.ndarray:
    """A uniformly placed window of `num_samples` samples; shorter clips are returned whole."""
    excess = waveform.shape[-1] - num_samples
    if excess <= 0:
        return waveform
    start = int(generator.integers(0, excess + 1))
    return waveform[start : start + num_samples]


def decode_waveform(audio) -> np.ndarray | None:
    """A mono float32 (num_samples,) waveform at 16 kHz, or None (logged) if the clip cannot be used.

    Args:
        audio: an undecoded item (`{"bytes", "path"}`, see `undecoded_audio`) or a decoded `datasets` audio item.
    Decoding, mono mix, resampling and validation are those of the pre-training data (`pretraining_data`).
    """
    try:
        waveform, sampling_rate = decode_audio(audio)
        return prepare_waveform(waveform, sampling_rate, SAMPLING_RATE, min_samples=1)
    except ClipDecodeError as error:  # corrupt, empty or non-finite: the caller skips and counts it
        logger.warning(f"Skipping a clip that could not be used: {error}")
        return None


def crop_or_pad(waveform: np.ndarray, num_samples: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """(L,) -> (num_samples,): a random crop when `rng` is given (training), else the start; zero-padded at the end."""
    if waveform.size > num_samples:
        start = int(rng.integers(0, waveform.size - num_samples + 1)) if rng is not None else 0
        return waveform[start : start + num_samples]
    return np.pad(waveform, (0, num_samples - waveform.size))
