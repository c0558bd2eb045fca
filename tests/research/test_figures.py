# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""research/figures.py: the figure data functions, what each figure draws from them, and the command line, on a
tiny random checkpoint and a fake metrics.jsonl."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from research.figures import (
    FIGURE_FILES,
    LOSS_TERMS,
    MONITORING_TERMS,
    WINDOW_LABELS,
    WINDOWS,
    draw_figure2,
    draw_figure4,
    draw_training_curves,
    edge_decay,
    estimate_sblu_per_time_patch,
    figure_data,
    kernel_spectrum,
    load_checkpoint,
    make_figures,
    modulation_probe_clip,
    radians_per_frame_to_hz,
    read_audio_file,
    read_training_curves,
    window_responses,
)
from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPModel
from transformers_aasp.audio import ClipDecodeError
from transformers_aasp.configuration_aasp import SBLU_ALPHA_INIT, SBLU_ALPHA_MIN
from transformers_aasp.modeling_aasp import sblu_kernel


REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLING_RATE = 16000


def save_checkpoint(folder, **overrides):
    torch.manual_seed(0)
    AaSPModel(AaSPConfig.tiny(**overrides)).save_pretrained(folder)
    AaSPFeatureExtractor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("tiny_aasp"))


@pytest.fixture(scope="module")
def model_and_extractor(checkpoint):
    return load_checkpoint(checkpoint)


def write_metrics(path, records, extra_lines=()):
    lines = [json.dumps(record) for record in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


# The loss names are the model's (`PRETRAINING_LOSS_TERMS`: total first, then the terms); the second record has a
# non-finite last loss term, written as a string by the training loop.
TOTAL, PATCH_LOSS, *OTHER_LOSSES = LOSS_TERMS
FAKE_RECORDS = [
    {"event": "start", "step": 0, "num_processes": 1},
    {
        "step": 5,
        **dict(zip(LOSS_TERMS, (2.0, 1.5, 0.3, 2.0), strict=True)),
        **dict(zip(MONITORING_TERMS, (0.25, 1.0, 0.1, 1e-3), strict=True)),
    },
    {
        "step": 10,
        **dict(zip(LOSS_TERMS, (1.5, 1.2, 0.1, "nan"), strict=True)),
        **dict(zip(MONITORING_TERMS, (0.5, 0.9, 0.2, 5e-4), strict=True)),
    },
    {"event": "checkpoint", "step": 10, "path": "somewhere"},
]


# ----------------------------------------------------------------------------------------------------------------
# Units and inputs
# ----------------------------------------------------------------------------------------------------------------
def test_radians_per_frame_to_hz_at_100_frames_per_second():
    # pi rad/frame is the frame-rate Nyquist (50 Hz); pi/16 is the token-rate Nyquist (3.125 Hz); exact in floats
    assert radians_per_frame_to_hz(math.pi, 100.0) == pytest.approx(50.0, abs=1e-12)
    assert radians_per_frame_to_hz(math.pi / 16, 100.0) == pytest.approx(3.125, abs=1e-12)
    array = radians_per_frame_to_hz(np.array([0.0, math.pi / 2]), 100.0)
    np.testing.assert_allclose(array, [0.0, 25.0], atol=1e-12)


def test_edge_decay_puts_the_window_at_the_requested_level_at_the_kernel_edge():
    alpha = edge_decay(16, 0.01)
    assert math.exp(-alpha * 16) == pytest.approx(0.01, rel=1e-12)
    with pytest.raises(ValueError, match="0 < edge_level < 1"):
        edge_decay(16, 1.5)


def test_modulation_probe_clip_is_modulated_at_the_requested_rates():
    waveform, segments = modulation_probe_clip(rates_hz=(12.5, 37.5), seconds_per_rate=1.6)
    assert waveform.shape == (2 * int(1.6 * SAMPLING_RATE),) and waveform.dtype == np.float32
    assert segments == [(0.0, 1.6, 12.5), (1.6, 3.2, 37.5)]
    assert np.max(np.abs(waveform)) == pytest.approx(0.5, rel=1e-6)
    for start, end, rate in segments:
        piece = waveform[int(start * SAMPLING_RATE) : int(end * SAMPLING_RATE)].astype(np.float64)
        envelope_spectrum = np.abs(np.fft.rfft(piece**2 - np.mean(piece**2)))
        frequencies = np.fft.rfftfreq(piece.size, 1.0 / SAMPLING_RATE)
        band = (frequencies > 5.0) & (frequencies < 60.0)
        peak = frequencies[band][np.argmax(envelope_spectrum[band])]
        assert abs(peak - rate) <= 1.0 / 1.6  # one FFT bin of a 1.6 s segment
    with pytest.raises(ValueError, match="at least one modulation rate"):
        modulation_probe_clip(rates_hz=())


def test_read_audio_file_downmixes_and_resamples(tmp_path):
    stereo = np.stack([np.full(8000, 0.2), np.full(8000, 0.4)], axis=1).astype(np.float32)  # 1 s at 8 kHz
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo, 8000)
    waveform = read_audio_file(path, SAMPLING_RATE)
    assert waveform.shape == (16000,) and waveform.dtype == np.float32
    # away from the edges (resampling filter transients) the mono mix of a constant 0.2 / 0.4 pair is 0.3
    np.testing.assert_allclose(waveform[2000:-2000], 0.3, atol=1e-3)


def test_read_audio_file_names_an_unreadable_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00not a wav file")
    with pytest.raises(ClipDecodeError, match=r"broken\.wav"):
        read_audio_file(path, SAMPLING_RATE)


def test_load_checkpoint_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_checkpoint(tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# Figure 4 data
# ----------------------------------------------------------------------------------------------------------------
def test_sblu_estimates_have_one_row_per_time_patch(model_and_extractor):
    model, feature_extractor = model_and_extractor
    config = model.config
    waveform = 0.1 * np.sin(2 * np.pi * 440 * np.arange(SAMPLING_RATE) / SAMPLING_RATE).astype(np.float32)
    estimates = estimate_sblu_per_time_patch(model, feature_extractor, waveform)
    num_frames = 1 + SAMPLING_RATE // 160  # 101 frames, padded to 112 -> 7 time patches, all holding real frames
    estimates_per_patch = config.num_frequency_patches * config.num_subbands * config.num_kernels
    assert estimates.log_mel.shape == (num_frames, config.num_mel_bins)
    assert estimates.frame_times.shape == (num_frames,)
    assert estimates.alpha.shape == estimates.beta.shape == estimates.frequency_hz.shape == (7, estimates_per_patch)
    np.testing.assert_allclose(estimates.patch_times, (np.arange(7) + 0.5) * 0.16, atol=1e-12)
    # frequency_hz is beta converted at 100 frames/s (float32 model outputs: relative 1e-6)
    np.testing.assert_allclose(estimates.frequency_hz, estimates.beta * 100.0 / (2 * np.pi), rtol=1e-5)
    assert estimates.band_hz == pytest.approx((3.125, 50.0))
    assert np.all((estimates.frequency_hz >= 3.125 - 1e-4) & (estimates.frequency_hz <= 50.0 + 1e-4))
    assert np.all(estimates.alpha >= SBLU_ALPHA_MIN - 1e-6)


def test_sblu_log_mel_is_in_natural_log_power(model_and_extractor):
    model, feature_extractor = model_and_extractor
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / SAMPLING_RATE).astype(np.float32)
    quiet = estimate_sblu_per_time_patch(model, feature_extractor, 0.01 * tone).log_mel
    loud = estimate_sblu_per_time_patch(model, feature_extractor, 0.1 * tone).log_mel
    strong = quiet > np.percentile(quiet, 90)  # bins where the tone dominates the log's eps
    # ten times the amplitude is a hundred times the power: ln(100) more, up to the eps inside the log (float32)
    np.testing.assert_allclose(np.median((loud - quiet)[strong]), math.log(100.0), atol=1e-3)


def test_sblu_estimates_refuse_a_model_without_aape(tmp_path):
    model, feature_extractor = load_checkpoint(save_checkpoint(tmp_path, use_aape=False))
    with pytest.raises(ValueError, match="use_aape=False"):
        estimate_sblu_per_time_patch(model, feature_extractor, np.zeros(16000, dtype=np.float32))


# ----------------------------------------------------------------------------------------------------------------
# Figure 2 data
# ----------------------------------------------------------------------------------------------------------------
def test_window_responses_peak_at_zero_offset():
    offsets = np.linspace(-1.5, 1.5, 301)
    responses = window_responses(offsets, alpha=edge_decay(16), beta=1.6, half_length=16)
    assert set(responses) == {"two_sided", "one_sided", "gaussian"}
    for name, response in responses.items():
        assert response.magnitude.shape == response.gradient.shape == (301,), name
        assert abs(offsets[np.argmax(response.magnitude)]) <= 0.02, name  # main lobe centred (grid step 0.01)


def test_kernel_spectrum_of_a_single_tap_is_flat():
    kernel_re = torch.zeros(3, 5, dtype=torch.float64)
    kernel_re[:, 2] = 2.0  # only m = 0
    magnitude = kernel_spectrum(
        kernel_re, torch.zeros_like(kernel_re), torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64)
    )
    np.testing.assert_allclose(magnitude.numpy(), [2.0, 2.0, 2.0], atol=1e-12)


@pytest.mark.parametrize("window", ["two_sided", "one_sided", "gaussian"])
def test_window_gradient_matches_finite_differences(window):
    alpha, beta, half_length = 0.2, 1.3, 16
    offsets = np.array([-1.0, -0.3, 0.2, 0.9])
    gradient = window_responses(offsets, alpha, beta, half_length, windows=(window,))[window].gradient
    omega = torch.tensor(beta + offsets, dtype=torch.float64)
    step = 1e-6

    def magnitude(b):
        kernel_re, kernel_im = sblu_kernel(
            torch.full((4,), alpha, dtype=torch.float64),
            torch.full((4,), b, dtype=torch.float64),
            half_length,
            window=window,
        )
        return kernel_spectrum(kernel_re, kernel_im, omega).numpy()

    central = (magnitude(beta + step) - magnitude(beta - step)) / (2 * step)
    # float64 central differences with h = 1e-6 are accurate to about 1e-8 here
    np.testing.assert_allclose(gradient, np.abs(central), rtol=1e-5, atol=1e-8)


# ----------------------------------------------------------------------------------------------------------------
# Training curves
# ----------------------------------------------------------------------------------------------------------------
def test_read_training_curves_skips_events_and_bad_lines(tmp_path):
    path = write_metrics(tmp_path / "metrics.jsonl", FAKE_RECORDS, extra_lines=["{not json", "[1, 2]"])
    curves = read_training_curves(path)
    assert set(curves) == {*LOSS_TERMS, *MONITORING_TERMS}
    steps, values = curves[PATCH_LOSS]
    np.testing.assert_array_equal(steps, [5, 10])
    np.testing.assert_allclose(values, [1.5, 1.2])
    last_term = curves[LOSS_TERMS[-1]][1]
    assert last_term[0] == 2.0 and math.isnan(last_term[1])


def test_read_training_curves_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_training_curves(tmp_path / "missing.jsonl")
    only_events = write_metrics(tmp_path / "events.jsonl", [FAKE_RECORDS[0], FAKE_RECORDS[3]])
    with pytest.raises(ValueError, match="no training record with a loss term"):
        read_training_curves(only_events)


# ----------------------------------------------------------------------------------------------------------------
# What each figure draws, and the files
# ----------------------------------------------------------------------------------------------------------------
def line_by_label(axis, label):
    (line,) = [line for line in axis.get_lines() if line.get_label() == label]
    return line


def test_figure_data_of_a_checkpoint(checkpoint, tmp_path):
    config = AaSPConfig.from_pretrained(checkpoint)
    metrics = write_metrics(tmp_path / "metrics.jsonl", FAKE_RECORDS)
    data = figure_data(checkpoint, metrics=metrics, num_offsets=11)
    # Figure 4: the default modulation probe, 12.5 Hz then 37.5 Hz for 1.6 s each: 3.2 s = 321 frames = 21 patches
    assert data.figure4_segments == [(0.0, 1.6, 12.5), (1.6, 3.2, 37.5)]
    num_frames = 1 + int(3.2 * SAMPLING_RATE) // 160
    assert data.figure4.log_mel.shape == (num_frames, config.num_mel_bins)
    assert data.figure4.alpha.shape[0] == math.ceil(num_frames / config.time_patch_size) == 21
    # Figure 2: one row per default decay, offsets spanning the beta band around its middle
    assert list(data.figure2) == [SBLU_ALPHA_INIT, edge_decay(config.sblu_half_length)]
    assert data.beta == pytest.approx(0.5 * (config.beta_min + config.beta_max))
    for responses in data.figure2.values():
        assert list(responses) == list(WINDOWS)
        offsets = responses["two_sided"].offsets
        assert offsets.shape == (11,)
        assert data.beta + offsets[0] == pytest.approx(config.beta_min)
        assert data.beta + offsets[-1] == pytest.approx(config.beta_max)
    np.testing.assert_array_equal(data.training_curves[TOTAL][1], [2.0, 1.5])
    assert figure_data(checkpoint).training_curves is None


def test_figure4_draws_the_spectrogram_and_one_box_per_time_patch(model_and_extractor):
    model, feature_extractor = model_and_extractor
    waveform, segments = modulation_probe_clip(seconds_per_rate=0.8)
    estimates = estimate_sblu_per_time_patch(model, feature_extractor, waveform)
    figure = draw_figure4(estimates, segments=segments)
    spectrogram, alpha_axis, beta_axis = figure.axes[:3]
    np.testing.assert_array_equal(spectrogram.images[0].get_array(), estimates.log_mel.T)
    for axis, values in ((alpha_axis, estimates.alpha), (beta_axis, estimates.frequency_hz)):
        medians = [line for line in axis.get_lines() if line.get_gid() == "median"]
        assert len(medians) == len(estimates.patch_times)  # one box per time patch
        np.testing.assert_allclose([line.get_xdata().mean() for line in medians], estimates.patch_times)
        np.testing.assert_allclose([line.get_ydata()[0] for line in medians], np.median(values, axis=1), rtol=1e-6)


def test_figure2_draws_normalised_spectra_and_gradients_in_hz():
    offsets = np.linspace(-1.0, 1.0, 21)
    responses = {alpha: window_responses(offsets, alpha, beta=1.6, half_length=16) for alpha in (0.1, 0.3)}
    figure = draw_figure2(responses, frame_rate=100.0, beta=1.6, half_length=16)
    rows = np.asarray(figure.axes).reshape(2, 2)
    for (spectrum_axis, gradient_axis), alpha in zip(rows, (0.1, 0.3), strict=True):
        for window in WINDOWS:
            response = responses[alpha][window]
            spectrum = line_by_label(spectrum_axis, WINDOW_LABELS[window])
            gradient = line_by_label(gradient_axis, WINDOW_LABELS[window])
            np.testing.assert_allclose(spectrum.get_xdata(), offsets * 100.0 / (2 * math.pi))
            np.testing.assert_allclose(
                spectrum.get_ydata(), 20 * np.log10(response.magnitude / response.magnitude.max())
            )
            assert spectrum.get_ydata().max() == 0.0  # 0 dB at the peak
            np.testing.assert_array_equal(gradient.get_ydata(), response.gradient)


def test_training_curves_draw_one_panel_per_term_in_order(tmp_path):
    curves = read_training_curves(write_metrics(tmp_path / "metrics.jsonl", FAKE_RECORDS))
    figure = draw_training_curves(curves)
    panels = [axis for axis in figure.axes if axis.get_visible()]
    terms = [term for term in (*LOSS_TERMS, *MONITORING_TERMS) if term in curves]
    assert len(panels) == len(terms) == 8
    assert panels[0].get_title() == "total loss" and panels[1].get_title() == PATCH_LOSS.replace("_", " ")
    for axis, term in zip(panels, terms, strict=True):
        (line,) = axis.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), curves[term][0])
        np.testing.assert_array_equal(line.get_ydata(), curves[term][1])


def test_make_figures_writes_one_png_per_figure(checkpoint, tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", FAKE_RECORDS)
    written = make_figures(checkpoint, tmp_path / "figures", metrics=metrics)
    assert written == {name: tmp_path / "figures" / file for name, file in FIGURE_FILES.items()}
    for path in written.values():
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path


def test_make_figures_on_a_sound_file_and_without_aape(tmp_path):
    plain = save_checkpoint(tmp_path / "plain", use_aape=False)
    written = make_figures(plain, tmp_path / "plain_figures")
    assert set(written) == {"figure2"}  # no SBLU parameters to show, no metrics given

    audio = tmp_path / "clip.wav"
    soundfile.write(audio, 0.1 * np.random.default_rng(0).standard_normal(12000).astype(np.float32), 16000)
    data = figure_data(save_checkpoint(tmp_path / "aape"), audio=audio, alphas=(0.3,))
    assert data.figure4_segments is None and data.figure4_title.startswith("clip.wav")
    assert data.figure4.log_mel.shape[0] == 1 + 12000 // 160  # the sound file's frames, not the probe clip's
    assert list(data.figure2) == [0.3]


@pytest.mark.integration
def test_the_command_line_writes_the_figures_it_names(checkpoint, tmp_path):
    metrics = write_metrics(tmp_path / "metrics.jsonl", FAKE_RECORDS)
    command = [sys.executable, "-m", "research.figures", "--checkpoint", str(checkpoint)]
    command += ["--output_dir", str(tmp_path / "figures"), "--metrics", str(metrics), "--alphas", "0.3"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name, file in FIGURE_FILES.items():
        assert f"{name}: {tmp_path / 'figures' / file}" in result.stdout.splitlines()
        assert (tmp_path / "figures" / file).read_bytes()[:8] == PNG_SIGNATURE
