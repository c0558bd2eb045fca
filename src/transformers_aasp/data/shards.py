# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Turn a Hub dataset or an audio folder into compact pre-training shards (16 kHz mono FLAC), once.

Decoding AudioSet's 48 kHz 24-bit stereo FLAC and resampling it costs a CPU core about 20 ms per 10 s clip, at every
epoch. Preparing the corpus once moves that cost out of training: each clip is decoded, mixed to mono, resampled to
16 kHz and stored as 16-bit mono FLAC bytes in an `Audio` column of Arrow shards written by `datasets`
(`output_dir/shard-00000-of-00042/`, `save_to_disk` format). Training then reads a 16 kHz file whose crop it can seek
to (`audio.decode_random_crop`): no resampling, and only ~6 s of the 10 s decoded.

Each shard is encoded with `datasets.Dataset.map(num_proc=...)`, written to `<name>.tmp` and renamed when complete (a
re-run skips finished shards). A clip that cannot be decoded is skipped, counted and logged; the counts and a few
errors go to `output_dir/prepare_summary.json`, by which `data.sources.load_audio_records` recognises the folder.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import soundfile
import torch
from transformers.utils import logging

from ..audio import SAMPLING_RATE, ClipDecodeError, describe_record, load_mono_waveform
from .sources import SHARD_PREFIX, SHARD_STATS_FILE, SUMMARY_FILE, load_audio_records, prepared_shard_dirs


logger = logging.get_logger(__name__)

MAX_ERROR_EXAMPLES = 20
STORAGE_FORMAT = "flac-pcm16-mono"


def encode_flac(waveform: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> bytes:
    """(samples,) float32 in [-1, 1] -> 16-bit mono FLAC bytes (samples beyond +-1 are clipped by libsndfile)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, sampling_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


class ClipEncoder:
    """`datasets.map` function (batched): source records -> 16 kHz mono FLAC items, or an error string."""

    def __init__(self, audio_column: str, sampling_rate: int, min_samples: int):
        self.audio_column = audio_column
        self.sampling_rate = sampling_rate
        self.min_samples = min_samples
        self.parent_pid = os.getpid()

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if os.getpid() != self.parent_pid:
            # Parallelism comes from processes. One intra-op thread also keeps a forked worker out of the OpenMP
            # pool it inherited from its parent (libgomp is not fork-safe: the first parallel region would hang).
            torch.set_num_threads(1)
        audio, sources, errors = [], [], []
        for record in batch[self.audio_column]:
            source = describe_record(record).strip("'")
            try:
                waveform = load_mono_waveform(record, self.sampling_rate, self.min_samples)
                audio.append({"bytes": encode_flac(waveform, self.sampling_rate), "path": None})
                errors.append(None)
            except ClipDecodeError as error:
                audio.append(None)
                errors.append(str(error))
            sources.append(source)
        return {"audio": audio, "source": sources, "error": errors}


def _source_dataset(records, audio_column: str):
    """A map-style `datasets.Dataset` with the undecoded audio in `audio_column` (file lists become one)."""
    if isinstance(records, list):
        return datasets.Dataset.from_dict({audio_column: [{"bytes": None, "path": path} for path in records]})
    if not isinstance(records, datasets.Dataset):
        raise ValueError("Preparation needs a map-style source (streaming=False), to split it into shards.")
    return records


def prepare_pretraining_shards(
    source: str,
    output_dir: str | os.PathLike,
    *,
    num_proc: int = 1,
    clips_per_shard: int = 2000,
    source_type: str = "auto",
    config_name: str | None = None,
    split: str = "train",
    audio_column: str = "audio",
    sampling_rate: int = SAMPLING_RATE,
    min_clip_seconds: float = 0.1,
) -> dict[str, Any]:
    """Write `source` (a Hub dataset id, a local dataset folder or an audio folder) as 16 kHz mono FLAC shards.

    Args:
        source / source_type / config_name / split / audio_column: as `data.sources.load_audio_records`.
        output_dir: where the shards and `prepare_summary.json` go. Finished shards already there are kept.
        num_proc: processes encoding each shard (`datasets.Dataset.map(num_proc=...)`).
        clips_per_shard: source clips per shard (the unit of resumption).
        min_clip_seconds: shorter clips are skipped and counted.

    Returns:
        The summary written to `output_dir/prepare_summary.json`: `num_clips`, `num_skipped`, per-shard counts and
        the first errors.
    """
    if num_proc < 1 or clips_per_shard < 1:
        raise ValueError(f"num_proc and clips_per_shard must be >= 1, got {num_proc} and {clips_per_shard}.")
    records = load_audio_records(
        source, source_type=source_type, config_name=config_name, split=split, audio_column=audio_column
    )
    dataset = _source_dataset(records, audio_column)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    num_shards = max(1, math.ceil(len(dataset) / clips_per_shard))
    settings = {
        "source": str(source),
        "split": split,
        "sampling_rate": sampling_rate,
        "format": STORAGE_FORMAT,
        "min_clip_seconds": min_clip_seconds,
        "num_source_clips": len(dataset),
        "num_shards": num_shards,
    }
    _check_same_settings(output_dir, settings)
    encoder = ClipEncoder(audio_column, sampling_rate, max(1, math.ceil(min_clip_seconds * sampling_rate)))
    for index in range(num_shards):
        name = f"{SHARD_PREFIX}{index:05d}-of-{num_shards:05d}"
        if (output_dir / name / SHARD_STATS_FILE).is_file():
            logger.info(f"Shard {name} is already prepared; skipping it.")
            continue
        shard = dataset.shard(num_shards=num_shards, index=index, contiguous=True)
        _write_shard(shard, encoder, output_dir / name, num_proc, sampling_rate)
        _write_summary(output_dir, settings)
    return _write_summary(output_dir, settings)


def _write_shard(shard, encoder: ClipEncoder, path: Path, num_proc: int, sampling_rate: int) -> None:
    """Encode one shard into `<path>.tmp`, keep the decodable clips, then rename to `path` (atomic completion)."""
    started = time.perf_counter()
    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=sampling_rate),
            "source": datasets.Value("string"),
            "error": datasets.Value("string"),
        }
    )
    encoded = shard.map(
        encoder,
        batched=True,
        batch_size=16,
        num_proc=min(num_proc, len(shard)) if num_proc > 1 and len(shard) > 1 else None,
        remove_columns=shard.column_names,
        features=features,
        desc=f"preparing {path.name}",
    )
    errors = [(source, error) for source, error in zip(encoded["source"], encoded["error"], strict=True) if error]
    for source, error in errors[:MAX_ERROR_EXAMPLES]:
        logger.warning(f"Skipping {source}: {error}")
    kept = encoded.filter(_is_decoded, input_columns="error").remove_columns("error")
    temporary = path.with_name(path.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    kept.save_to_disk(str(temporary))
    stats = {
        "num_clips": len(kept),
        "num_skipped": len(errors),
        "seconds": round(time.perf_counter() - started, 3),
        "errors": [{"source": source, "error": error} for source, error in errors[:MAX_ERROR_EXAMPLES]],
    }
    (temporary / SHARD_STATS_FILE).write_text(json.dumps(stats, indent=2))
    os.replace(temporary, path)
    logger.info(f"Shard {path.name}: {stats['num_clips']} clips, {stats['num_skipped']} skipped.")


def _is_decoded(error: str | None) -> bool:
    return error is None


def _check_same_settings(output_dir: Path, settings: dict) -> None:
    """Refuse to mix shards of another source or layout into an existing folder."""
    summary_path = output_dir / SUMMARY_FILE
    if not summary_path.is_file():
        return
    previous = json.loads(summary_path.read_text())
    changed = {key: (previous.get(key), value) for key, value in settings.items() if previous.get(key) != value}
    if changed:
        raise ValueError(
            f"{str(output_dir)!r} holds shards prepared with other settings {changed} (previous, now); use another "
            "output_dir or delete it."
        )


def _write_summary(output_dir: Path, settings: dict) -> dict[str, Any]:
    shards = {path.name: json.loads((path / SHARD_STATS_FILE).read_text()) for path in prepared_shard_dirs(output_dir)}
    summary = {
        **settings,
        "num_prepared_shards": len(shards),
        "num_clips": sum(stats["num_clips"] for stats in shards.values()),
        "num_skipped": sum(stats["num_skipped"] for stats in shards.values()),
        "shards": {
            name: {key: stats[key] for key in ("num_clips", "num_skipped", "seconds")}
            for name, stats in shards.items()
        },
        "errors": [error for stats in shards.values() for error in stats["errors"]][:MAX_ERROR_EXAMPLES],
    }
    temporary = output_dir / (SUMMARY_FILE + ".tmp")
    temporary.write_text(json.dumps(summary, indent=2))
    os.replace(temporary, output_dir / SUMMARY_FILE)
    return summary


@dataclass
class PrepareArguments:
    """Options of `examples/prepare_pretraining_data.py`."""

    dataset: str = field(
        metadata={"help": "Hub dataset id, local dataset folder (Hub layout) or folder of audio files."}
    )
    output_dir: str = field(metadata={"help": "Where the shards and prepare_summary.json are written."})
    num_proc: int = field(default=1, metadata={"help": "Processes encoding each shard (datasets.map num_proc)."})
    clips_per_shard: int = field(default=2000, metadata={"help": "Source clips per shard (the unit of resumption)."})
    # the same names as examples/pretrain.py's data options
    dataset_type: str = field(default="auto", metadata={"help": "auto, folder, audiofolder or hub."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_split: str = field(default="train", metadata={"help": "Split to prepare."})
    audio_column: str = field(default="audio", metadata={"help": "Column holding the audio."})
    min_clip_seconds: float = field(default=0.1, metadata={"help": "Shorter clips are skipped and counted."})


def prepare_from_arguments(args: PrepareArguments) -> dict[str, Any]:
    """`prepare_pretraining_shards` with the script's options."""
    return prepare_pretraining_shards(
        args.dataset,
        args.output_dir,
        num_proc=args.num_proc,
        clips_per_shard=args.clips_per_shard,
        source_type=args.dataset_type,
        config_name=args.dataset_config_name,
        split=args.dataset_split,
        audio_column=args.audio_column,
        min_clip_seconds=args.min_clip_seconds,
    )
