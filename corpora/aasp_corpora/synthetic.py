# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The embedded default corpus: a small audio corpus built locally, with no Hub access.

Three classification tasks (see `EMBEDDED_TASKS` and docs/corpus.md):

- ``"instrument"``: General MIDI instrument family of notes rendered from the SoundFont shipped inside
  `pretty_midi` (TimGM6mb.sf2) with `tinysoundfont`.
- ``"keyword"``: spoken digits "zero" .. "nine" synthesised by the `espeak-ng` program.
- ``"modulation"``: the aliasing probe. Amplitude- or frequency-modulated tones and noise whose modulation
  rate is an integer multiple of the token rate (6.25 Hz), so that only temporal structure inside a
  16-frame patch tells the classes apart.

Every clip is 2-4 s of 16 kHz mono float32, peak-normalised to a random level, a pure function of ``(seed, task,
class, clip index)``, written once to a cache folder (float WAV, one ``metadata.jsonl`` per task and split) and read
back like a Hub audio-classification dataset (columns ``"audio"`` and ``"label"``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import util as importlib_util
from pathlib import Path
from types import MappingProxyType

import datasets
import numpy as np
import soundfile
import torch
import torchaudio
from transformers.utils import logging

from transformers_aasp.audio import SAMPLING_RATE
from transformers_aasp.configuration_aasp import AaSPConfig


logger = logging.get_logger(__name__)

CORPUS_VERSION = "v2"
MIN_CLIP_SECONDS = 2.0
MAX_CLIP_SECONDS = 4.0
SPLIT_FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}
CACHE_DIR_ENV = "AASP_CORPUS_DIR"
ESPEAK_INSTALL_HINT = "sudo apt-get install espeak-ng"
TINYSOUNDFONT_INSTALL_HINT = "pip install --no-deps tinysoundfont"

# Geometry of the model's time axis (docs/architecture.md), read from the default config: 10 ms hop, 16-frame patches.
FRAME_RATE_HZ = float(AaSPConfig().frame_rate)
PATCH_FRAMES = int(AaSPConfig().time_patch_size)
TOKEN_RATE_HZ = FRAME_RATE_HZ / PATCH_FRAMES  # 6.25 Hz: the modulation classes are multiples of it
MODULATION_MULTIPLES = (1, 2, 3, 4, 6)  # class rates = multiple * 6.25 Hz: 6.25, 12.5, 18.75, 25, 37.5 Hz
MODULATION_SNR_DB = (30.0, 45.0)  # a white noise floor, so that no class leaves a noiseless trace at the patch rate

MIN_PEAK_DBFS = -18.0
MAX_PEAK_DBFS = -1.0
SILENCE_PEAK = 1e-4  # a raw render whose peak is below this is a failed render
SOUNDING_RMS = 1e-3  # a 0.3 s probe note quieter than this means the preset has no sample for that key
MAX_ATTEMPTS_PER_CLIP = 3


@dataclass(frozen=True)
class EmbeddedTask:
    """Description of one embedded task: what it asks, its class names, and its default size."""

    description: str
    label_names: tuple[str, ...]
    default_clips_per_class: int

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


@dataclass(frozen=True)
class _InstrumentFamily:
    name: str
    programs: range  # 0-based General MIDI program numbers
    pitch_range: tuple[int, int]  # inclusive MIDI keys that sound natural for the family


_INSTRUMENT_FAMILIES = (
    _InstrumentFamily("piano", range(0, 8), (36, 96)),
    _InstrumentFamily("organ", range(16, 24), (36, 84)),
    _InstrumentFamily("guitar", range(24, 32), (40, 79)),
    _InstrumentFamily("bass", range(32, 40), (28, 55)),
    _InstrumentFamily("strings", range(40, 48), (40, 84)),
    _InstrumentFamily("brass", range(56, 64), (40, 82)),
    _InstrumentFamily("reed", range(64, 72), (48, 84)),
    _InstrumentFamily("pipe", range(72, 80), (60, 96)),
)
_KEYWORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# espeak-ng's own English voices ("gmw/..."), combined with its voice variants ("!v/...").
_ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
_ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "klatt", "klatt2", "klatt3")
_MODULATION_KINDS = ("am_tone", "am_noise", "fm_tone")


def _modulation_label(multiple: int) -> str:
    return f"{multiple * TOKEN_RATE_HZ:g}Hz"


EMBEDDED_TASKS = MappingProxyType(
    {
        "instrument": EmbeddedTask(
            description="General MIDI instrument family of SoundFont-rendered notes (1-3 notes per clip).",
            label_names=tuple(family.name for family in _INSTRUMENT_FAMILIES),
            default_clips_per_class=36,
        ),
        "keyword": EmbeddedTask(
            description="Spoken digit 'zero'..'nine' synthesised by espeak-ng with varied voice, speed and pitch.",
            label_names=_KEYWORDS,
            default_clips_per_class=30,
        ),
        "modulation": EmbeddedTask(
            description=(
                "Aliasing probe: AM/FM tones and AM noise whose modulation rate (a multiple of the 6.25 Hz token "
                "rate) is the label; invisible to a model that only sees patch-rate information."
            ),
            label_names=tuple(_modulation_label(multiple) for multiple in MODULATION_MULTIPLES),
            default_clips_per_class=60,
        ),
    }
)
_TASK_IDS = {"instrument": 1, "keyword": 2, "modulation": 3}  # fixed: part of every clip's random seed


# Cache location


def default_cache_root() -> Path:
    """Folder that holds built corpora: ``$AASP_CORPUS_DIR`` or ``~/.cache/transformers_aasp/corpus``."""
    from_env = os.environ.get(CACHE_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path.home() / ".cache" / "transformers_aasp" / "corpus"


def corpus_name(seed: int = 0, clips_per_class: int | None = None) -> str:
    """Name of one corpus build, ``<version>-<seed>`` (``-c<N>`` added for a non-default size), e.g. ``v2-7-c80``:
    its folder name, and the dataset revision that the results of a task loaded from it record."""
    name = f"{CORPUS_VERSION}-{seed}"
    if clips_per_class is not None:
        name += f"-c{clips_per_class}"
    return name


def corpus_dir(cache_dir: str | os.PathLike | None = None, seed: int = 0, clips_per_class: int | None = None) -> Path:
    """Folder of one built corpus: ``<cache root>/<corpus_name(seed, clips_per_class)>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    return root / corpus_name(seed, clips_per_class)


# Shared clip helpers


class _BadRecordError(RuntimeError):
    """A single clip could not be made (failed synthesis or silent output); the build skips it."""


def _clip_rng(seed: int, task: str, label: int, index: int, attempt: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TASK_IDS[task], label, index, attempt])


def _draw_num_samples(rng: np.random.Generator) -> int:
    return int(rng.integers(int(MIN_CLIP_SECONDS * SAMPLING_RATE), int(MAX_CLIP_SECONDS * SAMPLING_RATE) + 1))


def _normalise_peak(waveform: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Scales a (num_samples,) waveform so its peak sits at a random level in [-18, -1] dBFS."""
    peak = float(np.max(np.abs(waveform)))
    if not math.isfinite(peak) or peak < SILENCE_PEAK:
        raise _BadRecordError(f"render is silent or not finite (peak {peak:.2e})")
    peak_dbfs = float(rng.uniform(MIN_PEAK_DBFS, MAX_PEAK_DBFS))
    scaled = waveform * (10.0 ** (peak_dbfs / 20.0) / peak)
    return scaled.astype(np.float32), peak_dbfs


def write_float_wav(path: str | os.PathLike, waveform: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> None:
    """Writes a (num_samples,) waveform as a mono IEEE-float WAV file whose bytes depend only on the samples.

    libsndfile adds a time-stamped PEAK chunk to float WAV files, which would make two identical builds differ.
    """
    data = np.ascontiguousarray(waveform, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, sampling_rate, 4 * sampling_rate, 4, 32, 0)  # WAVE_FORMAT_IEEE_FLOAT
    fact = struct.pack("<I", waveform.shape[0])
    chunks = b"".join(
        name + struct.pack("<I", len(body)) + body for name, body in ((b"fmt ", fmt), (b"fact", fact), (b"data", data))
    )
    with open(path, "wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


def _raised_cosine_fade(waveform: np.ndarray, seconds: float = 0.02) -> np.ndarray:
    length = min(int(seconds * SAMPLING_RATE), waveform.shape[0] // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, length))
    faded = waveform.copy()
    faded[:length] *= ramp
    faded[-length:] *= ramp[::-1]
    return faded


# Task "instrument": SoundFont renders


def soundfont_path() -> Path:
    """Path of the General MIDI SoundFont (TimGM6mb.sf2, GPL-2.0) that ships inside the `pretty_midi` package."""
    spec = importlib_util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The 'instrument' task of the embedded corpus renders the SoundFont shipped with `pretty_midi`, "
            "which is not installed. Install it with: pip install pretty_midi"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"`pretty_midi` is installed but its SoundFont is missing: {path}")
    return path


class SoundFontRenderer:
    """Renders General MIDI notes from one SoundFont to 16 kHz mono float32 waveforms, offline."""

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        sampling_rate: int = SAMPLING_RATE,
        sounding_rms: float = SOUNDING_RMS,
    ):
        try:
            import tinysoundfont
        except ImportError as error:
            raise ImportError(
                "The 'instrument' task of the embedded corpus needs `tinysoundfont`. Install it with: "
                f"{TINYSOUNDFONT_INSTALL_HINT} (it renders offline; its declared pyaudio dependency is not needed)"
            ) from error
        self.sampling_rate = sampling_rate
        self.sounding_rms = sounding_rms
        self._synth = tinysoundfont.Synth(samplerate=sampling_rate)
        self._soundfont_id = self._synth.sfload(str(path or soundfont_path()))
        self._sounding: dict[tuple[int, int], bool] = {}

    def preset_name(self, program: int) -> str | None:
        return self._synth.sfpreset_name(self._soundfont_id, 0, program)

    def sounding_pitches(self, program: int, pitch_range: tuple[int, int]) -> tuple[int, ...]:
        """MIDI keys in ``pitch_range`` (inclusive) for which ``program`` makes sound; some presets have gaps."""
        return tuple(pitch for pitch in range(pitch_range[0], pitch_range[1] + 1) if self._sounds(program, pitch))

    def _sounds(self, program: int, pitch: int) -> bool:
        if (program, pitch) not in self._sounding:
            probe = self.render(program, [{"pitch": pitch, "velocity": 80, "start_s": 0.0, "duration_s": 0.3}], 4800)
            self._sounding[program, pitch] = float(np.sqrt(np.mean(probe**2))) > self.sounding_rms
        return self._sounding[program, pitch]

    def render(self, program: int, notes: list[dict], num_samples: int) -> np.ndarray:
        """Plays ``notes`` (dicts with ``pitch``, ``velocity``, ``start_s``, ``duration_s``) on one GM program.

        Returns:
            `np.ndarray` of shape (num_samples,), float32: the stereo render mixed to mono.
        """
        self._synth.program_select(0, self._soundfont_id, 0, program)
        events = []
        for note in notes:
            events.append((round(note["start_s"] * self.sampling_rate), 1, note))
            events.append((round((note["start_s"] + note["duration_s"]) * self.sampling_rate), 0, note))
        events.sort(key=lambda event: (event[0], event[1]))  # note-offs before note-ons at the same sample
        chunks, position = [], 0
        for sample, is_on, note in events:
            sample = min(sample, num_samples)
            chunks.append(self._generate(sample - position))
            position = sample
            if is_on:
                self._synth.noteon(0, note["pitch"], note["velocity"])
            else:
                self._synth.noteoff(0, note["pitch"])
        chunks.append(self._generate(num_samples - position))
        self._synth.sounds_off(0)  # the next render starts from silence, whatever this one left ringing
        return np.concatenate(chunks)

    def _generate(self, num_samples: int) -> np.ndarray:
        if num_samples <= 0:
            return np.zeros(0, dtype=np.float32)
        stereo = np.frombuffer(self._synth.generate(num_samples), dtype=np.float32).reshape(-1, 2)
        return stereo.mean(axis=1)


def _draw_notes(rng: np.random.Generator, pitches: tuple[int, ...], clip_seconds: float) -> list[dict]:
    """1-3 consecutive notes with random pitch (one of ``pitches``), velocity and duration.

    The notes share the clip evenly after a random onset and leave 0.4 s at the end for the release.
    """
    num_notes = int(rng.integers(1, 4))
    start_s = float(rng.uniform(0.0, 0.3))
    slot_s = (clip_seconds - start_s - 0.4) / num_notes
    notes = []
    for _ in range(num_notes):
        duration_s = float(rng.uniform(0.45, 0.9) * slot_s)
        notes.append(
            {
                "pitch": int(rng.choice(pitches)),
                "velocity": int(rng.integers(50, 128)),
                "start_s": round(start_s, 4),
                "duration_s": round(duration_s, 4),
            }
        )
        start_s += slot_s
    return notes


def _make_instrument_clip(
    rng: np.random.Generator, label: int, renderer: SoundFontRenderer
) -> tuple[np.ndarray, dict]:
    family = _INSTRUMENT_FAMILIES[label]
    num_samples = _draw_num_samples(rng)
    program = int(rng.choice(family.programs))
    notes = _draw_notes(rng, renderer.sounding_pitches(program, family.pitch_range), num_samples / SAMPLING_RATE)
    waveform = renderer.render(program, notes, num_samples)
    params = {"program": program, "preset_name": renderer.preset_name(program), "notes": notes}
    return waveform, params


# Task "keyword": espeak-ng speech


def find_espeak_ng() -> str:
    """Absolute path of the `espeak-ng` program, or a `RuntimeError` that says how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError(
            "The 'keyword' task of the embedded corpus needs the espeak-ng program, which was not found on PATH. "
            f"Install it with: {ESPEAK_INSTALL_HINT}"
        )
    return path


def synthesize_speech(text: str, voice: str, speed_wpm: int, pitch: int, espeak: str | None = None) -> np.ndarray:
    """Speaks ``text`` with espeak-ng and resamples it to 16 kHz.

    Returns:
        `np.ndarray` of shape (num_samples,), float32, as loud as espeak-ng made it.
    """
    command = [espeak or find_espeak_ng(), "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "--stdout", text]
    try:
        completed = subprocess.run(command, capture_output=True, check=True, timeout=60)
        speech, rate = soundfile.read(io.BytesIO(completed.stdout), dtype="float32")
    except (subprocess.SubprocessError, soundfile.LibsndfileError) as error:
        raise _BadRecordError(f"espeak-ng failed for voice {voice!r}: {error}") from error
    if speech.ndim != 1 or speech.size == 0:
        raise _BadRecordError(f"espeak-ng returned no mono audio for voice {voice!r}")
    with torch.no_grad():
        return _resampler(rate)(torch.from_numpy(speech)).numpy()


@functools.lru_cache(maxsize=4)
def _resampler(orig_freq: int):
    """A torchaudio resampler to 16 kHz; cached because building its sinc kernel costs more than applying it."""
    return torchaudio.transforms.Resample(orig_freq=orig_freq, new_freq=SAMPLING_RATE)


def _make_keyword_clip(rng: np.random.Generator, label: int, espeak: str) -> tuple[np.ndarray, dict]:
    num_samples = _draw_num_samples(rng)
    voice = f"{rng.choice(_ESPEAK_VOICES)}+{rng.choice(_ESPEAK_VARIANTS)}"
    speed_wpm = int(rng.integers(110, 201))
    pitch = int(rng.integers(20, 81))
    speech = synthesize_speech(_KEYWORDS[label], voice, speed_wpm, pitch, espeak=espeak)[:num_samples]
    offset = int(rng.integers(0, num_samples - speech.shape[0] + 1))
    waveform = np.zeros(num_samples, dtype=np.float32)
    waveform[offset : offset + speech.shape[0]] = speech
    params = {"voice": voice, "speed_wpm": speed_wpm, "pitch": pitch, "onset_s": round(offset / SAMPLING_RATE, 4)}
    return waveform, params


# Task "modulation": the aliasing probe


def synthesize_modulated_signal(
    rng: np.random.Generator, rate_hz: float, kind: str, num_samples: int
) -> tuple[np.ndarray, dict]:
    """One modulated signal with random carrier, depth and phase; only ``rate_hz`` is imposed.

    Args:
        rng: source of every random choice.
        rate_hz: modulation rate of the envelope (AM) or of the instantaneous frequency (FM).
        kind: ``"am_tone"`` (harmonic tone, 1-4 partials), ``"am_noise"`` (band-limited Gaussian noise) or
            ``"fm_tone"`` (pure tone whose frequency swings by 3-12 %).
        num_samples: length at 16 kHz.

    Returns:
        (`np.ndarray` of shape (num_samples,), float32, not normalised; dict of the drawn parameters).
    """
    time_s = np.arange(num_samples) / SAMPLING_RATE
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    modulator = np.sin(2.0 * np.pi * rate_hz * time_s + phase)
    params = {"kind": kind, "rate_hz": rate_hz, "modulation_phase": round(phase, 6)}
    if kind == "am_tone":
        carrier_hz = float(np.exp(rng.uniform(np.log(150.0), np.log(4000.0))))
        num_partials = int(min(rng.integers(1, 5), (SAMPLING_RATE / 2 - 100) // carrier_hz))
        amplitudes = rng.uniform(0.2, 1.0, size=num_partials)
        carrier = sum(
            amplitude * np.sin(2.0 * np.pi * (k + 1) * carrier_hz * time_s + rng.uniform(0.0, 2.0 * np.pi))
            for k, amplitude in enumerate(amplitudes)
        )
        depth = float(rng.uniform(0.4, 0.95))
        signal = (1.0 + depth * modulator) * carrier
        params.update(carrier_hz=round(carrier_hz, 3), num_partials=num_partials, depth=round(depth, 4))
    elif kind == "am_noise":
        low_hz = float(np.exp(rng.uniform(np.log(100.0), np.log(2000.0))))
        high_hz = min(low_hz * float(rng.uniform(2.0, 8.0)), 7900.0)
        spectrum = np.fft.rfft(rng.standard_normal(num_samples))
        frequencies = np.fft.rfftfreq(num_samples, d=1.0 / SAMPLING_RATE)
        spectrum[(frequencies < low_hz) | (frequencies > high_hz)] = 0.0
        depth = float(rng.uniform(0.6, 0.95))
        signal = (1.0 + depth * modulator) * np.fft.irfft(spectrum, n=num_samples)
        params.update(band_hz=[round(low_hz, 3), round(high_hz, 3)], depth=round(depth, 4))
    elif kind == "fm_tone":
        carrier_hz = float(np.exp(rng.uniform(np.log(200.0), np.log(3000.0))))
        deviation_hz = carrier_hz * float(rng.uniform(0.03, 0.12))
        instantaneous_phase = 2.0 * np.pi * carrier_hz * time_s - (deviation_hz / rate_hz) * np.cos(
            2.0 * np.pi * rate_hz * time_s + phase
        )
        signal = np.sin(instantaneous_phase + rng.uniform(0.0, 2.0 * np.pi))
        params.update(carrier_hz=round(carrier_hz, 3), deviation_hz=round(deviation_hz, 3))
    else:
        raise ValueError(f"Unknown modulation kind {kind!r}; choose one of {_MODULATION_KINDS}")
    snr_db = float(rng.uniform(*MODULATION_SNR_DB))
    noise_floor = rng.standard_normal(num_samples) * np.sqrt(np.mean(signal**2) / 10.0 ** (snr_db / 10.0))
    params["snr_db"] = round(snr_db, 3)
    return _raised_cosine_fade(signal + noise_floor).astype(np.float32), params


def _make_modulation_clip(rng: np.random.Generator, label: int) -> tuple[np.ndarray, dict]:
    num_samples = _draw_num_samples(rng)
    rate_hz = MODULATION_MULTIPLES[label] * TOKEN_RATE_HZ  # exact: one period divides the 160 ms patch evenly
    kind = str(rng.choice(_MODULATION_KINDS))
    return synthesize_modulated_signal(rng, rate_hz, kind, num_samples)


# Building


def split_sizes(num_clips: int) -> dict[str, int]:
    """Stratification of one class: 70/15/15 rounded, at least one clip in validation and in test."""
    if num_clips < 3:
        raise ValueError(f"A class needs at least 3 clips to fill train, validation and test; got {num_clips}")
    validation = max(1, int(num_clips * SPLIT_FRACTIONS["validation"] + 0.5))
    test = max(1, int(num_clips * SPLIT_FRACTIONS["test"] + 0.5))
    return {"train": num_clips - validation - test, "validation": validation, "test": test}


def _split_of(index: int, sizes: dict[str, int]) -> str:
    # Clip indices are exchangeable (each clip has its own random draw), so contiguous blocks are a fair split.
    if index < sizes["train"]:
        return "train"
    return "validation" if index < sizes["train"] + sizes["validation"] else "test"


ClipMaker = Callable[[np.random.Generator, int], tuple[np.ndarray, dict]]  # (rng, label) -> (waveform, params)


def _clip_makers() -> dict[str, ClipMaker]:
    espeak = find_espeak_ng()  # checked before any work, so a missing program fails fast
    renderer = SoundFontRenderer()
    return {
        "instrument": lambda rng, label: _make_instrument_clip(rng, label, renderer),
        "keyword": lambda rng, label: _make_keyword_clip(rng, label, espeak),
        "modulation": _make_modulation_clip,
    }


def _make_clip_with_retries(
    make_clip: ClipMaker, seed: int, task: str, label: int, index: int
) -> tuple[np.ndarray, dict, float] | None:
    """Returns (waveform, params, peak_dbfs), or None after `MAX_ATTEMPTS_PER_CLIP` bad records."""
    for attempt in range(MAX_ATTEMPTS_PER_CLIP):
        rng = _clip_rng(seed, task, label, index, attempt)
        try:
            waveform, params = make_clip(rng, label)
            waveform, peak_dbfs = _normalise_peak(waveform, rng)
            return waveform, params, peak_dbfs
        except _BadRecordError as error:
            logger.warning(f"{task} clip {label}/{index}, attempt {attempt + 1}: {error}")
    return None


def _build_task(task: str, make_clip: ClipMaker, folder: Path, seed: int, clips_per_class: int) -> dict:
    """Writes every clip of one task under ``folder/<split>/`` with a ``metadata.jsonl`` per split."""
    spec = EMBEDDED_TASKS[task]
    sizes = split_sizes(clips_per_class)
    rows = {split: [] for split in SPLIT_FRACTIONS}
    for split in rows:
        (folder / split).mkdir(parents=True)
    skipped = 0
    jobs = [(label, index) for label in range(spec.num_classes) for index in range(clips_per_class)]
    for label, index in logging.tqdm(jobs, desc=f"embedded corpus: {task}", unit="clip"):
        made = _make_clip_with_retries(make_clip, seed, task, label, index)
        if made is None:
            skipped += 1
            continue
        waveform, params, peak_dbfs = made
        split = _split_of(index, sizes)
        file_name = f"{spec.label_names[label]}_{index:04d}.wav"
        write_float_wav(folder / split / file_name, waveform)
        rows[split].append(
            {
                "file_name": file_name,
                "label": spec.label_names[label],
                "num_samples": int(waveform.shape[0]),
                "peak_dbfs": round(peak_dbfs, 3),
                **params,
            }
        )
    _check_every_split_has_every_class(task, rows)
    for split, split_rows in rows.items():
        order = np.random.default_rng([seed, _TASK_IDS[task], 7]).permutation(len(split_rows))
        with open(folder / split / "metadata.jsonl", "w", encoding="utf-8") as handle:
            for position in order:
                handle.write(json.dumps(split_rows[position]) + "\n")
    if skipped:
        logger.warning(f"Embedded corpus task {task!r}: skipped {skipped} clip(s) after repeated failed renders")
    return {"num_clips": {split: len(split_rows) for split, split_rows in rows.items()}, "skipped": skipped}


def _check_every_split_has_every_class(task: str, rows: dict[str, list[dict]]) -> None:
    names = set(EMBEDDED_TASKS[task].label_names)
    for split, split_rows in rows.items():
        missing = names - {row["label"] for row in split_rows}
        if missing:
            raise RuntimeError(
                f"Embedded corpus task {task!r}: split {split!r} has no clip of class(es) {sorted(missing)} "
                "because too many renders failed; see the warnings above"
            )


def _espeak_version(espeak: str) -> str:
    completed = subprocess.run([espeak, "--version"], capture_output=True, text=True, timeout=30)
    return completed.stdout.split("Data at")[0].strip()  # e.g. "eSpeak NG text-to-speech: 1.51"


def _write_manifest(folder: Path, seed: int, clips_per_class: int | None, summaries: dict) -> None:
    manifest = {
        "version": CORPUS_VERSION,
        "seed": seed,
        "clips_per_class": clips_per_class,
        "sampling_rate": SAMPLING_RATE,
        "clip_seconds": [MIN_CLIP_SECONDS, MAX_CLIP_SECONDS],
        "tasks": {
            task: {"label_names": list(EMBEDDED_TASKS[task].label_names), **summaries[task]} for task in summaries
        },
        "sources": {
            "soundfont": "TimGM6mb.sf2 from the pretty_midi package (Tim Brechbill; GPL-2.0)",
            "soundfont_sha256": hashlib.sha256(soundfont_path().read_bytes()).hexdigest(),
            "espeak_ng": _espeak_version(find_espeak_ng()) + " (program and voice data: GPL-3.0-or-later)",
            "modulation": "synthesised by aasp_corpora.synthetic (Apache-2.0)",
        },
    }
    (folder / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def reuse_complete_build(target: Path, manifest: str, what: str, force: bool) -> bool:
    """True when ``target`` holds a complete build (its ``manifest`` file) to reuse; raises when another folder is in
    the way of a new build, unless ``force``."""
    if (target / manifest).is_file() and not force:
        logger.info(f"Using the {what} cached at {target}")
        return True
    if target.exists() and not force:
        raise RuntimeError(
            f"{target} exists but holds no complete {what} (no {manifest}); remove it or pass force=True"
        )
    return False


def build_atomically(target: Path, manifest: str, what: str, force: bool, build: Callable[[Path], None]) -> None:
    """Runs ``build(folder)`` in a temporary sibling of ``target`` and renames it onto ``target`` at the end, so an
    interrupted build leaves nothing half-written; when another process finished ``target`` first, its build wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".building-{target.name}-", dir=target.parent))
    building.chmod(0o755)  # mkdtemp makes it private; the finished build is an ordinary cache folder
    try:
        logger.info(f"Building the {what} in {target}")
        build(building)
        if force and target.exists():
            discarded = target.with_name(f".discard-{target.name}-{uuid.uuid4().hex}")
            target.rename(discarded)
            shutil.rmtree(discarded, ignore_errors=True)
        try:
            building.rename(target)
        except OSError as error:
            if not (target / manifest).is_file():
                raise RuntimeError(f"{target} exists but holds no complete {what}; remove it") from error
            logger.info(f"Another process finished the {what} at {target} first; using it")
    finally:
        shutil.rmtree(building, ignore_errors=True)


def build_embedded_corpus(
    cache_dir: str | os.PathLike | None = None, seed: int = 0, force: bool = False, clips_per_class: int | None = None
) -> Path:
    """Builds the embedded corpus once (reused unless ``force``; see `build_atomically`) and returns its folder,
    ``corpus_dir(cache_dir, seed, clips_per_class)``.

    Args:
        cache_dir: root folder of built corpora (default: `default_cache_root()`).
        seed: every clip is a deterministic function of the seed.
        clips_per_class: clips per class for every task (at least 3); `None` uses each task's default
            (`EmbeddedTask.default_clips_per_class`, about 300 clips per task).

    Returns:
        `pathlib.Path` of the folder holding ``corpus.json`` and one sub-folder per task.
    """
    if clips_per_class is not None:
        split_sizes(clips_per_class)  # validates the size before any work
    target = corpus_dir(cache_dir, seed, clips_per_class)
    if reuse_complete_build(target, "corpus.json", "embedded corpus", force):
        return target
    makers = _clip_makers()

    def build(folder: Path) -> None:
        summaries = {}
        for task, spec in EMBEDDED_TASKS.items():
            size = clips_per_class if clips_per_class is not None else spec.default_clips_per_class
            summaries[task] = _build_task(task, makers[task], folder / task, seed, size)
        _write_manifest(folder, seed, clips_per_class, summaries)

    build_atomically(target, "corpus.json", "embedded corpus", force, build)
    return target


# Loading as `datasets` objects


def read_task_metadata(folder: Path, name: str, split: str) -> list[dict]:
    """Rows of ``<folder>/<name>/<split>/metadata.jsonl``: file name, label name, length and generator params."""
    with open(folder / name / split / "metadata.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def split_dataset(folder: Path, name: str, split: str, label_names: tuple[str, ...]) -> datasets.Dataset:
    """One split of a built task (``<folder>/<name>/<split>/``) with columns "audio" (16 kHz) and "label"."""
    rows = read_task_metadata(folder, name, split)
    features = datasets.Features(
        {"audio": datasets.Audio(sampling_rate=SAMPLING_RATE), "label": datasets.ClassLabel(names=list(label_names))}
    )
    columns = {
        "audio": [str(folder / name / split / row["file_name"]) for row in rows],
        "label": [label_names.index(row["label"]) for row in rows],
    }
    return datasets.Dataset.from_dict(columns, features=features, split=datasets.NamedSplit(split))


def load_embedded_task(
    name: str, cache_dir: str | os.PathLike | None = None, seed: int = 0, clips_per_class: int | None = None
) -> datasets.DatasetDict:
    """Loads one embedded task like a Hub audio-classification dataset, building the corpus if needed.

    Returns:
        `datasets.DatasetDict` with splits ``train`` / ``validation`` / ``test`` (70/15/15, stratified), columns
        ``"audio"`` (`datasets.Audio`, 16 kHz; decodes to float32 arrays of 32000-64000 samples) and
        ``"label"`` (`datasets.ClassLabel` with the task's class names).
    """
    if name not in EMBEDDED_TASKS:
        raise ValueError(f"Unknown embedded task {name!r}; choose one of {sorted(EMBEDDED_TASKS)}")
    spec = EMBEDDED_TASKS[name]
    folder = build_embedded_corpus(cache_dir, seed=seed, clips_per_class=clips_per_class)
    splits = {split: split_dataset(folder, name, split, spec.label_names) for split in SPLIT_FRACTIONS}
    return datasets.DatasetDict(**splits)


def load_pretraining_audio(
    cache_dir: str | os.PathLike | None = None, seed: int = 0, clips_per_class: int | None = None
) -> datasets.Dataset:
    """The train split of every embedded task, audio only, for self-supervised pre-training.

    Returns:
        `datasets.Dataset` with one column ``"audio"`` (`datasets.Audio`, 16 kHz).
    """
    folder = build_embedded_corpus(cache_dir, seed=seed, clips_per_class=clips_per_class)
    parts = [
        split_dataset(folder, name, "train", spec.label_names).select_columns(["audio"])
        for name, spec in EMBEDDED_TASKS.items()
    ]
    return datasets.concatenate_datasets(parts)


__all__ = [
    "CORPUS_VERSION",
    "EMBEDDED_TASKS",
    "EmbeddedTask",
    "SoundFontRenderer",
    "build_embedded_corpus",
    "corpus_dir",
    "corpus_name",
    "default_cache_root",
    "find_espeak_ng",
    "load_embedded_task",
    "load_pretraining_audio",
    "read_task_metadata",
    "soundfont_path",
    "split_sizes",
    "synthesize_modulated_signal",
    "synthesize_speech",
    "write_float_wav",
]
