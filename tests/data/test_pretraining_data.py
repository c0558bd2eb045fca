# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The pre-training data module: decoding, cropping, sampling order and skipping of unusable clips."""

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from audio_files import BAD_FILE_ERRORS, tone, write_audioset_like_flac, write_bad_files, write_good_corpus

from transformers_aasp import AaSPConfig
from transformers_aasp.audio import ClipDecodeError, decode_audio, prepare_waveform
from transformers_aasp.data.pretraining import (
    ClipFeaturizer,
    CroppedClipDataset,
    StepBatchSampler,
    build_pretraining_dataloader,
    features_from_waveform_batch,
)
from transformers_aasp.data.sources import list_audio_files, load_audio_records


CROP = 160


def clip_arrays(featurizer, record, generator):
    example = featurizer.example(record, generator)
    return example["input_values"], example["attention_mask"]


def test_crops_have_fixed_shape_and_short_clips_are_padded_with_mask(corpus, feature_extractor):
    featurizer = ClipFeaturizer(feature_extractor, crop_frames=CROP)
    long_clip = tone(3.0)
    values, mask = clip_arrays(featurizer, {"array": long_clip, "sampling_rate": 16000}, np.random.default_rng(0))
    assert values.shape == (CROP, 80) and mask.shape == (CROP,)
    assert int(mask.sum()) == CROP
    short_clip = tone(0.5)  # 8000 samples -> 1 + 8000 // 160 = 51 real frames
    values, mask = clip_arrays(featurizer, {"array": short_clip, "sampling_rate": 16000}, np.random.default_rng(0))
    assert values.shape == (CROP, 80)
    assert mask.tolist() == [1] * 51 + [0] * (CROP - 51)
    assert torch.all(values[51:] == 0)


def test_random_crop_is_a_pure_function_of_seed_and_position(corpus, feature_extractor):
    records = list_audio_files(corpus)
    dataset = CroppedClipDataset(records, ClipFeaturizer(feature_extractor, crop_frames=CROP), seed=3)
    first, again, other = dataset[(7, 5)], dataset[(7, 5)], dataset[(8, 5)]
    assert torch.equal(first["input_values"], again["input_values"])
    assert not torch.equal(first["input_values"], other["input_values"])  # clip 5 is 3 s: other crop offset


def test_each_clips_mask_noise_follows_its_place_in_the_stream_whatever_the_batching(corpus, feature_extractor):
    """With the model's config, batches carry the forward's `noise` (B, M, 2, N): drawn per clip in the workers from
    the clip's crop seed, so one process of batch 4 and two of batch 2 give every clip the same masks, with
    features on the host or on the device."""
    config = AaSPConfig.tiny()
    records = list_audio_files(corpus)

    def first_batch(batch_size, rank=0, world_size=1, **options):
        loader = build_pretraining_dataloader(
            records, feature_extractor, batch_size=batch_size, crop_frames=CROP, seed=5, mask_config=config,
            rank=rank, world_size=world_size, **options,
        )  # fmt: skip
        return next(iter(loader))

    one = first_batch(4, num_workers=1)
    assert one["noise"].shape == (4, config.num_mask_clones, 2, config.patch_grid(CROP).num_patches)
    assert one["noise"].dtype == torch.float32 and one["noise"].min() >= 0 and one["noise"].max() < 1
    assert not torch.equal(one["noise"][0], one["noise"][1])
    two_processes = torch.cat([first_batch(2, rank, 2)["noise"] for rank in range(2)])
    assert torch.equal(two_processes, one["noise"])
    assert torch.equal(first_batch(4, return_waveforms=True)["noise"], one["noise"])
    assert "noise" not in next(iter(build_pretraining_dataloader(records, feature_extractor, batch_size=4)))


def test_sampler_shards_processes_and_restarts_at_any_batch():
    ranks = [StepBatchSampler(10, 3, seed=1, rank=rank, world_size=2) for rank in range(2)]
    positions = [[position for position, _ in ranks[rank].batch(4)] for rank in range(2)]
    assert positions == [[24, 25, 26], [27, 28, 29]]
    fresh = iter(StepBatchSampler(10, 3, seed=1, rank=1, world_size=2))
    for _ in range(5):
        expected = next(fresh)
    assert next(iter(StepBatchSampler(10, 3, seed=1, rank=1, world_size=2, start_batch=4))) == expected
    first_epoch = [index for batch in range(5) for rank in range(2) for _, index in ranks[rank].batch(batch)][:10]
    assert sorted(first_epoch) == list(range(10))  # every clip once per epoch


def test_unusable_clips_raise_clear_errors_and_valid_odd_clips_are_accepted(tmp_path, feature_extractor):
    files = write_bad_files(tmp_path)
    featurizer = ClipFeaturizer(feature_extractor, crop_frames=CROP)
    for name, message in BAD_FILE_ERRORS.items():
        with pytest.raises(ClipDecodeError, match=message):
            featurizer.waveform(str(files[name]))
    silent = featurizer.waveform(str(files["silent"]))
    assert silent.shape == (24000,) and not silent.any()
    values, _ = clip_arrays(featurizer, str(files["silent"]), np.random.default_rng(0))
    assert torch.isfinite(values).all()
    resampled = featurizer.waveform(str(files["cd_rate"]))
    assert resampled.shape == (32000,)  # 2 s at 44.1 kHz stereo -> 2 s mono at 16 kHz


def test_resampling_preserves_a_tone():
    rate = 44100
    waveform = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32)[None]
    out = prepare_waveform(waveform, rate, 16000, min_samples=1)
    spectrum = np.abs(np.fft.rfft(out))
    assert out.shape == (16000,)
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over 1 s


def test_bad_clips_are_replaced_counted_and_logged(tmp_path, feature_extractor, caplog):
    good = write_good_corpus(tmp_path / "good", count=2)
    bad = write_bad_files(tmp_path / "bad")
    records = [str(good[0]), str(bad["corrupt"]), str(bad["empty"]), str(good[1])]
    dataset = CroppedClipDataset(records, ClipFeaturizer(feature_extractor, crop_frames=CROP))
    with caplog.at_level("WARNING"):
        example = dataset[(0, 1)]
    assert example["num_skipped"] == 2  # corrupt and empty skipped, good[1] used instead
    assert "Skipping clip 1 (" in caplog.text and "corrupt.wav" in caplog.text and "Skipping clip 2 (" in caplog.text
    assert dataset[(0, 0)]["num_skipped"] == 0
    unreadable = CroppedClipDataset(
        [str(bad["corrupt"]), str(bad["empty"])], ClipFeaturizer(feature_extractor, crop_frames=CROP)
    )
    with pytest.raises(RuntimeError, match="2 consecutive clips starting at index 0 could not be decoded"):
        unreadable[(0, 0)]


def write_hub_like_parquet(folder: Path, clips: list[bytes]) -> Path:
    """A local folder laid out like a Hub parquet dataset (data/train-*.parquet, an Audio column + metadata)."""
    import datasets

    rows = {
        "video_id": [f"id{i}" for i in range(len(clips))],
        "audio": [{"bytes": data, "path": f"id{i}.wav"} for i, data in enumerate(clips)],
        "labels": [["/m/0"] for _ in clips],
    }
    dataset = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    (folder / "data").mkdir(parents=True)
    dataset.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


def wav_bytes(waveform: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, rate, format="WAV")
    return buffer.getvalue()


@pytest.mark.parametrize("streaming", [False, True])
def test_hub_layout_dataset_trains_with_skipped_corrupt_rows(tmp_path, feature_extractor, streaming):
    clips = [wav_bytes(tone(1.0, seed=i)) for i in range(3)] + [b"not audio at all"]
    folder = write_hub_like_parquet(tmp_path / "hub_like", clips)
    records = load_audio_records(str(folder), source_type="hub", split="train", streaming=streaming)
    loader = build_pretraining_dataloader(
        records, feature_extractor, batch_size=2, crop_frames=CROP, seed=0, shuffle_buffer_size=1
    )
    batches = list(itertools.islice(loader, 4))  # 8 clips: two passes over the 3 good rows
    assert all(batch["input_values"].shape == (2, CROP, 80) for batch in batches)
    assert all(
        batch["attention_mask"][:, :101].all() and not batch["attention_mask"][:, 101:].any() for batch in batches
    )  # 1 s -> 101 frames
    assert sum(int(batch["num_skipped"]) for batch in batches) >= 1


def test_audiofolder_and_missing_column_errors(tmp_path, corpus):
    records = load_audio_records(str(corpus), source_type="audiofolder")
    assert len(records) == 6 and records.column_names == ["audio"]
    assert decode_audio(records[0]["audio"])[1] == 16000
    with pytest.raises(ValueError, match="no audio column 'sound'"):
        load_audio_records(str(corpus), source_type="audiofolder", audio_column="sound")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio_records(str(tmp_path / "missing"), source_type="folder")
    (tmp_path / "no_audio").mkdir()
    with pytest.raises(ValueError, match="No audio files"):
        load_audio_records(str(tmp_path / "no_audio"))


def test_waveform_batches_give_the_features_of_the_default_path(tmp_path, corpus, feature_extractor):
    write_audioset_like_flac(corpus / "audioset_like.flac", seconds=2.5)  # 48 kHz 24-bit stereo: resampled crop
    (corpus / "broken.wav").write_bytes(b"RIFF junk")
    records = list_audio_files(corpus)
    options = dict(batch_size=4, crop_frames=CROP, seed=5)
    default = list(itertools.islice(build_pretraining_dataloader(records, feature_extractor, **options), 3))
    waveform_loader = build_pretraining_dataloader(records, feature_extractor, return_waveforms=True, **options)
    for expected, batch in zip(default, waveform_loader, strict=False):
        assert set(batch) == {"waveforms", "waveform_lengths", "num_skipped"}
        assert batch["waveforms"].shape == (4, (CROP - 1) * 160) and batch["waveforms"].dtype == torch.float32
        assert batch["waveform_lengths"].dtype == torch.int64 and isinstance(batch["num_skipped"], int)
        assert batch["num_skipped"] == int(expected["num_skipped"])
        for row, length in zip(batch["waveforms"], batch["waveform_lengths"].tolist(), strict=True):
            assert not row[length:].any()  # zero-padded after each clip
        features = features_from_waveform_batch(batch, feature_extractor, CROP, device="cpu")
        assert features["attention_mask"].dtype == torch.int64
        assert torch.equal(features["attention_mask"], expected["attention_mask"])
        # Same crops; the batched FFT / mel product may round differently from one clip alone (a few float32 ulps
        # on log-mel values |x| < 30, the extractor's batch tolerance).
        torch.testing.assert_close(features["input_values"], expected["input_values"], rtol=0, atol=1e-5)
    assert sum(int(batch["num_skipped"]) for batch in default) >= 1  # the broken file was met and skipped
