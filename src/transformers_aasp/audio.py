# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The one path from an audio file or `datasets` item to a mono float32 waveform at the model's rate: `decode_audio`
(a record -> `(channels, samples)`), `prepare_waveform` (mono, resample, validate), `load_mono_waveform` (both), and
for pre-training `decode_random_crop`, which decodes only the crop's window. Downmixing is
`feature_extraction_aasp.to_mono_waveform` (it ships as Hub remote code, so it lives there): decoders say their
channel axis, an in-memory array of unknown layout follows its shorter-axis rule.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from typing import Any

from .extras import require_extra


require_extra("train", "transformers_aasp.audio (decoding audio files)")

import numpy as np  # noqa: E402  (after the check, so a core install gets a clear error)
import soundfile  # noqa: E402
import torch  # noqa: E402
from transformers.utils import logging  # noqa: E402

from .feature_extraction_aasp import is_audio_decoder, to_mono_waveform  # noqa: E402


logger = logging.get_logger(__name__)

SAMPLING_RATE = 16000
# Output samples decoded on each side of a crop before resampling: torchaudio's default windowed-sinc kernel reaches
# about 20 source samples (6 zero crossings) at 48 or 44.1 kHz -> 16 kHz, i.e. < 8 output samples; 64 is safe.
RESAMPLING_MARGIN = 64
# The shortest clip a log-mel feature extractor accepts: one 25 ms analysis window (400 samples at 16 kHz)
ANALYSIS_WINDOW_SAMPLES = 400


class ClipDecodeError(ValueError):
    """A clip that cannot be used for training (corrupt, empty, non-finite or too short)."""


@dataclass(frozen=True)
class AudioHeader:
    """What a file header says, before any sample is decoded."""

    num_frames: int  # samples per channel
    sampling_rate: int


# ---- Whole-clip decoding ---------------------------------------------------------------------------------------
def decode_audio(record: Any) -> tuple[np.ndarray, int]:
    """Decode one record to `(waveform (channels, samples) float32, sampling_rate)`, or raise `ClipDecodeError`. A record
    is a file path, an undecoded `datasets` audio value (`{"bytes": ..., "path": ...}`), an already decoded one
    (`{"array": ..., "sampling_rate": ...}`, mixed to mono here, `(1, samples)`) or a torchcodec `AudioDecoder`."""
    try:
        if isinstance(record, (str, os.PathLike)):
            return _read_with_soundfile(record)
        if isinstance(record, dict) and record.get("array") is not None:
            mono = to_mono_waveform(record["array"])  # unknown layout: the shorter-axis rule
            return mono.numpy()[None], int(record["sampling_rate"])
        if isinstance(record, dict) and (record.get("bytes") is not None or record.get("path") is not None):
            return _read_encoded(record)
        if is_audio_decoder(record):
            return _decode_all(record)
    except ClipDecodeError:
        raise
    except Exception as error:  # soundfile, torchcodec and OS errors all mean "this clip is unusable"
        raise ClipDecodeError(f"cannot decode {describe_record(record)}: {type(error).__name__}: {error}") from error
    raise ClipDecodeError(f"unsupported audio record of type {type(record).__name__}: {describe_record(record)}")


def _encoded_source(record: dict):
    return io.BytesIO(record["bytes"]) if record.get("bytes") is not None else record["path"]


def _read_encoded(record: dict) -> tuple[np.ndarray, int]:
    """An undecoded `datasets` item: soundfile first (fast), torchcodec/FFmpeg for formats libsndfile lacks."""
    try:
        return _read_with_soundfile(_encoded_source(record))
    except soundfile.LibsndfileError:
        return _decode_all(_torchcodec_decoder(record))


def _decode_all(decoder) -> tuple[np.ndarray, int]:
    """A torchcodec `AudioDecoder`'s whole clip: `(channels, samples)` float32 and the rate."""
    samples = decoder.get_all_samples()
    return samples.data.numpy().astype(np.float32, copy=False), int(samples.sample_rate)


def _torchcodec_decoder(record: dict):
    from torchcodec.decoders import AudioDecoder

    return AudioDecoder(record["bytes"] if record.get("bytes") is not None else record["path"])


def _read_with_soundfile(source, start: int = 0, num_frames: int = -1) -> tuple[np.ndarray, int]:
    """`(channels, samples)` float32 and the rate; `start` / `num_frames` read a window (libsndfile seeks)."""
    waveform, sampling_rate = soundfile.read(
        source, start=start, frames=num_frames, dtype="float32", always_2d=True
    )  # (samples, channels)
    return waveform.T, int(sampling_rate)


def describe_record(record: Any) -> str:
    if isinstance(record, dict):
        return repr(record.get("path") or "<in-memory audio>")
    return repr(str(record))[:200]


def prepare_waveform(
    waveform: np.ndarray, sampling_rate: int, target_sampling_rate: int, min_samples: int
) -> np.ndarray:
    """Mono mix, resample and validate a decoded (channels, samples) float32 clip -> (samples,) float32 at
    `target_sampling_rate`; ClipDecodeError if it is empty, holds NaN/Inf, or is shorter than `min_samples`."""
    if waveform.size == 0:
        raise ClipDecodeError("empty clip (0 samples)")
    mono = _finite_mono(waveform)
    mono = resample(mono, sampling_rate, target_sampling_rate)
    if mono.numel() < min_samples:
        raise ClipDecodeError(f"clip too short: {mono.numel()} samples < {min_samples} at {target_sampling_rate} Hz")
    return mono.numpy()


def _finite_mono(waveform: np.ndarray) -> torch.Tensor:
    """(channels, samples) -> (samples,) float32 tensor; ClipDecodeError on NaN/Inf."""
    if not np.isfinite(waveform).all():
        raise ClipDecodeError("clip holds NaN or Inf samples")
    return to_mono_waveform(waveform, channel_axis=0)


def resample(waveform: torch.Tensor, sampling_rate: int, target_sampling_rate: int) -> torch.Tensor:
    """`torchaudio.functional.resample` (default windowed sinc) of a (samples,) tensor; identity at equal rates."""
    if sampling_rate == target_sampling_rate:
        return waveform
    import torchaudio.functional

    return torchaudio.functional.resample(waveform, sampling_rate, target_sampling_rate)


def load_mono_waveform(record: Any, sampling_rate: int = SAMPLING_RATE, min_samples: int = 1) -> np.ndarray:
    """Decode, mix to mono, resample to `sampling_rate` and validate: `(samples,)` float32, or `ClipDecodeError`."""
    waveform, rate = decode_audio(record)
    return prepare_waveform(waveform, rate, sampling_rate, min_samples)


def decode_waveform(audio) -> np.ndarray | None:
    """`load_mono_waveform` of an undecoded (`{"bytes", "path"}`) or decoded `datasets` audio item at 16 kHz, or None
    (logged) if the clip cannot be used."""
    try:
        return load_mono_waveform(audio)
    except ClipDecodeError as error:  # corrupt, empty or non-finite: the caller skips and counts it
        logger.warning(f"Skipping a clip that could not be used: {error}")
        return None


# ---- Crops -----------------------------------------------------------------------------------------------------
def crop_num_samples(crop_frames: int, hop_length: int) -> int:
    """Samples whose centred STFT gives exactly `crop_frames` frames (`1 + L // hop`)."""
    return (crop_frames - 1) * hop_length


def draw_crop_start(length: int, num_samples: int, generator: np.random.Generator) -> int | None:
    """Start of a uniformly placed window of `num_samples` in a clip of `length`; None (no draw) if it fits whole."""
    excess = length - num_samples
    if excess <= 0:
        return None
    return int(generator.integers(0, excess + 1))


def random_crop(waveform: np.ndarray, num_samples: int, generator: np.random.Generator) -> np.ndarray:
    """A uniformly placed window of `num_samples` samples; shorter clips are returned whole."""
    start = draw_crop_start(waveform.shape[-1], num_samples, generator)
    return waveform if start is None else waveform[start : start + num_samples]


def crop(waveform: np.ndarray, num_samples: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """(L,) -> (min(L, num_samples),): a random crop when `rng` is given (training), else the start; never padded."""
    return random_crop(waveform, num_samples, rng) if rng is not None else waveform[:num_samples]


def fit_clip(
    waveform: np.ndarray, clip_samples: int, min_samples: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The clip-length rule of every script: (L,) -> (max(min(L, clip_samples), min_samples),). A long clip is
    `crop`ped to `clip_samples`; a short one is kept whole (batches pad and mask it), except that one shorter than
    `min_samples` (one analysis window of the feature extractor) is zero-padded at the end to that length."""
    cropped = crop(waveform, clip_samples, rng)
    return np.pad(cropped, (0, max(0, min_samples - cropped.size)))


# ---- Decode only the crop --------------------------------------------------------------------------------------
class _SoundfileReader:
    """Seeks and reads `(channels, samples)` float32 windows through one open libsndfile handle."""

    def __init__(self, handle: soundfile.SoundFile):
        self.handle = handle
        self.header = AudioHeader(num_frames=int(handle.frames), sampling_rate=int(handle.samplerate))

    def read(self, start: int, num_frames: int) -> np.ndarray:
        self.handle.seek(start)
        return self.handle.read(num_frames, dtype="float32", always_2d=True).T

    def close(self) -> None:
        self.handle.close()


class _TorchcodecReader:
    """Windows of a torchcodec `AudioDecoder` (`get_samples_played_in_range`), for formats libsndfile lacks. The
    length comes from the container's duration, so the crop is exact only as far as the container is."""

    def __init__(self, decoder, header: AudioHeader):
        self.decoder, self.header = decoder, header

    def read(self, start: int, num_frames: int) -> np.ndarray:
        rate = self.header.sampling_rate
        samples = self.decoder.get_samples_played_in_range(start / rate, (start + num_frames) / rate)
        offset = start - round(samples.pts_seconds * rate)  # the first returned sample may precede `start`
        if offset < 0:
            raise ClipDecodeError(f"the decoder returned samples from {samples.pts_seconds} s, after {start / rate} s")
        return samples.data.numpy()[:, offset : offset + num_frames].astype(np.float32, copy=False)

    def close(self) -> None:
        pass


def _open_reader(record: Any) -> _SoundfileReader | _TorchcodecReader | None:
    """A window reader on a path, undecoded item or torchcodec decoder, or None (decoded arrays, unreadable or empty
    files, unknown durations: the caller then decodes the whole clip, which reports the reason)."""
    if is_audio_decoder(record):
        return _torchcodec_reader(record)
    if isinstance(record, (str, os.PathLike)):
        source = record
    elif isinstance(record, dict) and record.get("array") is None and (record.get("bytes") or record.get("path")):
        source = _encoded_source(record)
    else:
        return None
    try:
        handle = soundfile.SoundFile(source)
    except soundfile.LibsndfileError:  # a format libsndfile lacks (or a corrupt file): FFmpeg may read it
        return _torchcodec_reader(record if isinstance(record, dict) else {"path": record})
    except Exception:
        return None
    if handle.frames <= 0 or handle.samplerate <= 0:
        handle.close()
        return None
    return _SoundfileReader(handle)


def _torchcodec_reader(record: Any) -> _TorchcodecReader | None:
    try:
        decoder = record if is_audio_decoder(record) else _torchcodec_decoder(record)
        metadata = decoder.metadata
        rate, duration = metadata.sample_rate, metadata.duration_seconds_from_header
    except Exception:
        return None
    if not rate or not duration or duration <= 0:
        return None
    return _TorchcodecReader(decoder, AudioHeader(num_frames=round(duration * rate), sampling_rate=int(rate)))


def read_header(record: Any) -> AudioHeader | None:
    """Sample count and rate from the header of a path, undecoded item or torchcodec decoder; None for decoded
    arrays and unreadable headers (the caller then decodes the whole clip)."""
    reader = _open_reader(record)
    if reader is None:
        return None
    reader.close()
    return reader.header


def decode_random_crop(
    record: Any,
    num_samples: int,
    generator: np.random.Generator,
    *,
    sampling_rate: int = SAMPLING_RATE,
    min_samples: int = 1,
) -> np.ndarray:
    """`(min(num_samples, length),)` float32: a random window of the mono clip at `sampling_rate`, decoding only that
    window, or `ClipDecodeError`.

    The same as `random_crop(load_mono_waveform(record, sampling_rate, min_samples), num_samples, generator)`, with
    the same single draw from `generator`, but the length comes from the file header and only the window is read,
    from one open handle: exactly at the target rate (bit-identical to the full decode for PCM wav / flac); at
    another rate, with `RESAMPLING_MARGIN` output samples on each side, starting where the input and output grids
    coincide, resampled and cut (equal to resampling the whole clip up to float32 rounding). Formats libsndfile
    lacks and torchcodec decoders are read with `get_samples_played_in_range` (length from the container's
    duration); decoded arrays are decoded whole.
    """
    reader = _open_reader(record)
    if reader is None:
        return random_crop(load_mono_waveform(record, sampling_rate, min_samples), num_samples, generator)
    try:
        header = reader.header
        length = -(-header.num_frames * sampling_rate // header.sampling_rate)  # the resampled length, rounded up
        if length < min_samples:
            raise ClipDecodeError(f"clip too short: {length} samples < {min_samples} at {sampling_rate} Hz")
        start = draw_crop_start(length, num_samples, generator)
        if start is None:
            whole = reader.read(0, header.num_frames)
            return prepare_waveform(whole, header.sampling_rate, sampling_rate, min_samples)
        return _decode_window(reader, start, num_samples, sampling_rate)
    except ClipDecodeError:
        raise
    except Exception as error:
        raise ClipDecodeError(f"cannot decode {describe_record(record)}: {type(error).__name__}: {error}") from error
    finally:
        reader.close()


def _decode_window(reader, start: int, num_samples: int, sampling_rate: int) -> np.ndarray:
    """Output samples `[start, start + num_samples)` of the resampled mono clip (see `decode_random_crop`)."""
    rate, num_frames = reader.header.sampling_rate, reader.header.num_frames
    if rate == sampling_rate:
        window = _finite_mono(reader.read(start, num_samples))
    else:
        common = math.gcd(rate, sampling_rate)
        input_step, output_step = rate // common, sampling_rate // common  # grids coincide every `output_step`
        first_output = max(0, start - RESAMPLING_MARGIN) // output_step * output_step
        last_output = start + num_samples + RESAMPLING_MARGIN
        first_input = first_output // output_step * input_step
        last_input = min(num_frames, -(-last_output // output_step) * input_step)
        resampled = resample(_finite_mono(reader.read(first_input, last_input - first_input)), rate, sampling_rate)
        window = resampled[start - first_output : start - first_output + num_samples]
    if window.numel() < num_samples:
        raise ClipDecodeError(f"the file holds fewer samples than its header says ({num_frames} at {rate} Hz)")
    return window.numpy()
