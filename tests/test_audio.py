# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The one decode / mono / resample / crop path (`transformers_aasp.audio`) and its channel-axis rule."""

import io

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from audio_files import BAD_FILE_ERRORS, stereo_tone, tone, write_audioset_like_flac, write_bad_files

from transformers_aasp.audio import (
    AudioHeader,
    ClipDecodeError,
    decode_audio,
    decode_random_crop,
    load_mono_waveform,
    random_crop,
    read_header,
)
from transformers_aasp.feature_extraction_aasp import to_mono_waveform


CROP = 97120  # (608 - 1) * 160: the pre-training crop


def encoded(waveform: np.ndarray, rate: int, format_: str, subtype: str) -> dict:
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, rate, format=format_, subtype=subtype)
    return {"bytes": buffer.getvalue(), "path": f"clip.{format_.lower()}"}


@pytest.mark.parametrize(
    "rate, format_, subtype",
    [(16000, "WAV", "PCM_16"), (16000, "FLAC", "PCM_16"), (48000, "FLAC", "PCM_24"), (44100, "WAV", "PCM_16")],
)
def test_cropped_decode_equals_the_same_window_of_the_full_decode(rate, format_, subtype):
    record = encoded(stereo_tone(8.0, rate), rate, format_, subtype)
    full = load_mono_waveform(record)
    for seed in range(5):
        generator, reference_generator = np.random.default_rng(seed), np.random.default_rng(seed)
        cropped = decode_random_crop(record, CROP, generator)
        expected = random_crop(full, CROP, reference_generator)
        assert cropped.shape == (CROP,) and cropped.dtype == np.float32
        if rate == 16000:
            np.testing.assert_array_equal(cropped, expected)  # PCM read at its own rate: the same samples
        else:
            # The window is resampled from the same input samples (the margin covers the sinc kernel); only the
            # float32 rounding of the convolution could differ. Here it is in fact bit-identical.
            np.testing.assert_allclose(cropped, expected, rtol=0, atol=1e-6)
        assert generator.integers(1 << 30) == reference_generator.integers(1 << 30)  # one draw on both paths


def test_cropped_decode_of_an_audioset_like_file_path(tmp_path):
    path = write_audioset_like_flac(tmp_path / "clip.flac", seconds=3.0)
    assert read_header(str(path)).num_frames == 3 * 48000
    cropped = decode_random_crop(str(path), 16000, np.random.default_rng(7))
    expected = random_crop(load_mono_waveform(str(path)), 16000, np.random.default_rng(7))
    np.testing.assert_allclose(cropped, expected, rtol=0, atol=1e-6)


def test_short_clip_is_returned_whole_without_a_draw():
    record = encoded(tone(1.0), 16000, "WAV", "PCM_16")
    generator = np.random.default_rng(0)
    whole = decode_random_crop(record, CROP, generator)
    np.testing.assert_array_equal(whole, load_mono_waveform(record))
    assert generator.integers(1 << 30) == np.random.default_rng(0).integers(1 << 30)


def test_cropped_decode_refuses_the_same_clips_as_the_full_decode(tmp_path):
    files = write_bad_files(tmp_path)
    for name, message in BAD_FILE_ERRORS.items():
        with pytest.raises(ClipDecodeError, match=message):
            decode_random_crop(str(files[name]), 8000, np.random.default_rng(0), min_samples=1600)


def test_decoded_arrays_are_cropped_after_a_full_decode_and_decoders_seek(tmp_path):
    from torchcodec.decoders import AudioDecoder

    path = tmp_path / "clip.wav"
    soundfile.write(path, stereo_tone(2.0, 16000), 16000, subtype="FLOAT")
    full = load_mono_waveform(str(path))
    array_record = {"array": stereo_tone(2.0, 16000), "sampling_rate": 16000}
    assert read_header(array_record) is None
    assert read_header(AudioDecoder(str(path))) == AudioHeader(num_frames=32000, sampling_rate=16000)
    for record in (array_record, AudioDecoder(str(path))):
        for seed in range(3):
            cropped = decode_random_crop(record, 8000, np.random.default_rng(seed))
            # float WAV is lossless through soundfile and FFmpeg; the channel mean is the same float32 operation
            expected = random_crop(full, 8000, np.random.default_rng(seed))
            np.testing.assert_allclose(cropped, expected, rtol=0, atol=1e-7)


def test_decode_mixes_channels_and_resamples_like_torchaudio(tmp_path):
    stereo = stereo_tone(2.0, 44100)
    path = tmp_path / "cd.wav"
    soundfile.write(path, stereo, 44100, subtype="FLOAT")
    waveform, rate = decode_audio(str(path))
    assert waveform.shape == (2, 88200) and rate == 44100  # (channels, samples)
    mono = load_mono_waveform(str(path))
    expected = torchaudio.functional.resample(torch.from_numpy(stereo.mean(axis=1)), 44100, 16000)
    # float WAV is lossless; the channel mean is the same float32 operation on both sides (axis order aside)
    torch.testing.assert_close(torch.from_numpy(mono), expected, rtol=0, atol=1e-6)


# ---- the channel-axis rule -------------------------------------------------------------------------------------


def test_to_mono_waveform_channel_axis_rule():
    stereo = stereo_tone(0.5, 16000)  # (8000, 2)
    expected = torch.from_numpy(stereo.mean(axis=1))
    torch.testing.assert_close(to_mono_waveform(stereo), expected)  # shorter axis = channels
    torch.testing.assert_close(to_mono_waveform(stereo.T), expected)
    torch.testing.assert_close(to_mono_waveform(stereo, channel_axis=1), expected)  # soundfile layout, explicit
    torch.testing.assert_close(to_mono_waveform(stereo.T, channel_axis=0), expected)  # torchcodec layout
    # an explicit axis is obeyed even where the shorter-axis rule would guess otherwise (a 3-sample, 4-channel clip)
    block = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert to_mono_waveform(block, channel_axis=0).tolist() == [4.5, 5.5, 6.5]
    assert to_mono_waveform(block).tolist() == [1.0, 4.0, 7.0, 10.0]
    with pytest.raises(ValueError, match="at most 8 channels"):
        to_mono_waveform(np.zeros((9, 100), np.float32))


def test_to_mono_waveform_does_not_copy_float32_mono_input():
    clip = tone(0.5)
    assert to_mono_waveform(clip).data_ptr() == torch.from_numpy(clip).data_ptr()
    read_only = clip.copy()
    read_only.flags.writeable = False
    assert torch.equal(to_mono_waveform(read_only), torch.from_numpy(clip))  # copied, no warning
