# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Small audio files for tests: tones, a folder corpus, and files a pipeline must skip or accept."""

import os
from pathlib import Path

import numpy as np
import soundfile


def tone(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 20) * t)
    signal_ = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) * envelope + 0.02 * rng.standard_normal(t.size)
    return signal_.astype(np.float32)


def write_good_corpus(folder: Path, count: int = 6) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / ("nested" if index % 2 else "") / f"clip{index}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, tone(1.0 + 0.4 * index, seed=index), 16000)
        paths.append(path)
    return paths


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Files that must be skipped, and files that must be accepted (silent, 44.1 kHz stereo)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.wav" for name in ("corrupt", "empty", "no_frames", "too_short", "nan")}
    files["corrupt"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(256))
    files["empty"].write_bytes(b"")
    soundfile.write(files["no_frames"], np.zeros(0, dtype=np.float32), 16000)
    soundfile.write(files["too_short"], tone(0.01), 16000)
    soundfile.write(files["nan"], np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    files["silent"] = folder / "silent.wav"
    soundfile.write(files["silent"], np.zeros(24000, dtype=np.float32), 16000)
    files["cd_rate"] = folder / "cd_rate.wav"
    soundfile.write(files["cd_rate"], np.stack([tone(2.0, 44100), tone(2.0, 44100, seed=1)], axis=1), 44100)
    return files


def stereo_tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """(samples, 2) float32, two different tones (as soundfile reads and writes multi-channel audio)."""
    return np.stack([tone(seconds, rate, seed), tone(seconds, rate, seed + 1)], axis=1)


def write_audioset_like_flac(path: Path, seconds: float = 10.0, rate: int = 48000, seed: int = 0) -> Path:
    """What `agkphysics/AudioSet` stores: 24-bit stereo FLAC at 48 kHz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, stereo_tone(seconds, rate, seed), rate, format="FLAC", subtype="PCM_24")
    return path


# the error each file of `write_bad_files` must be refused with, at a 1600-sample minimum (0.1 s at 16 kHz)
BAD_FILE_ERRORS = {
    "corrupt": "cannot decode",
    "empty": "cannot decode",
    "no_frames": "empty clip",
    "too_short": "too short: 160 samples < 1600",
    "nan": "NaN or Inf",
}
