#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-training data pipeline throughput: clips/s per CPU core, and the cores one GPU needs.

    python -m bench.data_pipeline                       # CPU: all configurations, one thread
    python -m bench.data_pipeline --device cuda         # also the log-mel batch on the GPU (clips/s)

Inputs are generated locally: `--num_files` clips of 10 s in the raw AudioSet format (48 kHz, 24-bit stereo FLAC,
what `agkphysics/AudioSet` stores), and the same clips prepared by `transformers_aasp.data.shards` (16 kHz mono
16-bit FLAC shards). One core = one thread (`torch.set_num_threads(1)`, `num_workers=0`: the process is the worker).
Configurations, alternated batch by batch in one process:

- `raw_full_decode`: the previous path (decode 10 s, mix, resample, crop, log-mel in the worker);
- `raw` / `shards`: crop drawn from the header and only that window decoded, log-mel in the worker;
- `raw_waveforms` / `shards_waveforms`: workers only decode and crop (`return_waveforms=True`); the log-mel batch is
  computed by the training step on its device, timed separately here (`extractor_batch`, on `--device`).

Projection: cores per GPU = projected GPU clips/s (`--gpu_clips_per_s`, default 1,400: the base recipe's
projection for an H100 at 35 % MFU, 242.6 GFLOP per clip per step) / worker clips/s per core. Writes
bench/results/data_pipeline[_cuda].json.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from bench.common import load_average, synchronize, write_results


TODAY_RAW_CLIPS_PER_CORE = 47.0  # issue 12: the previous ClipFeaturizer on an idle core, raw AudioSet-like FLAC
GPU_CLIPS_PER_S = 1400.0  # the base recipe on an H100 at an assumed 35 % MFU (989 TFLOP/s x 0.35 / 242.6 GFLOP)
TARGET_SPEEDUP = 4.0
TARGET_CORES_PER_GPU = 8.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_files", type=int, default=24, help="Raw 10 s clips generated.")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6, help="Batches per configuration (alternated).")
    parser.add_argument("--crop_frames", type=int, default=608)
    parser.add_argument("--device", default="cpu", help="Where the extractor_batch measurement runs.")
    parser.add_argument("--gpu_clips_per_s", type=float, default=GPU_CLIPS_PER_S)
    parser.add_argument("--workdir", default=None, help="Keep generated files here (default: a temporary folder).")
    return parser.parse_args(argv)


def write_audioset_like_files(folder: Path, count: int, seconds: float = 10.0, rate: int = 48000) -> Path:
    """`count` 24-bit stereo FLAC files at 48 kHz: two tones with noise, a different one per file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    for index in range(count):
        channels = [
            0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) + 0.05 * rng.standard_normal(t.size) for _ in range(2)
        ]
        soundfile.write(folder / f"clip{index:04d}.flac", np.stack(channels, axis=1), rate, subtype="PCM_24")
    return folder


def full_decode_batches(records, feature_extractor, crop_frames: int, batch_size: int):
    """The previous worker path, batch by batch: decode the whole clip, then crop, then the log-mel."""
    from transformers_aasp.audio import crop_num_samples, load_mono_waveform, random_crop
    from transformers_aasp.data.pretraining import clip_features

    crop_samples = crop_num_samples(crop_frames, feature_extractor.hop_length)
    for batch in itertools.count():
        examples = []
        for position in range(batch * batch_size, (batch + 1) * batch_size):
            generator = np.random.default_rng([0, position])
            waveform = random_crop(load_mono_waveform(records[position % len(records)]), crop_samples, generator)
            examples.append(clip_features(waveform, feature_extractor, crop_frames))
        yield examples


def alternated_seconds_per_clip(sides: dict, rounds: int, batch_size: int) -> dict[str, list[float]]:
    """Seconds per clip of each side, one batch per side per round, the side order rotating every round."""
    iterators = {name: iter(factory()) for name, factory in sides.items()}
    for iterator in iterators.values():
        next(iterator)  # warm-up: imports, caches, first worker set-up
    times = {name: [] for name in sides}
    names = list(sides)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            next(iterators[name])
            times[name].append((time.perf_counter() - start) / batch_size)
    return times


def extractor_batch_seconds(feature_extractor, batch, crop_frames: int, device: str, repeats: int) -> list[float]:
    """Seconds per call of `features_from_waveform_batch` on `device` (what the training step adds)."""
    from transformers_aasp.data.pretraining import features_from_waveform_batch

    target = None if device == "cpu" else device
    features_from_waveform_batch(batch, feature_extractor, crop_frames, device=target)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        features_from_waveform_batch(batch, feature_extractor, crop_frames, device=target)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    from transformers_aasp import AaSPFeatureExtractor
    from transformers_aasp.data.pretraining import build_pretraining_dataloader
    from transformers_aasp.data.shards import prepare_pretraining_shards
    from transformers_aasp.data.sources import list_audio_files, load_audio_records

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="aasp_data_pipeline_"))
    raw_dir = workdir / "raw"
    if not raw_dir.is_dir():
        write_audioset_like_files(raw_dir, args.num_files)
    fresh = not (workdir / "shards").exists()
    started = time.perf_counter()
    summary = prepare_pretraining_shards(str(raw_dir), workdir / "shards", num_proc=1)
    preparation_s = time.perf_counter() - started
    preparation = {"seconds": preparation_s, "clips_per_s_per_core": summary["num_clips"] / preparation_s}
    raw_records = list_audio_files(raw_dir)
    shard_records = load_audio_records(str(workdir / "shards"))
    fe = AaSPFeatureExtractor()
    options = dict(batch_size=args.batch_size, crop_frames=args.crop_frames, seed=0, num_workers=0)

    def loader(records, waveforms: bool):
        return lambda: build_pretraining_dataloader(records, fe, return_waveforms=waveforms, **options)

    sides = {
        "raw_full_decode": lambda: full_decode_batches(raw_records, fe, args.crop_frames, args.batch_size),
        "raw": loader(raw_records, False),
        "raw_waveforms": loader(raw_records, True),
        "shards": loader(shard_records, False),
        "shards_waveforms": loader(shard_records, True),
    }
    times = alternated_seconds_per_clip(sides, args.rounds, args.batch_size)
    waveform_batch = next(iter(build_pretraining_dataloader(shard_records, fe, return_waveforms=True, **options)))
    extractor_times = extractor_batch_seconds(fe, waveform_batch, args.crop_frames, args.device, args.rounds)

    results = {}
    for name, values in times.items():
        per_core = 1.0 / statistics.median(values)
        results[name] = {
            "ms_per_clip": 1e3 * statistics.median(values),
            "clips_per_s_per_core": per_core,
            "cores_per_gpu": args.gpu_clips_per_s / per_core,
        }
    extractor_s = statistics.median(extractor_times)
    extractor = {
        "device": args.device,
        "ms_per_batch": 1e3 * extractor_s,
        "batch_size": args.batch_size,
        "clips_per_s": args.batch_size / extractor_s,
    }
    if args.device == "cpu":  # on a CPU the "device" is a core too: what a core costs per clip with both halves
        for name in ("raw_waveforms", "shards_waveforms"):
            total = results[name]["ms_per_clip"] / 1e3 + extractor_s / args.batch_size
            results[name]["with_cpu_extractor_clips_per_s_per_core"] = 1.0 / total
    payload = {
        "num_files": args.num_files,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "crop_frames": args.crop_frames,
        "threads": torch.get_num_threads(),
        "load_avg": load_average(),
        "preparation": preparation if fresh else None,  # a re-used --workdir skips the (resumable) preparation
        "gpu_clips_per_s_projected": args.gpu_clips_per_s,
        "configurations": results,
        "extractor_batch": extractor,
        "speedup_shards_waveforms_over_today": results["shards_waveforms"]["clips_per_s_per_core"]
        / TODAY_RAW_CLIPS_PER_CORE,
        "speedup_shards_over_raw_full_decode_same_run": results["shards"]["clips_per_s_per_core"]
        / results["raw_full_decode"]["clips_per_s_per_core"],
        "speedup_shards_waveforms_over_raw_full_decode_same_run": results["shards_waveforms"]["clips_per_s_per_core"]
        / results["raw_full_decode"]["clips_per_s_per_core"],
        "targets": {"speedup_over_today": TARGET_SPEEDUP, "cores_per_gpu": TARGET_CORES_PER_GPU},
        "seconds_per_clip": times,
    }
    for name, values in results.items():
        extra = values.get("with_cpu_extractor_clips_per_s_per_core")
        extra = f" ({extra:.0f} clips/s per core with the extractor on the same core)" if extra else ""
        print(
            f"{name:18s} {values['ms_per_clip']:6.2f} ms/clip  {values['clips_per_s_per_core']:7.1f} clips/s per core  "
            f"{values['cores_per_gpu']:5.1f} cores per GPU at {args.gpu_clips_per_s:.0f} clips/s{extra}"
        )
    print(
        f"extractor batch on {args.device}: {extractor['ms_per_batch']:.2f} ms per {args.batch_size} clips, "
        f"{extractor['clips_per_s']:.0f} clips/s"
    )
    if fresh:
        print(f"preparation: {preparation['clips_per_s_per_core']:.1f} clips/s on one process (one-off, per clip)")
    print(
        "same run, shards vs raw full decode: "
        f"{payload['speedup_shards_over_raw_full_decode_same_run']:.1f}x (worker features), "
        f"{payload['speedup_shards_waveforms_over_raw_full_decode_same_run']:.1f}x (device features)"
    )
    suffix = "" if args.device == "cpu" else f"_{torch.device(args.device).type}"
    print(f"wrote {write_results('data_pipeline' + suffix, payload)}")
    return payload


if __name__ == "__main__":
    main()
