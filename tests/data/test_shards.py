# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Preparing a corpus into 16 kHz mono FLAC shards: counts, resumption, and training straight from the shards."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from audio_files import stereo_tone, tone, write_audioset_like_flac
from example_scripts import example_path

from transformers_aasp import AaSPFeatureExtractor
from transformers_aasp.audio import decode_audio, load_mono_waveform
from transformers_aasp.data.pretraining import build_pretraining_dataloader
from transformers_aasp.data.shards import prepare_pretraining_shards
from transformers_aasp.data.sources import load_audio_records


SCRIPT = example_path("prepare_pretraining_data")


@pytest.fixture
def raw_folder(tmp_path) -> Path:
    folder = tmp_path / "raw"
    write_audioset_like_flac(folder / "a_audioset_like.flac", seconds=2.0)
    soundfile.write(folder / "b_cd.wav", stereo_tone(1.5, 44100), 44100)
    soundfile.write(folder / "c_mono.wav", tone(1.0, seed=3), 16000)
    (folder / "d_corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    soundfile.write(folder / "e_mono.flac", tone(1.2, seed=4), 16000)
    return folder


def test_prepared_shards_hold_16khz_mono_clips_and_count_the_corrupt_file(tmp_path, raw_folder):
    summary = prepare_pretraining_shards(str(raw_folder), tmp_path / "shards", clips_per_shard=2)
    assert (summary["num_source_clips"], summary["num_clips"], summary["num_skipped"]) == (5, 4, 1)
    assert summary["num_shards"] == summary["num_prepared_shards"] == 3
    assert "d_corrupt.wav" in summary["errors"][0]["source"] and "cannot decode" in summary["errors"][0]["error"]
    assert json.loads((tmp_path / "shards" / "prepare_summary.json").read_text()) == summary

    records = load_audio_records(str(tmp_path / "shards"))  # recognised as a prepared folder
    assert len(records) == 4 and records.column_names == ["audio"]
    originals = [raw_folder / name for name in ("a_audioset_like.flac", "b_cd.wav", "c_mono.wav", "e_mono.flac")]
    for row, original in zip(records, originals, strict=True):
        waveform, rate = decode_audio(row["audio"])
        assert rate == 16000 and waveform.shape[0] == 1  # stored as 16 kHz mono
        # 16-bit storage: each sample within half an int16 step (plus float rounding) of the float waveform
        np.testing.assert_allclose(waveform[0], load_mono_waveform(str(original)), rtol=0, atol=0.6 / 32768)


def test_rerun_skips_finished_shards_and_refuses_other_settings(tmp_path, raw_folder):
    output = tmp_path / "shards"
    prepare_pretraining_shards(str(raw_folder), output, clips_per_shard=2)
    first = output / "shard-00000-of-00003"
    stamp = (first / "shard_stats.json").stat().st_mtime_ns
    import shutil

    shutil.rmtree(output / "shard-00002-of-00003")  # as if killed before the last shard finished
    (output / "shard-00001-of-00003.tmp").mkdir()  # and a leftover partial shard
    summary = prepare_pretraining_shards(str(raw_folder), output, clips_per_shard=2)
    assert (summary["num_clips"], summary["num_skipped"], summary["num_prepared_shards"]) == (4, 1, 3)
    assert (first / "shard_stats.json").stat().st_mtime_ns == stamp  # not rewritten
    with pytest.raises(ValueError, match="prepared with other settings"):
        prepare_pretraining_shards(str(raw_folder), output, clips_per_shard=1)


@pytest.mark.parametrize("streaming", [False, True])
def test_training_batches_come_straight_from_the_shards(tmp_path, raw_folder, streaming):
    output = tmp_path / "shards"
    prepare_pretraining_shards(str(raw_folder), output, clips_per_shard=2)
    records = load_audio_records(str(output), streaming=streaming)
    loader = build_pretraining_dataloader(
        records, AaSPFeatureExtractor(), batch_size=2, crop_frames=64, return_waveforms=True, shuffle_buffer_size=1
    )
    for batch in itertools.islice(loader, 3):
        assert batch["waveforms"].shape == (2, 63 * 160) and batch["num_skipped"] == 0


class CountingRecords:
    """A map-style corpus that counts the records read (each one is decoded)."""

    def __init__(self, records):
        self.records, self.reads = records, 0

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        self.reads += 1
        return self.records[index]


def test_prepared_shards_resume_on_two_processes_at_a_clip_without_decoding_the_clips_before(tmp_path, raw_folder):
    prepare_pretraining_shards(str(raw_folder), tmp_path / "shards", clips_per_shard=2)
    records = load_audio_records(str(tmp_path / "shards"))
    options = dict(batch_size=1, crop_frames=64, return_waveforms=True, seed=5)
    uninterrupted = [
        batch["waveforms"]
        for batch in itertools.islice(build_pretraining_dataloader(records, AaSPFeatureExtractor(), **options), 6)
    ]
    # 3 clips consumed (by any number of processes): process r of 2 reads positions 3 + r, 5 + r, ...
    for rank in range(2):
        counting = CountingRecords(records)
        resumed = build_pretraining_dataloader(
            counting, AaSPFeatureExtractor(), rank=rank, world_size=2, start_position=3, **options
        )
        batch = next(iter(resumed))
        assert torch.equal(batch["waveforms"], uninterrupted[3 + rank])  # the same clip and the same crop
        assert counting.reads == 1  # nothing before position 3 was decoded


@pytest.mark.integration
def test_script_prepares_with_several_processes(tmp_path, raw_folder):
    output = tmp_path / "shards"
    command = [sys.executable, str(SCRIPT), "--dataset", str(raw_folder), "--output_dir", str(output)]
    result = subprocess.run([*command, "--num_proc", "2"], capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "num_clips": 4,
        "num_skipped": 1,
        "num_prepared_shards": 1,
    }
    assert "Skipping" in result.stderr and "d_corrupt.wav" in result.stderr
