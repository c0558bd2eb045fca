"""AaSPFeatureExtractor (log-mel front end) and normalisation statistics."""

import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

import transformers_aasp.feature_extraction_aasp as fe_module
from transformers_aasp.data.normalization import RunningMoments, compute_normalization_stats, fit_normalization_stats
from transformers_aasp.feature_extraction_aasp import AaSPFeatureExtractor


SR = 16000
# Batched and single-clip float32 FFT / GEMM kernels may sum in a different order: a few ulps on log-mel values
# of magnitude < 30 is ~1e-5 at most. (On the reference machine the results are in fact bit-identical.)
BATCH_ATOL = 1e-5


def noise(num_samples, seed=0, scale=0.1):
    return (np.random.default_rng(seed).standard_normal(num_samples) * scale).astype(np.float32)


@pytest.fixture
def fe():
    return AaSPFeatureExtractor()


def real_frames(features, index):
    return features["input_values"][index][features["attention_mask"][index].bool()]


# ---- shapes, padding, masks ----------------------------------------------------------------------------------


def test_batch_shapes_mask_and_padding(fe):
    out = fe([noise(16000), noise(5000, 1)], sampling_rate=SR, return_tensors="pt")
    assert out["input_values"].shape == (2, 112, 80)  # 101 frames, padded up to a multiple of 16
    assert out["input_values"].dtype == torch.float32
    assert out["attention_mask"].shape == (2, 112)
    assert out["attention_mask"].dtype == torch.int32
    assert out["attention_mask"].sum(1).tolist() == [101, 32]
    assert torch.all(out["attention_mask"][1, :32] == 1)
    assert torch.all(out["input_values"][1, 32:] == 0.0)
    assert torch.all(out["input_values"][0, 101:] == 0.0)


@pytest.mark.parametrize("num_samples", [400, 559, 560, 16000, 16001])
def test_frame_count_is_one_plus_samples_over_hop(fe, num_samples):
    out = fe(noise(num_samples), sampling_rate=SR, pad_to_multiple_of=1, return_tensors="pt")
    assert out["input_values"].shape == (1, 1 + num_samples // 160, 80)
    assert fe.num_frames(num_samples) == 1 + num_samples // 160


def test_frame_rate(fe):
    assert fe.frame_rate == 100.0


def test_clip_alone_equals_clip_in_padded_batch(fe):
    short, long = noise(7321, 1), noise(24000, 2)
    batch = fe([long, short, noise(3000, 3)], sampling_rate=SR, return_tensors="pt")
    for index, clip in [(0, long), (1, short)]:
        alone = fe(clip, sampling_rate=SR, return_tensors="pt")
        torch.testing.assert_close(real_frames(batch, index), real_frames(alone, 0), rtol=0, atol=BATCH_ATOL)


def test_matches_torchaudio_melspectrogram(fe):
    clip = noise(12345) + np.sin(2 * np.pi * 440 * np.arange(12345) / SR).astype(np.float32)
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR,
        n_fft=400,
        win_length=400,
        hop_length=160,
        f_min=50.0,
        f_max=8000.0,
        n_mels=80,
        power=2.0,
        center=True,
        pad_mode="reflect",
        norm=None,
        mel_scale="htk",
    )(torch.from_numpy(clip))
    expected = torch.log(reference + fe.log_eps).T
    ours = fe(clip, sampling_rate=SR, pad_to_multiple_of=1, return_tensors="pt")["input_values"][0]
    # Same STFT, window and filterbank; only float32 operation order may differ (log values |x| < 30).
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-4)


def test_batch_of_long_clips_matches_torchaudio_clip_by_clip():
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=SR, n_fft=400, hop_length=160, f_min=50.0, f_max=8000.0, n_mels=80, norm=None, mel_scale="htk"
    )
    clips = [noise(n, seed) for seed, n in enumerate((160000, 123457, 4000, 96000, 160000))]
    fe = AaSPFeatureExtractor(mean=-3.0, std=2.5)
    out = fe(clips, sampling_rate=SR, return_tensors="pt")  # 1001-frame clips: several CPU chunks
    for index, clip in enumerate(clips):
        expected = (torch.log(reference(torch.from_numpy(clip)) + fe.log_eps).T + 3.0) / 2.5
        # Independent STFT + filterbank (torchaudio): float32 operation order only; log values |x| < 30 -> 1e-4.
        torch.testing.assert_close(real_frames(out, index), expected, rtol=0, atol=1e-4)


def test_torchaudio_and_transformers_filterbanks_agree():
    with_torchaudio = fe_module.mel_filterbank(201, 80, 50.0, 8000.0, SR, True)
    with_numpy = fe_module.mel_filterbank(201, 80, 50.0, 8000.0, SR, False)
    assert with_torchaudio.shape == with_numpy.shape == (201, 80)
    # torchaudio builds the triangles in float32 (Hz values ~1e3, so ~1e-4 Hz error on the edges), transformers in
    # float64: weights in [0, 1] then differ by ~1e-5 at most.
    torch.testing.assert_close(with_torchaudio, with_numpy, rtol=0, atol=5e-5)


def test_numpy_filterbank_fallback_gives_the_same_features(fe, monkeypatch):
    clip = noise(8000)
    with_torchaudio = fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"]
    monkeypatch.setattr(fe_module, "is_torchaudio_available", lambda: False)
    without = fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"]
    # Filter weights differ by <= 5e-5 (above); the log turns that into a relative mel error of the same order.
    torch.testing.assert_close(with_torchaudio, without, rtol=0, atol=1e-3)


def test_normalisation_uses_mean_and_std(fe):
    clip = noise(9000)
    raw = fe(clip, sampling_rate=SR, return_tensors="pt")
    normalised = AaSPFeatureExtractor(mean=-5.0, std=4.0)(clip, sampling_rate=SR, return_tensors="pt")
    mask = raw["attention_mask"].bool()
    # One subtraction and one division in float32: a few ulps.
    torch.testing.assert_close(normalised["input_values"][mask], (raw["input_values"][mask] + 5.0) / 4.0)
    assert torch.all(normalised["input_values"][~mask] == 0.0)


def test_truncation_keeps_the_first_frames(fe):
    clip = noise(16000)
    full = fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"]
    cut = fe(clip, sampling_rate=SR, max_length=50, truncation=True, return_tensors="pt")
    assert cut["input_values"].shape == (1, 64, 80)
    assert cut["attention_mask"].sum().item() == 50
    # The waveform is cropped before the STFT; frames depend only on their own samples (batch tolerance applies).
    torch.testing.assert_close(cut["input_values"][0, :50], full[0, :50], rtol=0, atol=BATCH_ATOL)


def test_padding_max_length(fe):
    out = fe(
        [noise(5000), noise(8000, 1)], sampling_rate=SR, padding="max_length", max_length=200, return_tensors="pt"
    )
    assert out["input_values"].shape == (2, 208, 80)
    assert out["attention_mask"].sum(1).tolist() == [32, 51]


def test_no_padding_returns_per_clip_arrays(fe):
    out = fe([noise(5000), noise(8000, 1)], sampling_rate=SR, padding="do_not_pad")
    assert [x.shape for x in out["input_values"]] == [(32, 80), (51, 80)]
    assert [m.sum() for m in out["attention_mask"]] == [32, 51]


def test_pad_to_multiple_of_one_and_mask_switch(fe):
    out = fe([noise(5000)], sampling_rate=SR, pad_to_multiple_of=1, return_attention_mask=False, return_tensors="np")
    assert out["input_values"].shape == (1, 32, 80)
    assert isinstance(out["input_values"], np.ndarray)
    assert "attention_mask" not in out


# ---- accepted input forms --------------------------------------------------------------------------------------


def test_torch_and_numpy_inputs_agree(fe):
    clip = noise(6000)
    from_numpy = fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"]
    from_torch = fe(torch.from_numpy(clip), sampling_rate=SR, return_tensors="pt")["input_values"]
    from_list = fe(clip.tolist(), sampling_rate=SR, return_tensors="pt")["input_values"]
    from_float64 = fe(clip.astype(np.float64), sampling_rate=SR, return_tensors="pt")["input_values"]
    assert torch.equal(from_numpy, from_torch)
    assert torch.equal(from_numpy, from_list)
    assert torch.equal(from_numpy, from_float64)  # float64 is cast to float32 first: same samples


def test_int16_is_scaled_like_float(fe):
    pcm = (noise(6000) * 32768).round().clip(-32768, 32767).astype(np.int16)
    from_int = fe(pcm, sampling_rate=SR, return_tensors="pt")["input_values"]
    from_float = fe(pcm.astype(np.float32) / 32768, sampling_rate=SR, return_tensors="pt")["input_values"]
    assert torch.equal(from_int, from_float)


def test_2d_array_is_a_batch_of_mono_clips(fe):
    clips = np.stack([noise(6000), noise(6000, 1)])
    from_array = fe(clips, sampling_rate=SR, return_tensors="pt")["input_values"]
    from_list = fe(list(clips), sampling_rate=SR, return_tensors="pt")["input_values"]
    assert from_array.shape == (2, 48, 80)
    assert torch.equal(from_array, from_list)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_multichannel_clip_in_a_list_is_downmixed(fe, layout):
    stereo = np.stack([noise(6000), noise(6000, 1)])
    item = stereo if layout == "channels_first" else stereo.T
    out = fe([item, noise(7000, 2)], sampling_rate=SR, return_tensors="pt")
    expected = fe(stereo.mean(0), sampling_rate=SR, return_tensors="pt")
    torch.testing.assert_close(real_frames(out, 0), real_frames(expected, 0), rtol=0, atol=BATCH_ATOL)


def test_dict_input(fe):
    clip = noise(6000)
    out = fe({"array": clip, "sampling_rate": SR}, return_tensors="pt")["input_values"]
    assert torch.equal(out, fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"])


def write_wav(path, samples, rate):
    sf.write(str(path), samples, rate, subtype="FLOAT")
    return str(path)


def test_torchcodec_decoder_and_datasets_audio_column(fe, tmp_path):
    from datasets import Audio, Dataset
    from torchcodec.decoders import AudioDecoder

    stereo = np.stack([noise(8000), noise(8000, 1)], axis=1)  # (samples, channels) as soundfile expects
    path = write_wav(tmp_path / "stereo.wav", stereo, SR)
    expected = fe(stereo.mean(1), sampling_rate=SR, return_tensors="pt")["input_values"]
    # Float WAV decodes losslessly; the channel mean is the same float32 operation.
    from_decoder = fe(AudioDecoder(path), return_tensors="pt")["input_values"]
    torch.testing.assert_close(from_decoder, expected, rtol=0, atol=1e-6)
    item = Dataset.from_dict({"audio": [path]}).cast_column("audio", Audio())[0]["audio"]
    torch.testing.assert_close(fe([item], return_tensors="pt")["input_values"], expected, rtol=0, atol=1e-6)


def test_missing_sampling_rate_warns(fe, caplog):
    logging.Logger.warning_once.cache_clear()  # the warning is emitted once per process
    with caplog.at_level(logging.WARNING):
        fe(noise(1000))
    assert "No sampling_rate was passed to AaSPFeatureExtractor" in caplog.text


# ---- errors ----------------------------------------------------------------------------------------------------


def test_wrong_sampling_rate_names_both_rates(fe):
    with pytest.raises(ValueError, match="expects audio sampled at 16000 Hz, but sampling_rate=44100 Hz"):
        fe(noise(1000), sampling_rate=44100)


def test_dict_and_decoder_rates_are_checked(fe, tmp_path):
    from torchcodec.decoders import AudioDecoder

    with pytest.raises(ValueError, match="Clip 1 is sampled at 8000 Hz but AaSPFeatureExtractor expects 16000 Hz"):
        fe([noise(1000), {"array": noise(1000), "sampling_rate": 8000}])
    path = write_wav(tmp_path / "cd.wav", noise(4410), 44100)
    with pytest.raises(ValueError, match="Clip 0 is sampled at 44100 Hz but AaSPFeatureExtractor expects 16000 Hz"):
        fe(AudioDecoder(path))


@pytest.mark.parametrize(
    "clips, message",
    [
        ([noise(1000), np.zeros(0, np.float32)], "Clip 1 is empty"),
        ([noise(1000), np.full(1000, np.nan, np.float32)], "Clip 1 contains NaN or Inf samples"),
        ([np.array([0.0] * 999 + [np.inf], np.float32)], "Clip 0 contains NaN or Inf samples"),
        ([noise(1000), noise(399)], r"Clip 1 has 399 samples; at least 400 \(25 ms at 16000 Hz\) are needed"),
        (np.zeros((2, 2, 1000), np.float32), "got a 3-D array of shape \\(2, 2, 1000\\)"),
        ([np.zeros((2, 2, 1000), np.float32)], r"Clip 0 has shape \(2, 2, 1000\); expected a 1-D mono clip"),
        ([np.zeros((9, 1000), np.float32)], "a multi-channel clip may have at most 8 channels"),
        ([noise(1000), np.zeros(1000, np.int32)], "Clip 1 has dtype int32; only int16 PCM or floating point"),
        ([{"audio": noise(1000)}], r"Clip 0: a dict input needs an 'array' \(or 'raw'\) and a 'sampling_rate' key"),
        ([], "Got an empty list of clips"),
    ],
)
def test_bad_clips_raise_with_index(fe, clips, message):
    with pytest.raises(ValueError, match=message):
        fe(clips, sampling_rate=SR)


def test_unsupported_type_raises(fe):
    with pytest.raises(TypeError, match="Unsupported audio input of type str"):
        fe("clip.wav", sampling_rate=SR)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"padding": "max_length"}, "need a positive integer max_length"),
        ({"truncation": True}, "need a positive integer max_length"),
        ({"padding": "max_length", "max_length": 10}, "Clip 0 has 63 frames, more than max_length=10"),
        ({"padding": "middle"}, "padding='middle' is not supported"),
        ({"return_tensors": "tf"}, "return_tensors='tf' is not supported"),
    ],
)
def test_bad_call_arguments(fe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fe(noise(10000), sampling_rate=SR, **kwargs)


def test_unpadded_clips_of_different_lengths_cannot_be_stacked(fe):
    with pytest.raises(ValueError, match=r"different frame counts \[32, 51\]"):
        fe([noise(5000), noise(8000)], sampling_rate=SR, padding=False, return_tensors="pt")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"std": 0.0}, r"Normalisation statistics must be finite with std > 0, got mean=0.0, std=0.0"),
        ({"std": -1.0}, r"finite with std > 0, got mean=0.0, std=-1.0"),
        ({"std": float("inf")}, r"finite with std > 0, got mean=0.0, std=inf"),
        ({"mean": float("nan")}, r"finite with std > 0, got mean=nan, std=1.0"),
        ({"mean": "0"}, r"finite with std > 0, got mean='0'"),
        ({"log_eps": -1.0}, "log_eps must be positive"),
        ({"log_eps": 0.0}, "log_eps must be positive"),
        ({"log_eps": float("nan")}, "log_eps must be a finite number, got nan"),
        ({"hop_length": 0}, "hop_length must be a positive integer, got 0"),
        ({"hop_length": 160.5}, "hop_length must be a positive integer, got 160.5"),
        ({"hop_length": True}, "hop_length must be a positive integer, got True"),
        ({"hop_length": 500}, r"hop_length \(500\) must not exceed n_fft \(400\)"),
        ({"n_fft": 0}, "n_fft must be a positive integer, got 0"),
        ({"n_fft": -400}, "n_fft must be a positive integer, got -400"),
        ({"win_length": 0}, r"win_length \(0\) must equal n_fft \(400\)"),
        ({"num_mel_bins": 0, "feature_size": 0}, "num_mel_bins must be a positive integer, got 0"),
        ({"num_mel_bins": -80, "feature_size": -80}, "num_mel_bins must be a positive integer, got -80"),
        (
            {"num_mel_bins": 300, "feature_size": 300},
            r"num_mel_bins \(300\) must not exceed the n_fft // 2 \+ 1 = 201",
        ),
        ({"sampling_rate": 0}, "sampling_rate must be a positive integer, got 0"),
        ({"f_min": float("nan")}, "f_min must be a finite number, got nan"),
        ({"f_min": 9000.0, "f_max": 8000.0}, "Need 0 <= f_min < f_max <= sampling_rate / 2"),
        ({"f_max": 9000.0}, "f_max <= sampling_rate / 2"),
        ({"pad_to_multiple_of": 0}, r"pad_to_multiple_of must be None or an integer >= 1 .* got 0"),
        ({"pad_to_multiple_of": -16}, r"pad_to_multiple_of must be None or an integer >= 1 .* got -16"),
        ({"padding_value": float("nan")}, "padding_value must be a finite number, got nan"),
        ({"padding_side": "left"}, "only pads on the right"),
        ({"num_mel_bins": 64, "feature_size": 80}, r"feature_size \(80\) must equal num_mel_bins \(64\)"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AaSPFeatureExtractor(**kwargs)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("mean", float("nan"), "got mean=nan"),
        ("std", float("inf"), "std=inf"),
        ("log_eps", -1, "log_eps must be positive"),
        ("hop_length", 0, "hop_length must be a positive integer, got 0"),
        ("n_fft", 0, "n_fft must be a positive integer, got 0"),
    ],
)
def test_crafted_preprocessor_config_is_refused(tmp_path, field, value, message):
    AaSPFeatureExtractor().save_pretrained(tmp_path)
    config_file = tmp_path / "preprocessor_config.json"
    config = json.loads(config_file.read_text())
    config[field] = value
    config_file.write_text(json.dumps(config))  # json writes NaN / Infinity, as a hostile file would
    with pytest.raises(ValueError, match=message):
        AaSPFeatureExtractor.from_pretrained(tmp_path)


def test_set_normalization_uses_the_constructor_check(fe):
    with pytest.raises(
        ValueError, match=r"Normalisation statistics must be finite with std > 0, got mean=0\.0, std=0\.0"
    ):
        fe.set_normalization(0.0, 0.0)
    fe.set_normalization(np.float64(-4.5), torch.tensor(2.0))
    assert (fe.mean, fe.std) == (-4.5, 2.0)


@pytest.mark.parametrize("value", [0, -1])
def test_pad_to_multiple_of_below_one_is_an_error(fe, value):
    with pytest.raises(ValueError, match=f"pad_to_multiple_of must be None or an integer >= 1 .* got {value}"):
        fe(noise(5000), sampling_rate=SR, pad_to_multiple_of=value)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_top_level_channels_last_array_is_refused_with_how_to_pass_it(fe, channels):
    clip = np.stack([noise(16000, seed) for seed in range(channels)], axis=1)  # (samples, channels), as soundfile
    with pytest.raises(ValueError, match=rf"shape \(16000, {channels}\).*ONE clip with {channels} channels last"):
        fe(clip, sampling_rate=SR)
    with pytest.raises(ValueError, match="pass it inside a list"):
        fe(torch.from_numpy(clip), sampling_rate=SR)
    inside_a_list = fe([clip], sampling_rate=SR, return_tensors="pt")["input_values"]
    downmixed = fe(clip.mean(axis=1), sampling_rate=SR, return_tensors="pt")["input_values"]
    torch.testing.assert_close(inside_a_list, downmixed, rtol=0, atol=BATCH_ATOL)


def test_huge_finite_samples_are_refused_not_turned_into_inf(fe):
    with pytest.raises(
        ValueError, match="Clip 1 has samples up to 1e\\+30 in magnitude: its power spectrum overflows"
    ):
        fe([noise(1000), np.full(1000, 1e30, np.float32)], sampling_rate=SR)


# ---- serialisation ---------------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    fe = AaSPFeatureExtractor(mean=-4.25, std=3.5)
    clip = noise(9000)
    before = fe(clip, sampling_rate=SR, return_tensors="pt")["input_values"]  # builds the cached filterbank
    fe.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["mean"] == -4.25 and saved["std"] == 3.5
    assert saved["feature_extractor_type"] == "AaSPFeatureExtractor"
    geometry = (saved["num_mel_bins"], saved["hop_length"], saved["n_fft"], saved["pad_to_multiple_of"])
    assert geometry == (80, 160, 400, 16)
    loaded = AaSPFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.to_dict() == fe.to_dict()
    assert torch.equal(loaded(clip, sampling_rate=SR, return_tensors="pt")["input_values"], before)


# ---- normalisation statistics ----------------------------------------------------------------------------------


def synthetic_clips():
    lengths = [4000, 16000, 2500, 9100, 12000, 700, 5000]
    return [noise(n, seed, scale=0.05 * (seed + 1)) for seed, n in enumerate(lengths)]


def numpy_stats(fe, clips):
    raw = AaSPFeatureExtractor(**{**fe.to_dict(), "mean": 0.0, "std": 1.0})
    values = np.concatenate([raw(c, sampling_rate=SR, padding=False)["input_values"][0] for c in clips])
    return values.astype(np.float64).mean(), values.astype(np.float64).std()


def test_stats_match_numpy_on_concatenated_real_frames(fe):
    clips = synthetic_clips()
    mean, std = compute_normalization_stats(clips, fe, batch_size=3, sampling_rate=SR, show_progress=False)
    expected_mean, expected_std = numpy_stats(fe, clips)
    # Same float32 features (up to the batch tolerance), both accumulated in float64.
    assert mean == pytest.approx(expected_mean, rel=1e-6, abs=1e-5)
    assert std == pytest.approx(expected_std, rel=1e-6, abs=1e-5)


def test_stats_ignore_existing_normalisation_and_honour_max_clips():
    clips = synthetic_clips()
    fe = AaSPFeatureExtractor(mean=3.0, std=2.0)
    mean, std = compute_normalization_stats(
        clips, fe, max_clips=2, batch_size=5, sampling_rate=SR, show_progress=False
    )
    expected_mean, expected_std = numpy_stats(fe, clips[:2])
    assert mean == pytest.approx(expected_mean, rel=1e-6, abs=1e-5)
    assert std == pytest.approx(expected_std, rel=1e-6, abs=1e-5)
    assert (fe.mean, fe.std) == (3.0, 2.0)


def test_stats_skip_bad_records(fe, caplog):
    clips = synthetic_clips()
    dirty = [*clips[:2], np.zeros(0, np.float32), np.full(900, np.nan, np.float32), *clips[2:]]
    with caplog.at_level(logging.WARNING):
        mean, std = compute_normalization_stats(dirty, fe, batch_size=3, sampling_rate=SR, show_progress=False)
    assert "Skipping item 2: Clip 0 is empty" in caplog.text
    assert "Skipping item 3: Clip 0 contains NaN or Inf" in caplog.text
    assert "Skipped 2 clip(s)" in caplog.text
    expected_mean, expected_std = numpy_stats(fe, clips)
    assert mean == pytest.approx(expected_mean, rel=1e-6, abs=1e-5)
    assert std == pytest.approx(expected_std, rel=1e-6, abs=1e-5)


def test_fit_normalization_stats_whitens_the_features():
    clips = synthetic_clips()
    fe = AaSPFeatureExtractor()
    rows = [{"audio": {"array": c, "sampling_rate": SR}, "label": 0} for c in clips]
    mean, std = fit_normalization_stats(fe, rows, audio_column="audio", show_progress=False)
    assert (fe.mean, fe.std) == (mean, std)
    values = np.concatenate([fe(c, sampling_rate=SR, padding=False)["input_values"][0] for c in clips])
    # float32 features of ~1e5 values: mean/std of the normalised values are exact to ~1e-6.
    assert values.mean() == pytest.approx(0.0, abs=1e-4)
    assert values.std() == pytest.approx(1.0, abs=1e-4)


def test_stats_errors(fe):
    with pytest.raises(ValueError, match=r"No valid clip to compute statistics from \(1 clip\(s\) rejected\)"):
        compute_normalization_stats([np.zeros(10, np.float32)], fe, sampling_rate=SR, show_progress=False)
    with pytest.raises(ValueError, match="max_clips must be a positive integer or None, got 0"):
        compute_normalization_stats([noise(1000)], fe, max_clips=0)


def test_running_moments_are_stable_with_a_large_offset():
    values = np.random.default_rng(0).standard_normal(30000) + 1e6
    moments = RunningMoments()
    for chunk in np.array_split(values, 7):
        moments.update(torch.from_numpy(chunk))
    # float64 with a 1e6 offset: the naive E[x^2] - E[x]^2 would lose ~10 digits; Chan's merge keeps ~1e-9.
    assert moments.mean == pytest.approx(values.mean(), rel=1e-12)
    assert moments.std == pytest.approx(values.std(), rel=1e-8)


def test_reflect_padded_batch_matches_torch_reflect_per_clip():
    from transformers_aasp.feature_extraction_aasp import reflect_padded_batch

    generator = torch.Generator().manual_seed(0)
    clips = [torch.randn(n, generator=generator) for n in (450, 1000, 201, 731)]
    padded = reflect_padded_batch(clips, 200)
    assert padded.shape == (4, 1400)
    for row, clip in zip(padded, clips, strict=True):
        expected = torch.nn.functional.pad(clip[None], (200, 200), mode="reflect")[0]
        assert torch.equal(row[: len(expected)], expected)
        assert not row[len(expected) :].any()


def test_explicit_device_gives_the_same_features():
    extractor = AaSPFeatureExtractor()
    clips = [np.random.default_rng(1).standard_normal(n).astype(np.float32) * 0.1 for n in (8000, 12345)]
    default = extractor(clips, sampling_rate=16000, return_tensors="pt")
    on_cpu = extractor(clips, sampling_rate=16000, return_tensors="pt", device="cpu")
    assert on_cpu["input_values"].device.type == "cpu"
    assert torch.equal(default["input_values"], on_cpu["input_values"])
    assert torch.equal(default["attention_mask"], on_cpu["attention_mask"])
