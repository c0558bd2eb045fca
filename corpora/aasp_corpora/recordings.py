# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""A real-audio corpus cut from recordings shipped in Debian packages, split by recording source.

- ``asterisk-core-sounds-{en,es,fr,it,ru}-wav``: the telephony prompts of the Asterisk PBX, one voice per language;
- ``musescore-general-soundfont``: MuseScore_General_Full.sf3, General MIDI presets of recorded instrument samples,
  rendered note by note with `tinysoundfont`;
- ``sonic-pi-samples``: the one-shot and loop samples of Sonic Pi, used only in the unlabelled pool.

Tasks (`RECORDED_TASKS`): ``"instrument_real"`` (the General MIDI family of notes played by a preset) and
``"sample_family"`` (the family of a Sonic Pi sample). Splits are disjoint by *source* (a group of presets that share
samples, or a Sonic Pi sound with all its takes), and classes have the same number of clips within a split. The
spoken prompts make no task: with one voice per language a language task is a voice task, told apart by log-mel
statistics alone (research/notes/2026-12-07-recordings.md); they go to the pre-training pool.

Clips are 1-4 s of 16 kHz mono, peak-normalised to a random level in [-18, -1] dBFS, written as 16-bit WAV with one
``metadata.jsonl`` per task and split under ``<cache root>/recordings-<version>-<seed>``. Everything is a pure function
of the seed and of the installed packages' files. `recorded_pretraining_pool` is a folder of audio files (the train
clips of every task, the prompts, the Sonic Pi samples of no task family) holding no validation or test recording.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import struct
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import datasets
import numpy as np
import soundfile
import torch
from transformers.utils import logging

from transformers_aasp.audio import SAMPLING_RATE

from .synthetic import (
    _INSTRUMENT_FAMILIES,
    SoundFontRenderer,
    _draw_notes,
    _resampler,
    build_atomically,
    default_cache_root,
    read_task_metadata,
    reuse_complete_build,
    split_dataset,
)


logger = logging.get_logger(__name__)

RECORDINGS_VERSION = "r1"
SPLITS = ("train", "validation", "test")
MIN_CLIP_SECONDS = 1.0
MAX_CLIP_SECONDS = 4.0
MIN_PEAK_DBFS = -18.0
MAX_PEAK_DBFS = -1.0
TRIM_BELOW_PEAK_DB = 40.0  # leading / trailing 10 ms frames this far below the loudest frame are silence
POOL_MANIFEST = "pool.json"  # in a capped pool folder: what it holds
MAX_WINDOWS_PER_RECORDING = 3  # a long recording gives at most this many clips, so no prompt dominates its split

ASTERISK_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
MUSESCORE_SOUNDFONT = Path("/usr/share/sounds/sf3/MuseScore_General_Full.sf3")
SONIC_PI_SAMPLES_DIR = Path("/usr/share/sonic-pi/samples")
# Folder of each language's prompts (one voice each), the Debian package that installs it and its licence.
ASTERISK_VOICES = MappingProxyType(
    {
        "en": ("en_US_f_Allison", "asterisk-core-sounds-en-wav", "CC-BY-SA-3.0 (Allison Smith)"),
        "es": ("es_MX_f_Allison", "asterisk-core-sounds-es-wav", "CC-BY-SA-3.0 (Allison Smith)"),
        "fr": ("fr_CA_f_June", "asterisk-core-sounds-fr-wav", "CC-BY-SA-3.0 (June Wallack)"),
        "it": ("it_IT_m_Carlo", "asterisk-core-sounds-it-wav", "CC-BY-3.0 (Carlo Flora)"),
        "ru": ("ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-wav", "CC-BY-3.0 (Maxim Topal)"),
    }
)
MUSESCORE_PACKAGE = "musescore-general-soundfont"
SONIC_PI_PACKAGE = "sonic-pi-samples"
LICENSES = MappingProxyType(
    {package: license for _, package, license in ASTERISK_VOICES.values()}
    | {
        MUSESCORE_PACKAGE: "MIT, parts public domain or CC0 (S. Christian Collins and others)",
        SONIC_PI_PACKAGE: "per sample, mostly CC0; some CC-BY-SA-4.0, MIT or Zlib (/usr/share/doc/sonic-pi-samples)",
    }
)
ALL_PACKAGES = tuple(LICENSES)

# Instrument families of the General MIDI bank (programs and pitch ranges of the embedded "instrument" task), minus
# the presets whose samples are synthetic waveforms rather than recordings.
SYNTHETIC_PRESETS = (5, 38, 39, 62, 63)  # FM Electric Piano, Synth Bass 1-2, Synth Brass 1-2
INSTRUMENT_SPLIT_GROUPS = {"test": 2, "validation": 1}  # source groups per family; the rest train
INSTRUMENT_CLIPS_PER_FAMILY = {"train": 96, "validation": 30, "test": 45}
# Sonic Pi sample families: a source belongs to the first family one of whose name prefixes it starts with.
SAMPLE_FAMILIES = MappingProxyType(
    {
        "kick": ("bd_", "drum_bass", "drum_heavy_kick", "elec_hollow_kick", "elec_soft_kick"),
        "snare": (
            "sn_",
            "drum_snare",
            "elec_filt_snare",
            "elec_hi_snare",
            "elec_lo_snare",
            "elec_mid_snare",
            "elec_snare",
        ),
        "cymbal": ("drum_cymbal", "drum_splash", "elec_cymbal"),
        "tabla": ("tabla_",),
        "ambient": ("ambi_",),
        "bass": ("bass_",),
        "loop": ("loop_",),
    }
)
SAMPLE_SPLIT_FRACTIONS = {"test": 0.3, "validation": 0.15}  # of each family's sources, at least one each
SAMPLE_CLIPS_PER_FAMILY = {"train": 96, "validation": 24, "test": 45}
MAX_RENDER_ATTEMPTS = 5
SOUNDING_RMS = 1e-6  # a 0.3 s probe note at or below this RMS means the preset has no sample for that key


@dataclass(frozen=True)
class RecordedTask:
    """One task of the recordings corpus: what it asks, its class names and what a source is."""

    description: str
    label_names: tuple[str, ...]
    source_kind: str

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


RECORDED_TASKS = MappingProxyType(
    {
        "instrument_real": RecordedTask(
            description=(
                "General MIDI instrument family of 1-3 notes played by a preset of the MuseScore General SoundFont "
                "(recorded samples); test and validation presets share no sample with training presets."
            ),
            label_names=tuple(family.name for family in _INSTRUMENT_FAMILIES),
            source_kind="group of presets sharing samples",
        ),
        "sample_family": RecordedTask(
            description=(
                "Family of a Sonic Pi sample (kick, snare, cymbal, tabla, ambient, bass, loop): 1-3 hits of a one-shot "
                "or a window of a longer sample; test and validation sounds are never heard in training."
            ),
            label_names=tuple(SAMPLE_FAMILIES),
            source_kind="sample name without its take number",
        ),
    }
)
_TASK_IDS = {"instrument_real": 11, "sample_family": 12, "pool": 13}  # fixed: part of every random seed


def require_packages() -> None:
    """Raise a `FileNotFoundError` naming every missing Debian package and the command that installs them."""
    paths = {package: ASTERISK_SOUNDS_DIR / folder for folder, package, _ in ASTERISK_VOICES.values()}
    paths |= {MUSESCORE_PACKAGE: MUSESCORE_SOUNDFONT, SONIC_PI_PACKAGE: SONIC_PI_SAMPLES_DIR}
    missing = [package for package, path in paths.items() if not path.exists()]
    if missing:
        listed = ", ".join(f"{package} ({paths[package]})" for package in missing)
        raise FileNotFoundError(
            f"The real-audio corpus reads recordings from Debian packages that are not installed: {listed}. "
            f"Install them with: sudo apt-get install -y {' '.join(missing)} (or run scripts/setup_env.sh)"
        )


def recordings_name(seed: int = 0, clips_per_class: int | None = None) -> str:
    """Name of one build, ``recordings-<version>-<seed>`` (`clips_per_class`: the registry's loader argument, unused)."""
    return f"recordings-{RECORDINGS_VERSION}-{seed}"


def recordings_dir(cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Folder of one built corpus: ``<cache root>/recordings-<version>-<seed>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    return root / recordings_name(seed)


def _rng(seed: int, task: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TASK_IDS[task], *keys])


def _stable_key(text: str) -> int:
    """A 32-bit integer of a name that does not depend on Python's hash seed."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


def read_mono_16k(path: str | os.PathLike) -> np.ndarray:
    """An audio file as a (num_samples,) float32 waveform: channels averaged, resampled to 16 kHz."""
    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate == SAMPLING_RATE or mono.size == 0:
        return mono
    with torch.no_grad():
        return _resampler(rate)(torch.from_numpy(np.ascontiguousarray(mono))).numpy()


def trim_silence(waveform: np.ndarray, below_peak_db: float = TRIM_BELOW_PEAK_DB) -> np.ndarray:
    """(L,) -> (L',): drops leading and trailing 10 ms frames quieter than the loudest frame by `below_peak_db`."""
    frame = SAMPLING_RATE // 100
    num_frames = waveform.shape[0] // frame
    if num_frames == 0:
        return waveform
    energy = np.mean(waveform[: num_frames * frame].reshape(num_frames, frame) ** 2, axis=1)
    loud = np.flatnonzero(energy > energy.max() * 10.0 ** (-below_peak_db / 10.0))
    if loud.size == 0:
        return waveform[:0]
    return waveform[loud[0] * frame : (loud[-1] + 1) * frame]


def _seconds_to_samples(seconds: float) -> int:
    return round(seconds * SAMPLING_RATE)


def cut_into_clips(waveform: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """(L,) sound -> clips of 1-4 s: a short sound is placed at a random offset in a 1-1.5 s clip, a long one is cut
    into consecutive windows of 2-4 s (at most `MAX_WINDOWS_PER_RECORDING`; a remainder under 1 s is dropped)."""
    min_samples, max_samples = _seconds_to_samples(MIN_CLIP_SECONDS), _seconds_to_samples(MAX_CLIP_SECONDS)
    if waveform.shape[0] < min_samples:
        length = int(rng.integers(min_samples, _seconds_to_samples(1.5) + 1))
        offset = int(rng.integers(0, length - waveform.shape[0] + 1))
        clip = np.zeros(length, dtype=np.float32)
        clip[offset : offset + waveform.shape[0]] = waveform
        return [clip]
    if waveform.shape[0] <= max_samples:
        return [waveform.astype(np.float32)]
    clips, start = [], 0
    while len(clips) < MAX_WINDOWS_PER_RECORDING and waveform.shape[0] - start >= min_samples:
        length = int(rng.integers(_seconds_to_samples(2.0), max_samples + 1))
        clips.append(waveform[start : start + length].astype(np.float32))
        start += length
    return clips


def normalise_peak(waveform: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Scales a (L,) waveform so its peak sits at a random level in [-18, -1] dBFS; returns it and that level."""
    peak = float(np.max(np.abs(waveform)))
    if not math.isfinite(peak) or peak <= 0.0:
        raise ValueError(f"cannot normalise a silent or non-finite clip (peak {peak})")
    peak_dbfs = float(rng.uniform(MIN_PEAK_DBFS, MAX_PEAK_DBFS))
    return (waveform * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32), round(peak_dbfs, 3)


@dataclass
class Clip:
    """One clip to write: its waveform, class (None in the pool), split, source and recording it was cut from."""

    waveform: np.ndarray
    label: str | None
    split: str
    source: str
    recording: str


def split_sources(sources: list[str], counts: dict[str, int], rng: np.random.Generator) -> dict[str, str]:
    """Assigns every source to a split: a random permutation, the first `counts["test"]` to test, the next
    `counts["validation"]` to validation, the rest to train. Returns {source: split}."""
    order = [sources[index] for index in rng.permutation(len(sources))]
    num_test, num_validation = counts["test"], counts["validation"]
    if num_test + num_validation >= len(order):
        raise ValueError(f"{len(order)} sources cannot fill {num_test} test, {num_validation} validation and train")
    return {
        source: "test" if rank < num_test else "validation" if rank < num_test + num_validation else "train"
        for rank, source in enumerate(order)
    }


# Task "sample_family": Sonic Pi samples


def sonic_pi_sources() -> dict[str, list[Path]]:
    """{source: its sample files}: the Sonic Pi samples grouped so that takes of one sound are one source (a name
    without its trailing take number, ``_hard`` / ``_soft`` or ``_full``: ``tabla_ghe1``-``8`` are one source)."""
    sources = defaultdict(list)
    for path in sorted(SONIC_PI_SAMPLES_DIR.glob("*.flac")):
        sources[re.sub(r"(_hard|_soft|_full|(?<=[a-z])\d+)$", "", path.stem)].append(path)
    return dict(sources)


def sample_family_of(source: str) -> str | None:
    """The class of a Sonic Pi source (`SAMPLE_FAMILIES`), or None for the sources the task leaves out."""
    return next((family for family, prefixes in SAMPLE_FAMILIES.items() if source.startswith(prefixes)), None)


def _sample_clip(sound: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 1-4 s clip of one sample: a random window of a longer sound, else 1-3 hits at random onsets."""
    length = int(rng.integers(_seconds_to_samples(MIN_CLIP_SECONDS), _seconds_to_samples(MAX_CLIP_SECONDS) + 1))
    if sound.shape[0] >= length:
        start = int(rng.integers(0, sound.shape[0] - length + 1))
        return sound[start : start + length].astype(np.float32)
    clip = np.zeros(length, dtype=np.float32)
    for _ in range(int(rng.integers(1, 4))):
        onset = int(rng.integers(0, length - sound.shape[0] + 1))
        clip[onset : onset + sound.shape[0]] += float(rng.uniform(0.5, 1.0)) * sound
    return clip


def sample_family_clips(seed: int) -> list[Clip]:
    """Clips of the Sonic Pi task: per family and split, `SAMPLE_CLIPS_PER_FAMILY` clips spread evenly over the
    split's sources, each from a random file of its source."""
    sources = sonic_pi_sources()
    sounds = {}
    clips = []
    for label, family in enumerate(SAMPLE_FAMILIES):
        members = sorted(source for source in sources if sample_family_of(source) == family)
        counts = {split: max(1, round(fraction * len(members))) for split, fraction in SAMPLE_SPLIT_FRACTIONS.items()}
        split_of = split_sources(members, counts, _rng(seed, "sample_family", 0, label))
        for split in SPLITS:
            in_split = [source for source in members if split_of[source] == split]
            for index in range(SAMPLE_CLIPS_PER_FAMILY[split]):
                rng = _rng(seed, "sample_family", 1, label, SPLITS.index(split), index)
                source = in_split[index % len(in_split)]
                path = sources[source][int(rng.integers(0, len(sources[source])))]
                if path not in sounds:
                    sounds[path] = trim_silence(read_mono_16k(path))
                clips.append(Clip(_sample_clip(sounds[path], rng), family, split, source, path.name))
    return clips


# Task "instrument_real": MuseScore General presets


def _riff_chunks(handle, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(chunk id, size, data offset) of the chunks from the handle's position up to `end`."""
    while handle.tell() + 8 <= end:
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        start = handle.tell()
        yield chunk_id, size, start
        handle.seek(start + size + (size & 1))


def _soundfont_preset_data(path: Path) -> dict[str, bytes]:
    """The sub-chunks of a SoundFont's ``pdta`` list (preset, instrument and sample headers), by name."""
    with open(path, "rb") as handle:
        riff, size, form = struct.unpack("<4sI4s", handle.read(12))
        if riff != b"RIFF" or form != b"sfbk":
            raise ValueError(f"{path} is not a SoundFont (RIFF sfbk) file")
        for chunk_id, chunk_size, start in _riff_chunks(handle, 8 + size):
            if chunk_id == b"LIST" and handle.read(4) == b"pdta":
                parts = {}
                for sub_id, sub_size, sub_start in _riff_chunks(handle, start + chunk_size):
                    parts[sub_id.decode("ascii")] = handle.read(sub_size)
                    handle.seek(sub_start)
                return parts
    raise ValueError(f"{path} has no pdta list")


# SoundFont 2.04 generator operators: a preset zone's instrument, an instrument zone's sample.
INSTRUMENT_GENERATOR = 41
SAMPLE_ID_GENERATOR = 53


def _generator_values(bags: list[tuple], generators: list[tuple], first_bag: int, end_bag: int, operator: int):
    """Values of one generator (`INSTRUMENT_GENERATOR` or `SAMPLE_ID_GENERATOR`) over the zones [first_bag, end_bag)."""
    for bag in range(first_bag, end_bag):
        for generator in range(bags[bag][0], bags[bag + 1][0]):
            if generators[generator][0] == operator:
                yield generators[generator][1]


def soundfont_preset_samples(path: str | os.PathLike) -> dict[int, frozenset[int]]:
    """{General MIDI program (bank 0): ids of every sample its instruments play} of a SoundFont 2 / 3 file."""
    parts = _soundfont_preset_data(Path(path))
    records = {name: list(struct.iter_unpack("<HH", parts[name])) for name in ("pbag", "pgen", "ibag", "igen")}
    presets = list(struct.iter_unpack("<20sHHHIII", parts["phdr"]))  # name, program, bank, first zone, 3 unused
    instruments = list(struct.iter_unpack("<20sH", parts["inst"]))  # name, first zone
    samples_of_instrument = [
        frozenset(_generator_values(records["ibag"], records["igen"], first[1], following[1], SAMPLE_ID_GENERATOR))
        for first, following in itertools.pairwise(instruments)
    ]
    programs = {}
    for current, following in itertools.pairwise(presets):  # the last header is the terminal one
        if current[2] != 0:
            continue
        used = _generator_values(records["pbag"], records["pgen"], current[3], following[3], INSTRUMENT_GENERATOR)
        programs[current[1]] = frozenset().union(*(samples_of_instrument[index] for index in used))
    return programs


def sample_sharing_groups(programs: list[int], samples: dict[int, frozenset[int]]) -> list[tuple[int, ...]]:
    """Partition of `programs` into groups such that two programs in different groups share no sample (the
    connected components of the "plays a common sample" relation), each group sorted, groups sorted."""
    groups = []  # disjoint (programs, samples) pairs
    for program in sorted(programs):
        merged_programs, merged_samples = {program}, set(samples[program])
        for group in [group for group in groups if group[1] & merged_samples]:
            groups.remove(group)
            merged_programs |= group[0]
            merged_samples |= group[1]
        groups.append((merged_programs, merged_samples))
    return sorted(tuple(sorted(members)) for members, _ in groups)


@functools.cache
def instrument_groups() -> dict[str, list[tuple[int, ...]]]:
    """{family: its sample-sharing groups of recorded General MIDI presets} of the MuseScore General SoundFont."""
    samples = soundfont_preset_samples(MUSESCORE_SOUNDFONT)
    groups = {}
    for family in _INSTRUMENT_FAMILIES:
        programs = [program for program in family.programs if program not in SYNTHETIC_PRESETS and samples[program]]
        groups[family.name] = sample_sharing_groups(programs, samples)
    in_families = Counter(
        sample
        for family in groups.values()
        for sample in set().union(*(samples[program] for group in family for program in group))
    )
    shared = [sample for sample, count in in_families.items() if count > 1]
    if shared:
        raise RuntimeError(f"{MUSESCORE_SOUNDFONT}: families share samples {sorted(shared)[:5]}; splits would leak")
    return groups


def instrument_real_clips(seed: int) -> list[Clip]:
    """Clips of the instrument task: per family and split, `INSTRUMENT_CLIPS_PER_FAMILY` renders spread evenly over
    the split's source groups, each of 1-3 notes (random pitch, velocity, duration) on a random preset of the group."""
    renderer = SoundFontRenderer(MUSESCORE_SOUNDFONT, sounding_rms=SOUNDING_RMS)
    clips = []
    for label, family in enumerate(_INSTRUMENT_FAMILIES):
        groups = instrument_groups()[family.name]
        names = [",".join(map(str, group)) for group in groups]
        split_of = split_sources(names, INSTRUMENT_SPLIT_GROUPS, _rng(seed, "instrument_real", 0, label))
        pitches = {
            program: renderer.sounding_pitches(program, family.pitch_range) for group in groups for program in group
        }
        for split in SPLITS:
            members = [group for group, name in zip(groups, names, strict=True) if split_of[name] == split]
            for index in range(INSTRUMENT_CLIPS_PER_FAMILY[split]):
                group = members[index % len(members)]
                keys = (seed, "instrument_real", 1, label, SPLITS.index(split), index)
                waveform, program = _render_instrument_clip(renderer, group, pitches, keys)
                clips.append(Clip(waveform, family.name, split, ",".join(map(str, group)), f"program {program}"))
    return clips


def _render_instrument_clip(
    renderer: SoundFontRenderer, group: tuple[int, ...], pitches: dict[int, tuple[int, ...]], keys: tuple
) -> tuple[np.ndarray, int]:
    """(num_samples,) render of 1-3 notes on a random preset of `group`, and that preset. A render that comes out
    silent (a key or velocity the preset has no sample for) is drawn again; `keys` seed the generator, with the
    attempt number."""
    for attempt in range(MAX_RENDER_ATTEMPTS):
        rng = _rng(*keys, attempt)
        program = int(rng.choice(group))
        num_samples = int(rng.integers(_seconds_to_samples(2.0), _seconds_to_samples(MAX_CLIP_SECONDS) + 1))
        notes = _draw_notes(rng, pitches[program], num_samples / SAMPLING_RATE)
        waveform = renderer.render(program, notes, num_samples)
        if float(np.max(np.abs(waveform))) > SOUNDING_RMS:
            return waveform, program
    raise RuntimeError(f"presets {group} of {MUSESCORE_SOUNDFONT} rendered silence {MAX_RENDER_ATTEMPTS} times")


# Pre-training pool


def _pool_clips(path: Path, key: tuple[int, int], source: str, recording: str, seed: int) -> list[Clip]:
    """A recording trimmed and cut into 1-4 s pool clips; none when under 0.1 s (Asterisk's silence/*.wav files)."""
    sound = trim_silence(read_mono_16k(path))
    if sound.shape[0] < SAMPLING_RATE // 10:
        return []
    rng = _rng(seed, "pool", *key)
    return [Clip(clip, None, "train", source, recording) for clip in cut_into_clips(sound, rng)]


def speech_pool_clips(seed: int) -> list[Clip]:
    """Every Asterisk prompt of the five voices, trimmed and cut into 1-4 s clips (no task reads them). A prompt's
    source is its path in the voice folder (e.g. ``"digits/7.wav"``), the same in every language."""
    clips = []
    for language, (voice, _, _) in ASTERISK_VOICES.items():
        for path in sorted((ASTERISK_SOUNDS_DIR / voice).rglob("*.wav")):
            name = path.relative_to(ASTERISK_SOUNDS_DIR / voice).as_posix()
            clips += _pool_clips(path, (0, _stable_key(f"{language}/{name}")), name, f"{language}/{name}", seed)
    return clips


def unlabelled_sample_clips(seed: int) -> list[Clip]:
    """The Sonic Pi samples of no `SAMPLE_FAMILIES` family, cut into 1-4 s clips."""
    return [
        clip
        for source, paths in sonic_pi_sources().items()
        if sample_family_of(source) is None
        for path in paths
        for clip in _pool_clips(path, (1, _stable_key(path.name)), source, path.name, seed)
    ]


# Building


def _write_clips(folder: Path, task: str, clips: list[Clip], seed: int) -> dict:
    """Writes the clips of one task as 16-bit WAV under ``folder/<split>/`` plus a ``metadata.jsonl`` per split."""
    rows = defaultdict(list)
    for index, clip in enumerate(clips):
        rng = _rng(seed, task, 3, index)
        waveform, peak_dbfs = normalise_peak(clip.waveform, rng)
        stem = clip.label if clip.label is not None else "clip"
        file_name = f"{stem}_{index:05d}.wav"
        (folder / clip.split).mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / clip.split / file_name, waveform, SAMPLING_RATE, subtype="PCM_16", format="WAV")
        rows[clip.split].append(
            {
                "file_name": file_name,
                "label": clip.label,
                "source": clip.source,
                "recording": clip.recording,
                "num_samples": int(waveform.shape[0]),
                "peak_dbfs": peak_dbfs,
            }
        )
    for split, split_rows in rows.items():
        with open(folder / split / "metadata.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in split_rows)
    return {
        "num_clips": {split: len(rows[split]) for split in SPLITS if split in rows},
        "num_sources": {split: len({row["source"] for row in rows[split]}) for split in SPLITS if split in rows},
    }


def _link_files(paths: list[Path], source: Path, folder: Path) -> None:
    """Hard-links (or, across file systems, copies) each file under ``source`` to the same place under ``folder``."""
    for path in paths:
        link = folder / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, link)
        except OSError:
            shutil.copyfile(path, link)


def _link_pool(folder: Path, task_folders: dict[str, Path]) -> int:
    """Links every train clip of the tasks into ``folder/<task>/``; returns how many."""
    train_clips = {task: sorted((task_folder / "train").glob("*.wav")) for task, task_folder in task_folders.items()}
    for task, paths in train_clips.items():
        _link_files(paths, task_folders[task] / "train", folder / task)
    return sum(len(paths) for paths in train_clips.values())


def _installed_versions() -> dict[str, str]:
    """{package: version} of the packages read, from ``dpkg-query`` (empty where dpkg is absent)."""
    if shutil.which("dpkg-query") is None:
        return {}
    command = ["dpkg-query", "--show", "--showformat=${Package} ${Version}\n", *ALL_PACKAGES]
    listed = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    return dict(line.split(" ", 1) for line in listed.splitlines())


def _write_manifest(folder: Path, seed: int, summaries: dict) -> None:
    manifest = {
        "version": RECORDINGS_VERSION,
        "seed": seed,
        "sampling_rate": SAMPLING_RATE,
        "clip_seconds": [MIN_CLIP_SECONDS, MAX_CLIP_SECONDS],
        "tasks": {
            task: {
                "label_names": list(RECORDED_TASKS[task].label_names),
                "source_kind": RECORDED_TASKS[task].source_kind,
                **summaries[task],
            }
            for task in RECORDED_TASKS
        },
        "pool": summaries["pool"],
        "packages": {
            package: {"version": version, "license": LICENSES[package]}
            for package, version in sorted(_installed_versions().items())
        },
    }
    (folder / "recordings.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def build_recordings_corpus(cache_dir: str | os.PathLike | None = None, seed: int = 0, force: bool = False) -> Path:
    """Builds the real-audio corpus once (reused unless ``force``; see `build_atomically`) and returns its folder,
    ``recordings_dir(cache_dir, seed)``.

    Returns:
        `pathlib.Path` of the folder holding ``recordings.json``, one sub-folder per task (``<split>/*.wav`` and
        ``<split>/metadata.jsonl``) and ``pool/`` (unlabelled pre-training audio).
    """
    target = recordings_dir(cache_dir, seed)
    if reuse_complete_build(target, "recordings.json", "real-audio corpus", force):
        return target
    require_packages()

    def build(folder: Path) -> None:
        task_clips = {"instrument_real": instrument_real_clips, "sample_family": sample_family_clips}
        summaries = {task: _write_clips(folder / task, task, clips(seed), seed) for task, clips in task_clips.items()}
        speech = _write_clips(folder / "pool" / "speech", "pool", speech_pool_clips(seed), seed)
        samples = _write_clips(folder / "pool" / "samples", "pool", unlabelled_sample_clips(seed), seed)
        summaries["pool"] = {
            "num_task_train_clips": _link_pool(folder / "pool", {task: folder / task for task in RECORDED_TASKS}),
            "num_speech_clips": speech["num_clips"]["train"],
            "num_other_sample_clips": samples["num_clips"]["train"],
        }
        _write_manifest(folder, seed, summaries)

    build_atomically(target, "recordings.json", "real-audio corpus", force, build)
    return target


# Loading


read_recorded_metadata = read_task_metadata  # rows: file name, label, source, recording, length, level


def load_recorded_task(
    name: str, cache_dir: str | os.PathLike | None = None, seed: int = 0, clips_per_class: int | None = None
) -> datasets.DatasetDict:
    """Loads one task of the real-audio corpus like a Hub audio-classification dataset, building it if needed.

    ``clips_per_class`` must be None (the recordings fix the size; the argument exists for the registry's loaders).

    Returns:
        `datasets.DatasetDict` with source-disjoint splits ``train`` / ``validation`` / ``test``, columns ``"audio"``
        (`datasets.Audio`, 16 kHz; 16000-64000 samples) and ``"label"`` (`datasets.ClassLabel`).
    """
    if name not in RECORDED_TASKS:
        raise ValueError(f"Unknown real-audio task {name!r}; choose one of {sorted(RECORDED_TASKS)}")
    if clips_per_class is not None:
        raise ValueError(
            f"The real-audio task {name!r} has a fixed size set by its recordings; clips_per_class={clips_per_class} "
            "cannot be honoured (leave it unset)"
        )
    folder = build_recordings_corpus(cache_dir, seed=seed)
    label_names = RECORDED_TASKS[name].label_names
    return datasets.DatasetDict({split: split_dataset(folder, name, split, label_names) for split in SPLITS})


def recorded_pretraining_pool(
    cache_dir: str | os.PathLike | None = None, seed: int = 0, speech_clips: int | None = None
) -> Path:
    """The unlabelled pre-training pool, built if needed: a folder of 16 kHz WAV files (the train clips of every task,
    the Asterisk prompts, the Sonic Pi samples of no task family; no validation or test recording of any task), usable
    as ``examples/pretrain.py --dataset <folder>``.

    Args:
        speech_clips: keep only this many of the spoken-prompt clips (a draw fixed by ``seed``) instead of all of
            them, which make up 70 % of the full pool. The capped pool is the folder ``<corpus>-pool-speech<k>`` of
            hard links (or copies), with the same music, and ``pool.json`` listing what it holds.
    """
    pool = build_recordings_corpus(cache_dir, seed=seed) / "pool"
    if speech_clips is None:
        return pool
    speech = sorted((pool / "speech").rglob("*.wav"))
    if not 0 <= speech_clips <= len(speech):
        raise ValueError(f"speech_clips={speech_clips} is outside [0, {len(speech)}], the spoken clips in {pool}")
    target = pool.parent.with_name(f"{pool.parent.name}-pool-speech{speech_clips}")  # outside the corpus folder
    if reuse_complete_build(target, POOL_MANIFEST, "capped pre-training pool", force=False):
        return target
    kept = np.random.default_rng([seed, _TASK_IDS["pool"], speech_clips]).choice(len(speech), speech_clips, False)

    def build(folder: Path) -> None:
        parts = {p.name: sorted(p.rglob("*.wav")) for p in sorted(pool.iterdir()) if p.is_dir() and p.name != "speech"}
        parts["speech"] = [speech[index] for index in sorted(kept)]
        for paths in parts.values():
            _link_files(paths, pool, folder)
        counts = {name: len(paths) for name, paths in parts.items()}
        (folder / POOL_MANIFEST).write_text(json.dumps({"seed": seed, "num_clips": counts}, indent=2) + "\n")

    build_atomically(target, POOL_MANIFEST, "capped pre-training pool", False, build)
    return target


__all__ = [
    "RECORDED_TASKS",
    "RECORDINGS_VERSION",
    "RecordedTask",
    "build_recordings_corpus",
    "load_recorded_task",
    "read_recorded_metadata",
    "recorded_pretraining_pool",
    "recordings_dir",
    "recordings_name",
    "require_packages",
    "sample_sharing_groups",
    "soundfont_preset_samples",
]
