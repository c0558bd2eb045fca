#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pictures of what AaPE does, for any AaSP checkpoint (PNG files drawn with matplotlib's Agg backend).

    python -m research.figures --checkpoint outputs/demo/pretrain/final --output_dir outputs/demo/figures \
        --metrics outputs/demo/pretrain/metrics.jsonl

Writes into --output_dir (docs/demo.md tells how to read them):
* `figure4_sblu_parameters.png` (the paper's Figure 4): the log-mel spectrogram of a clip (--audio, default a
  modulation probe clip) and, under it, per-time-patch box plots of the SBLU decay alpha and of the SBLU frequency
  beta, the latter in Hz of modulation.
* `figure2_window_gradients.png` (the paper's Figure 2): window spectra |K(omega)| and gradient magnitudes
  |d|K(omega)| / d beta| against the frequency offset omega - beta for the two-sided, one-sided and Gaussian
  windows, computed with the project's own `sblu_kernel` and autograd.
* `training_curves.png` (only with --metrics): every loss term and monitoring scalar of a pre-training run.

The data behind each picture comes from a function that returns arrays (`estimate_sblu_per_time_patch`,
`window_responses`, `read_training_curves`; all of them for one checkpoint: `figure_data`), and each `draw_*`
function returns the matplotlib figure it drew from them, so the numbers can be checked without looking at a PNG.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging

from aasp_corpora.synthetic import synthesize_modulated_signal
from transformers_aasp.audio import ClipDecodeError, load_mono_waveform
from transformers_aasp.configuration_aasp import SBLU_ALPHA_INIT, AaSPConfig
from transformers_aasp.feature_extraction_aasp import AaSPFeatureExtractor
from transformers_aasp.modeling_aasp import (
    PRETRAINING_LOSS_TERMS,
    PRETRAINING_MONITORING_TERMS,
    AaSPModel,
    sblu_kernel,
)
from transformers_aasp.training.arguments import parse_arguments, run_main, setup_logging


logger = logging.get_logger(__name__)

WINDOWS = ("two_sided", "one_sided", "gaussian")
WINDOW_LABELS = {"two_sided": "two-sided (SBLU)", "one_sided": "one-sided (causal, SSM-like)", "gaussian": "Gaussian"}
WINDOW_COLORS = {"two_sided": "tab:blue", "one_sided": "tab:orange", "gaussian": "tab:green"}
LOSS_TERMS = PRETRAINING_LOSS_TERMS
MONITORING_TERMS = (*PRETRAINING_MONITORING_TERMS, "lr")
FIGURE_FILES = {
    "figure4": "figure4_sblu_parameters.png",
    "figure2": "figure2_window_gradients.png",
    "training_curves": "training_curves.png",
}
DEFAULT_PROBE_RATES_HZ = (12.5, 37.5)  # two classes of the embedded modulation probe, both above 3.125 Hz
DEFAULT_PROBE_SECONDS_PER_RATE = 1.6
DPI = 130


# ----------------------------------------------------------------------------------------------------------------
# Units
# ----------------------------------------------------------------------------------------------------------------
def radians_per_frame_to_hz(beta, frame_rate: float):
    """Angular frequency in rad/frame -> modulation frequency in Hz: beta * frame_rate / (2 pi).

    At the default 100 frames/s, pi rad/frame is 50 Hz and pi/16 (the post-patch Nyquist) is 3.125 Hz.
    Works on floats, numpy arrays and tensors alike.
    """
    return beta * frame_rate / (2 * math.pi)


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------
def load_checkpoint(checkpoint: str | os.PathLike) -> tuple[AaSPModel, AaSPFeatureExtractor]:
    """The AaSP encoder and feature extractor of any AaSP checkpoint folder (encoder, classifier or pre-training).

    Classifier and pre-training checkpoints hold the encoder under ``aasp.``; `AaSPModel.from_pretrained` keeps
    only those weights.
    """
    folder = Path(checkpoint)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint folder: it has no config.json.")
    config = AaSPConfig.from_pretrained(folder)
    if config.model_type != AaSPConfig.model_type:
        raise ValueError(f"{checkpoint} holds a {config.model_type!r} model, not an AaSP one.")
    model = AaSPModel.from_pretrained(folder).eval()
    feature_extractor = AaSPFeatureExtractor.from_pretrained(folder)
    return model, feature_extractor


def read_audio_file(path: str | os.PathLike, sampling_rate: int) -> np.ndarray:
    """A sound file as a (num_samples,) float32 mono waveform at `sampling_rate` (channels averaged, resampled).

    Decodes through the package's one audio path (`audio.load_mono_waveform`); an unreadable or empty file raises
    `audio.ClipDecodeError` (a ValueError) naming the file.
    """
    try:
        return load_mono_waveform(str(path), sampling_rate)
    except ClipDecodeError as error:
        raise ClipDecodeError(f"{path}: {error}") from error


def modulation_probe_clip(
    rates_hz: tuple[float, ...] = DEFAULT_PROBE_RATES_HZ,
    seconds_per_rate: float = DEFAULT_PROBE_SECONDS_PER_RATE,
    sampling_rate: int = 16000,
    seed: int = 0,
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """An amplitude-modulated tone whose modulation rate steps through `rates_hz`, like the embedded probe's clips.

    Every segment is drawn with the same seed, so carrier, depth and level are shared and only the rate changes.

    Returns:
        (waveform (num_samples,) float32 peak-normalised to 0.5, [(start_s, end_s, rate_hz) per segment]).
    """
    if not rates_hz:
        raise ValueError("modulation_probe_clip needs at least one modulation rate.")
    num_samples = round(seconds_per_rate * sampling_rate)
    segments, pieces = [], []
    for index, rate in enumerate(rates_hz):
        piece, _ = synthesize_modulated_signal(np.random.default_rng(seed), float(rate), "am_tone", num_samples)
        pieces.append(piece)
        segments.append((index * seconds_per_rate, (index + 1) * seconds_per_rate, float(rate)))
    waveform = np.concatenate(pieces)
    return (0.5 * waveform / np.max(np.abs(waveform))).astype(np.float32), segments


# ----------------------------------------------------------------------------------------------------------------
# Figure 4: spectrogram + per-time-patch SBLU parameters
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class SBLUEstimates:
    """What Figure 4 shows, for one clip (P = G_f * S * H estimates per time patch).

    Attributes:
        log_mel: (T, F) log-mel frames (natural log of mel power, i.e. the normalisation undone).
        frame_times: (T,) seconds of each frame.
        patch_times: (G_t,) seconds at the centre of each time patch.
        alpha: (G_t, P) SBLU decay per frame of every (frequency row, subband, kernel) of each time patch.
        beta: (G_t, P) SBLU frequency in rad/frame.
        frequency_hz: (G_t, P) the same frequency in Hz of modulation.
        band_hz: (low, high) band beta is restricted to, in Hz (by default 3.125 and 50 Hz).
        patch_seconds: duration of one time patch.
    """

    log_mel: np.ndarray
    frame_times: np.ndarray
    patch_times: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    frequency_hz: np.ndarray
    band_hz: tuple[float, float]
    patch_seconds: float


def per_time_patch(values: torch.Tensor, column_valid: torch.Tensor) -> np.ndarray:
    """(G_f, G_t, S, H) estimates of one clip -> (valid G_t, G_f * S * H): one row of estimates per time patch."""
    grid_t = values.shape[1]
    columns = values.permute(1, 0, 2, 3).reshape(grid_t, -1)
    return columns[column_valid].float().cpu().numpy()


@torch.no_grad()
def estimate_sblu_per_time_patch(
    model: AaSPModel, feature_extractor: AaSPFeatureExtractor, waveform: np.ndarray
) -> SBLUEstimates:
    """Runs the AaPE Lambda Encoder on one (num_samples,) waveform at the feature extractor's rate (Figure 4 data)."""
    config = model.config
    if not config.use_aape:
        raise ValueError("This checkpoint has use_aape=False (plain ViT stem): it estimates no SBLU parameters.")
    inputs = feature_extractor(waveform, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
    parameters = model.get_sblu_parameters(inputs["input_values"], inputs.get("attention_mask"))
    column_valid = parameters["patch_valid"][0, 0]  # (G_t,): a column is valid in every frequency row or none
    num_frames = feature_extractor.num_frames(len(waveform))
    log_mel = inputs["input_values"][0, :num_frames] * feature_extractor.std + feature_extractor.mean
    grid_t = int(column_valid.shape[0])
    patch_times = (np.arange(grid_t) + 0.5) * config.time_patch_size / config.frame_rate
    return SBLUEstimates(
        log_mel=log_mel.float().numpy(),
        frame_times=np.arange(num_frames) / config.frame_rate,
        patch_times=patch_times[column_valid.numpy()],
        alpha=per_time_patch(parameters["alpha"][0], column_valid),
        beta=per_time_patch(parameters["beta"][0], column_valid),
        frequency_hz=per_time_patch(parameters["frequency_hz"][0], column_valid),
        band_hz=(
            radians_per_frame_to_hz(config.beta_min, config.frame_rate),
            radians_per_frame_to_hz(config.beta_max, config.frame_rate),
        ),
        patch_seconds=config.time_patch_size / config.frame_rate,
    )


def draw_figure4(estimates: SBLUEstimates, title: str = "", segments: list[tuple[float, float, float]] | None = None):
    """Spectrogram on top, per-time-patch box plots of alpha and of beta (Hz) under it, on one time axis.

    Returns the matplotlib figure: axes[0] shows `estimates.log_mel.T`, axes[1] one box per time patch of
    `estimates.alpha`, axes[2] of `estimates.frequency_hz` (median lines have gid "median").
    """
    plt = _pyplot()
    figure, axes = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True, gridspec_kw={"height_ratios": [1.3, 1, 1]})
    duration = estimates.frame_times[-1] + 1 / max(len(estimates.frame_times), 1) if len(estimates.frame_times) else 0
    image = axes[0].imshow(
        estimates.log_mel.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0.0, duration, 0, estimates.log_mel.shape[1]),
    )
    colorbar_axis = axes[0].inset_axes([1.005, 0.0, 0.012, 1.0])  # outside the panel: the time axes stay aligned
    figure.colorbar(image, cax=colorbar_axis, label="ln mel power")
    axes[0].set_ylabel("mel bin")
    axes[0].set_title(title or "Log-mel spectrogram and the SBLU parameters AaPE estimates for each time patch")
    _draw_patch_boundaries(axes[0], estimates)
    _box_per_patch(axes[1], estimates.alpha, estimates, "tab:purple")
    axes[1].set_ylabel("decay α (1/frame)")
    _box_per_patch(axes[2], estimates.frequency_hz, estimates, "tab:cyan")
    axes[2].set_ylabel("frequency β (Hz of modulation)")
    axes[2].axhspan(
        *estimates.band_hz,
        color="0.92",
        zorder=0,
        label=f"alias-prone band {estimates.band_hz[0]:g}-{estimates.band_hz[1]:g} Hz",
    )
    if segments:
        for start, end, rate in segments:
            axes[2].hlines(rate, start, end, colors="tab:red", linestyles="--", linewidth=1.5)
        axes[2].plot([], [], "r--", label="true modulation rate of the clip")
    axes[2].legend(loc="upper right", fontsize=8, framealpha=0.9)
    axes[2].set_xlabel("time (s); one box per 16-frame patch, over frequency rows x subbands x kernels")
    axes[2].set_xlim(0.0, duration)
    figure.align_ylabels(axes)
    return figure


def plot_figure4(
    estimates: SBLUEstimates,
    path: str | os.PathLike,
    title: str = "",
    segments: list[tuple[float, float, float]] | None = None,
) -> Path:
    """`draw_figure4` saved as a PNG at `path`."""
    return _save(draw_figure4(estimates, title, segments), path)


def _draw_patch_boundaries(axis, estimates: SBLUEstimates) -> None:
    for centre in estimates.patch_times:
        axis.axvline(centre - estimates.patch_seconds / 2, color="white", linewidth=0.4, alpha=0.5)


def _box_per_patch(axis, values: np.ndarray, estimates: SBLUEstimates, color: str) -> None:
    axis.boxplot(
        list(values),
        positions=estimates.patch_times,
        widths=0.7 * estimates.patch_seconds,
        manage_ticks=False,
        patch_artist=True,
        showfliers=True,
        boxprops={"facecolor": color, "alpha": 0.6},
        medianprops={"color": "black", "gid": "median"},
        flierprops={"markersize": 2, "alpha": 0.5},
    )
    axis.grid(axis="y", alpha=0.3)


# ----------------------------------------------------------------------------------------------------------------
# Figure 2: window spectra and gradients with respect to beta
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class WindowResponse:
    """Figure 2 data for one window, evaluated at input frequencies omega = beta + offset.

    Attributes:
        offsets: (N,) frequency offsets omega - beta in rad/frame.
        magnitude: (N,) |K(omega)|, K(omega) = sum_m k[m] exp(-j omega m) (the DTFT of the SBLU kernel).
        gradient: (N,) |d|K(omega)| / d beta| at fixed omega (autograd through `sblu_kernel`).
    """

    offsets: np.ndarray
    magnitude: np.ndarray
    gradient: np.ndarray


def kernel_spectrum(kernel_re: torch.Tensor, kernel_im: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """|K(omega)| for kernels (N, 2c + 1) (taps m = -c..c) and one input frequency per kernel (N,): (N,).

    K(omega) = sum_m k[m] exp(-j omega m). With k[m] = g w(m) exp(-j beta |m|) the taps m <= 0 peak at omega = beta,
    so every window (the one-sided one keeps only those taps) has its main lobe at offset 0.
    """
    half_length = (kernel_re.shape[-1] - 1) // 2
    taps = torch.arange(-half_length, half_length + 1, dtype=omega.dtype, device=omega.device)
    phase = omega[:, None] * taps[None, :]
    real = (kernel_re * torch.cos(phase) + kernel_im * torch.sin(phase)).sum(-1)
    imag = (kernel_im * torch.cos(phase) - kernel_re * torch.sin(phase)).sum(-1)
    return torch.sqrt(real**2 + imag**2 + 1e-30)


def window_responses(
    offsets: np.ndarray, alpha: float, beta: float, half_length: int, windows: tuple[str, ...] = WINDOWS
) -> dict[str, WindowResponse]:
    """|K(beta + offset)| and |d|K(beta + offset)| / d beta| for each window (float64, exact autograd)."""
    offsets_t = torch.as_tensor(offsets, dtype=torch.float64)
    omega = beta + offsets_t
    responses = {}
    for window in windows:
        beta_t = torch.full_like(offsets_t, beta).requires_grad_(True)  # one copy per offset: per-offset gradients
        alpha_t = torch.full_like(offsets_t, alpha)
        kernel_re, kernel_im = sblu_kernel(alpha_t, beta_t, half_length, window=window)
        magnitude = kernel_spectrum(kernel_re, kernel_im, omega)
        (gradient,) = torch.autograd.grad(magnitude.sum(), beta_t)
        responses[window] = WindowResponse(
            np.asarray(offsets, dtype=np.float64), magnitude.detach().numpy(), gradient.abs().numpy()
        )
    return responses


def edge_decay(half_length: int, edge_level: float = 0.01) -> float:
    """Decay alpha (1/frame) at which the two-sided window exp(-alpha |m|) falls to `edge_level` at |m| = c."""
    if half_length <= 0 or not 0.0 < edge_level < 1.0:
        raise ValueError(f"edge_decay needs half_length > 0 and 0 < edge_level < 1, got {half_length}, {edge_level}.")
    return math.log(1.0 / edge_level) / half_length


def draw_figure2(
    responses_per_alpha: dict[float, dict[str, WindowResponse]], frame_rate: float, beta: float, half_length: int
):
    """One row per decay alpha: normalised |K| in dB (left) and |d|K|/d beta| on a log scale (right), against the
    frequency offset in Hz.

    Returns the matplotlib figure: in row r (the r-th alpha), the line labelled `WINDOW_LABELS[window]` holds
    (offset in Hz, 20 log10(magnitude / its peak)) on the left and (offset in Hz, gradient) on the right.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(
        len(responses_per_alpha), 2, figsize=(12, 4.0 * len(responses_per_alpha)), squeeze=False
    )
    for row, (alpha, responses) in zip(axes, responses_per_alpha.items(), strict=True):
        for window, response in responses.items():
            offsets_hz = radians_per_frame_to_hz(response.offsets, frame_rate)
            style = {"color": WINDOW_COLORS.get(window), "label": WINDOW_LABELS.get(window, window), "linewidth": 1.6}
            row[0].plot(offsets_hz, 20 * np.log10(response.magnitude / response.magnitude.max()), **style)
            row[1].semilogy(offsets_hz, response.gradient, **style)
        largest = max(response.gradient.max() for response in responses.values())
        row[1].set_ylim(largest * 1e-4, largest * 2)  # the exact zeros of the derivative would stretch the axis
        row[0].set_ylim(bottom=max(row[0].get_ylim()[0], -60.0), top=3.0)
        row[0].set_ylabel("|K(ω)| relative to its peak (dB)")
        row[1].set_ylabel("|d|K(ω)| / dβ|")
        row[0].set_title(f"Window spectra, α = {alpha:.3g}/frame")
        row[1].set_title(f"Gradient magnitude with respect to β, α = {alpha:.3g}/frame")
        for axis in row:
            axis.axvline(0.0, color="0.5", linewidth=0.8)
            axis.grid(alpha=0.3)
    for axis in axes[-1]:
        axis.set_xlabel("frequency offset ω − β (Hz of modulation)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, -0.03), fontsize=10)
    figure.suptitle(
        f"SBLU windows from sblu_kernel: β = {radians_per_frame_to_hz(beta, frame_rate):.1f} Hz "
        f"({beta:.2f} rad/frame), {2 * half_length + 1} taps; the two-sided kernel also has a mirror lobe "
        "at ω = −β, outside this range",
        fontsize=10,
    )
    return figure


def plot_figure2(
    responses_per_alpha: dict[float, dict[str, WindowResponse]],
    path: str | os.PathLike,
    frame_rate: float,
    beta: float,
    half_length: int,
) -> Path:
    """`draw_figure2` saved as a PNG at `path`."""
    return _save(draw_figure2(responses_per_alpha, frame_rate, beta, half_length), path)


# ----------------------------------------------------------------------------------------------------------------
# Training curves
# ----------------------------------------------------------------------------------------------------------------
def read_training_curves(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Loss terms and monitoring scalars per step from a pre-training ``metrics.jsonl``.

    Event records (``"event"`` key) are ignored; lines that are not JSON objects are skipped, counted and logged.
    Non-finite values written as strings ("nan") come back as NaN.

    Returns:
        {term: (steps (N,) int64, values (N,) float64)} for every term of `LOSS_TERMS` and `MONITORING_TERMS` found.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Metrics file {path} does not exist.")
    records, bad_lines = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad_lines += 1
            continue
        if not isinstance(record, dict):
            bad_lines += 1
        elif "event" not in record and "step" in record:
            records.append(record)
    if bad_lines:
        logger.warning(f"{path}: skipped {bad_lines} line(s) that are not JSON objects.")
    curves = {}
    for term in (*LOSS_TERMS, *MONITORING_TERMS):
        rows = [(int(r["step"]), _as_float(r[term])) for r in records if term in r]
        if rows:
            steps, values = np.asarray(sorted(rows), dtype=np.float64).T
            curves[term] = (steps.astype(np.int64), values)
    if not any(term in curves for term in LOSS_TERMS):
        raise ValueError(f"{path} holds no training record with a loss term ({', '.join(LOSS_TERMS)}).")
    return curves


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def draw_training_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str = ""):
    """One panel per term (losses first, in `LOSS_TERMS` then `MONITORING_TERMS` order), shared step axis.

    Returns the matplotlib figure; the visible panels, in that order, each hold one line: (steps, values) of a term.
    """
    plt = _pyplot()
    terms = [term for term in (*LOSS_TERMS, *MONITORING_TERMS) if term in curves]
    columns = 4 if len(terms) > 4 else len(terms)
    rows = math.ceil(len(terms) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.0 * rows), squeeze=False)
    for axis, term in zip(axes.flat, terms, strict=False):  # the last row may have more panels than terms
        steps, values = curves[term]
        axis.plot(
            steps,
            values,
            marker="o" if len(steps) < 30 else None,
            markersize=3,
            color="tab:red" if term in LOSS_TERMS else "tab:gray",
        )
        axis.set_title("total loss" if term == "loss" else term.replace("_", " "), fontsize=10)
        axis.set_xlabel("optimizer step")
        axis.grid(alpha=0.3)
        if term == "lr":
            axis.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    for axis in list(axes.flat)[len(terms) :]:
        axis.set_visible(False)
    figure.suptitle(title or "AaSP pre-training: loss terms (red) and monitoring scalars (grey)", fontsize=11)
    return figure


def plot_training_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, title: str = ""
) -> Path:
    """`draw_training_curves` saved as a PNG at `path`."""
    return _save(draw_training_curves(curves, title), path)


# ----------------------------------------------------------------------------------------------------------------
# All figures
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class FigureData:
    """Everything the figures of one checkpoint show.

    Attributes:
        figure4: SBLU estimates of the Figure 4 clip; None for a checkpoint without AaPE.
        figure4_title: title of Figure 4.
        figure4_segments: [(start_s, end_s, true modulation rate in Hz)] of the probe clip; None for a sound file.
        figure2: {alpha: {window: WindowResponse}}, one row of Figure 2 per alpha.
        beta: the SBLU frequency (rad/frame) Figure 2 is evaluated at (mid-band).
        frame_rate: spectrogram frames per second (to convert rad/frame to Hz).
        half_length: SBLU kernel half-length c (2c + 1 taps).
        training_curves: `read_training_curves` of the metrics file; None without one.
    """

    figure4: SBLUEstimates | None
    figure4_title: str
    figure4_segments: list[tuple[float, float, float]] | None
    figure2: dict[float, dict[str, WindowResponse]]
    beta: float
    frame_rate: float
    half_length: int
    training_curves: dict[str, tuple[np.ndarray, np.ndarray]] | None


def figure_data(
    checkpoint: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    audio: str | os.PathLike | None = None,
    alphas: tuple[float, ...] | None = None,
    num_offsets: int = 801,
    model: AaSPModel | None = None,
) -> FigureData:
    """The arrays behind every figure of `checkpoint` (arguments as in `make_figures`).

    Figure 2 is evaluated at the mid-band beta = (beta_min + beta_max) / 2 on `num_offsets` offsets spanning the band
    (beta_min - beta .. beta_max - beta), so the curves reach both band edges.
    """
    if model is None:
        model, feature_extractor = load_checkpoint(checkpoint)
    else:
        model, feature_extractor = model.eval(), AaSPFeatureExtractor.from_pretrained(checkpoint)
    config = model.config
    estimates, title, segments = None, "", None
    if config.use_aape:
        if audio is None:
            waveform, segments = modulation_probe_clip(sampling_rate=feature_extractor.sampling_rate)
            title = "Modulation probe: AM tone at 12.5 Hz, then 37.5 Hz (both alias at 6.25 tokens/s)"
        else:
            waveform = read_audio_file(audio, feature_extractor.sampling_rate)
            title = f"{Path(audio).name}: log-mel spectrogram and per-time-patch SBLU parameters"
        estimates = estimate_sblu_per_time_patch(model, feature_extractor, waveform)
    else:
        logger.warning(f"{checkpoint} has use_aape=False: no SBLU parameters, so Figure 4 is not drawn.")
    if alphas is None:
        alphas = (SBLU_ALPHA_INIT, edge_decay(config.sblu_half_length))
    beta = 0.5 * (config.beta_min + config.beta_max)
    offsets = np.linspace(config.beta_min - beta, config.beta_max - beta, num_offsets)
    return FigureData(
        figure4=estimates,
        figure4_title=title,
        figure4_segments=segments,
        figure2={alpha: window_responses(offsets, alpha, beta, config.sblu_half_length) for alpha in alphas},
        beta=beta,
        frame_rate=config.frame_rate,
        half_length=config.sblu_half_length,
        training_curves=read_training_curves(metrics) if metrics is not None else None,
    )


def make_figures(
    checkpoint: str | os.PathLike,
    output_dir: str | os.PathLike,
    metrics: str | os.PathLike | None = None,
    audio: str | os.PathLike | None = None,
    alphas: tuple[float, ...] | None = None,
    model: AaSPModel | None = None,
) -> dict[str, Path]:
    """Writes the PNGs for `checkpoint` into `output_dir` and returns {figure name: path}.

    Args:
        checkpoint: any AaSP checkpoint folder (its encoder and feature extractor are used).
        output_dir: created if needed.
        metrics: a pre-training ``metrics.jsonl``; without it there is no training-curve figure.
        audio: sound file for Figure 4; default: a modulation-probe clip (AM tone at 12.5 Hz, then 37.5 Hz).
        alphas: SBLU decays (1/frame) for the rows of Figure 2; default: the initial decay ``SBLU_ALPHA_INIT`` and the
            decay at which the two-sided window falls to 1 % at the kernel's edge (`edge_decay`).
        model: an encoder to draw instead of the checkpoint's (a research arm's, which the package does not load);
            the feature extractor still comes from `checkpoint`.
    """
    _pyplot()  # fails before any work when matplotlib is missing
    data = figure_data(checkpoint, metrics=metrics, audio=audio, alphas=alphas, model=model)
    output_dir = Path(output_dir)
    written = {}
    if data.figure4 is not None:
        figure = draw_figure4(data.figure4, data.figure4_title, data.figure4_segments)
        written["figure4"] = _save(figure, output_dir / FIGURE_FILES["figure4"])
    figure = draw_figure2(data.figure2, data.frame_rate, data.beta, data.half_length)
    written["figure2"] = _save(figure, output_dir / FIGURE_FILES["figure2"])
    if data.training_curves is not None:
        figure = draw_training_curves(data.training_curves)
        written["training_curves"] = _save(figure, output_dir / FIGURE_FILES["training_curves"])
    for name, path in written.items():
        logger.info(f"Wrote {name}: {path}")
    return written


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "Drawing the AaSP figures needs matplotlib, which the package's extras leave out: "
            "pip install matplotlib (or 'transformers-aasp[dev]')."
        ) from error

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    _pyplot().close(figure)
    return path


@dataclass
class FigureArguments:
    checkpoint: str = field(metadata={"help": "AaSP checkpoint folder (encoder, classifier or pre-training)."})
    output_dir: str = field(metadata={"help": "Folder the PNG files are written to."})
    metrics: str | None = field(default=None, metadata={"help": "metrics.jsonl of a pre-training run (curves)."})
    audio: str | None = field(default=None, metadata={"help": "Sound file for Figure 4 (default: a probe clip)."})
    alphas: list[float] | None = field(
        default=None,
        metadata={
            "help": "SBLU decays per frame, one row of Figure 2 each (default: the initial SBLU decay and the "
            "decay whose window falls to 1 %% at the kernel's edge).",
            "nargs": "+",
        },
    )


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Runs the command line `argv` (default: sys.argv); returns {figure name: path}."""
    (args,) = parse_arguments((FigureArguments,), argv)
    setup_logging("warning")
    alphas = tuple(args.alphas) if args.alphas else None
    written = make_figures(args.checkpoint, args.output_dir, metrics=args.metrics, audio=args.audio, alphas=alphas)
    for name, path in written.items():
        print(f"{name}: {path}")
    return written


if __name__ == "__main__":
    run_main(main)
