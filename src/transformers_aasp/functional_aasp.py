# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tensor functions of the AaSP model (no parameters): positions, the reflection of signals at the ends of their
runs, the zero-phase high-pass, the SBLU kernel and its convolution, the spectral peak and the band-energy grid, input
checks, patches, the pre-training masks and losses. The modules that use them, and the shape names (B, T, F, N...),
are in modeling_aasp.py.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from transformers.processing_utils import Unpack  # pyright: ignore[reportAttributeAccessIssue]
from transformers.utils import TransformersKwargs

from .configuration_aasp import BETA_ANCHOR_SPREAD, MASK_OVERLAP_ADJUST, SBLU_ALPHA_INIT, SBLU_ALPHA_MIN, AaSPConfig


# ---- Geometry and signal helpers ------------------------------------------------------------------------------------
def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin-cos embedding of integer positions: (P,) -> (P, dim)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32, device=positions.device) / (dim / 2))
    angles = positions.float()[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d_position_embeddings(grid_f: int, grid_t: int, dim: int, device=None) -> torch.Tensor:
    """Fixed 2-D sin-cos position embeddings of a (grid_f, grid_t) grid: (grid_f * grid_t, dim), frequency-major; half
    of the channels encode the row and half the column, so any clip length gets positions without interpolation."""
    rows = sincos_1d(torch.arange(grid_f, device=device), dim // 2)
    cols = sincos_1d(torch.arange(grid_t, device=device), dim // 2)
    grid = torch.cat([rows[:, None].expand(grid_f, grid_t, -1), cols[None].expand(grid_f, grid_t, -1)], dim=-1)
    return grid.reshape(grid_f * grid_t, dim)


def reflect_into_runs(positions: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Fold frame positions into the run [start, start + length) by mirror reflection (edge frame not repeated).

    All arguments broadcast against each other (integer tensors; lengths >= 1). Reflection is applied periodically,
    so any position maps into the run. Returns indices in [start, start + length).
    """
    lengths = lengths.long()
    period = (2 * (lengths - 1)).clamp(min=1)
    folded = torch.remainder(positions - starts, period)
    mirrored = torch.where(folded >= lengths, period - folded, folded)
    return starts + torch.where(lengths == 1, torch.zeros_like(mirrored), mirrored)


def visible_runs(visible_grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, G_f, G_t) bool -> (first, last), each (B, G_f, G_t) long: the first and last time column of the run of
    visible columns holding each patch, per patch row; for a hidden patch both are its own column."""
    grid_t = visible_grid.shape[-1]
    columns = torch.arange(grid_t, device=visible_grid.device).expand_as(visible_grid)
    # a run starts at a visible column whose left neighbour is hidden; carry the latest start to the right
    hidden_before = F.pad(~visible_grid[..., :-1], (1, 0), value=True)
    starts = torch.where(visible_grid & hidden_before, columns, torch.zeros_like(columns))
    first = torch.cummax(starts, dim=-1).values
    ends = torch.where(visible_grid & F.pad(~visible_grid[..., 1:], (0, 1), value=True), columns, grid_t)
    last = torch.flip(torch.cummin(torch.flip(ends, [-1]), dim=-1).values, [-1])
    first = torch.where(visible_grid, first, columns)
    last = torch.where(visible_grid, last, columns)
    return first, last


def highpass_taps(time_patch_size: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Zero-phase FIR high-pass with cutoff pi / p_t rad/frame: (2 * p_t + 1,) symmetric taps.

    Windowed sinc (Hann window) low-pass normalised to unit DC gain, subtracted from a unit impulse, so the DC gain
    is exactly 0 and the filter is symmetric (zero phase, no delay).
    """
    n = torch.arange(-time_patch_size, time_patch_size + 1, dtype=torch.float64, device=device)
    lowpass = torch.sinc(n / time_patch_size) * (0.5 + 0.5 * torch.cos(math.pi * n / (time_patch_size + 1)))
    taps = -lowpass / lowpass.sum()
    taps[time_patch_size] += 1.0
    return taps.to(dtype)


def sblu_log_window(offsets: torch.Tensor, alpha: torch.Tensor, window: str) -> torch.Tensor:
    """log w(m) of the SBLU kernel's window at integer tap offsets m: (K_taps,) offsets and (...,) alpha -> (..., K_taps).

    `window`: "two_sided" exp(-alpha |m|), "one_sided" exp(-alpha |m|) for m <= 0 (a causal, SSM-style kernel in the
    correlation form y[n] = sum_m k[m] u[n + m]; `sblu_kernel` applies the zeros for m > 0), or "gaussian"
    exp(-(alpha m)^2 / 2).
    """
    scaled = alpha[..., None] * offsets.abs()
    if window in ("two_sided", "one_sided"):
        return -scaled
    if window == "gaussian":
        return -0.5 * scaled**2
    raise ValueError(f"Unknown SBLU window {window!r}; expected 'two_sided', 'one_sided' or 'gaussian'.")


def sblu_kernel(
    alpha: torch.Tensor, beta: torch.Tensor, half_length: int, window: str = "two_sided", carrier: str = "abs"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Discrete SBLU kernel k[m] = 2 Lambda^-1 sinh(Lambda / 2) w(m) exp(-j beta phi(m)), Lambda = alpha + j beta.

    With `carrier="abs"` (phi(m) = |m|) and the two-sided window w(m) = exp(-alpha |m|) this is exactly
    2 Lambda^-1 sinh(Lambda / 2) exp(-Lambda |m|): the integral of exp(-Lambda |t|) over one sample cell.
    Its real and imaginary parts are both even in m (zero phase). With `carrier="linear"` (phi(m) = m) the kernel is
    an analytic band-pass centred on beta: y[n] = sum_m k[m] u[n + m] demodulates u at beta, and |y| is the band's
    envelope. Computed in real arithmetic (no complex dtype) so that it autocasts, compiles and differentiates
    everywhere. (...,) decay alpha > 0 per frame and beta in rad/frame -> (real, imag), each (..., 2c + 1), over
    the taps m = -c..c of `half_length` c.
    """
    if carrier not in ("abs", "linear"):
        raise ValueError(f"Unknown SBLU carrier {carrier!r}; expected 'abs' or 'linear'.")
    offsets = torch.arange(-half_length, half_length + 1, device=alpha.device).to(alpha.dtype)
    # g = 2 sinh(Lambda/2) / Lambda, as a log-modulus and an angle, so that the (..., taps) tensors are built with
    # one exp, one cos and one sin: k[m] = exp(log|g| + log w(m)) * exp(j (angle(g) - beta phi(m))).
    sinh_re = torch.sinh(alpha / 2) * torch.cos(beta / 2)
    sinh_im = torch.cosh(alpha / 2) * torch.sin(beta / 2)
    norm = alpha**2 + beta**2
    gain_re = 2 * (sinh_re * alpha + sinh_im * beta) / norm
    gain_im = 2 * (sinh_im * alpha - sinh_re * beta) / norm
    log_gain = 0.5 * torch.log(gain_re.square() + gain_im.square())
    amplitude = torch.exp(log_gain[..., None] + sblu_log_window(offsets, alpha, window))
    if window == "one_sided":
        amplitude = amplitude * (offsets <= 0).to(amplitude.dtype)
    carrier_offsets = offsets.abs() if carrier == "abs" else offsets
    phase = torch.atan2(gain_im, gain_re)[..., None] - beta[..., None] * carrier_offsets
    return amplitude * torch.cos(phase), amplitude * torch.sin(phase)


def apply_sblu(windows: torch.Tensor, kernel_re: torch.Tensor, kernel_im: torch.Tensor) -> torch.Tensor:
    """Adaptive depthwise SBLU convolution y[n] = sum_m k[m] u[n + m], one kernel per (patch, subband, kernel index),
    at the p_t frames of each patch: (B, K, S, p_t + 2c) windows and (B, K, S, H, 2c + 1) kernels -> (B, K, S, 2H, p_t),
    real parts of the H kernels, then imaginary parts. Each window is unfolded into (p_t, taps) frames and multiplied
    by its patch's (taps, 2H) kernels in one batched matmul: memory linear in N * S * p_t * taps, and much faster on
    CPU than an einsum over the strided view.
    """
    taps = kernel_re.shape[-1]
    frames = windows.unfold(-1, taps, 1).contiguous()  # (B, K, S, p_t, taps)
    kernels = torch.cat([kernel_re, kernel_im], dim=-2).to(frames.dtype)  # (B, K, S, 2H, taps)
    return torch.matmul(frames, kernels.transpose(-1, -2)).transpose(-1, -2)


SPECTRAL_PEAK_FFT_SIZE = 256  # periodogram points of `spectral_peak`: 2 pi / 256 rad/frame, 0.39 Hz at 100 frames/s


def spectral_peak(windows: torch.Tensor, beta_min: float, beta_max: float) -> torch.Tensor:
    """(..., W) signal -> (...,) float32: the frequency (rad/frame) of its largest periodogram bin inside
    [beta_min, beta_max], Hann-tapered and zero-padded to `SPECTRAL_PEAK_FFT_SIZE` points. An arg-max: no gradient
    flows through it (the Lambda Encoder learns where to place the kernels around it)."""
    with torch.no_grad():
        length = windows.shape[-1]
        size = max(SPECTRAL_PEAK_FFT_SIZE, length)
        taper = torch.hann_window(length, periodic=False, dtype=torch.float32, device=windows.device)
        power = torch.fft.rfft(windows.float() * taper, n=size).abs().square()
        frequencies = torch.arange(power.shape[-1], device=windows.device, dtype=torch.float32) * (2 * math.pi / size)
        outside = (frequencies < beta_min) | (frequencies > beta_max)
        return frequencies[power.masked_fill(outside, -1.0).argmax(-1)]


def anchor_beta(peak: torch.Tensor, beta: torch.Tensor, config: AaSPConfig) -> torch.Tensor:
    """Kernel frequencies (B, K, S, H) placed around each patch's spectral peak (B, K, S) (`alias_features=
    "band_energy"`), all in rad/frame. The Lambda Encoder's beta (B, K, S, H) is read as its sigmoid output
    u = (beta - beta_min) / (beta_max - beta_min) in (0, 1), and the kernel goes to
    peak + (2u - 1) * BETA_ANCHOR_SPREAD * (beta_max - beta_min), clipped to the band. At initialisation the H
    kernels sit evenly around the peak, so the median of a patch's betas is its peak.
    """
    band = config.beta_max - config.beta_min
    placement = (beta - config.beta_min) / band
    anchored = peak[..., None] + (2 * placement - 1) * (BETA_ANCHOR_SPREAD * band)
    return anchored.clamp(config.beta_min, config.beta_max)


def kernel_quantiles(num_kernels: int, device=None) -> torch.Tensor:
    """(H,) float32 (h + 1/2) / H for h = 0..H-1: where the H kernels start, as a fraction of the band."""
    return (torch.arange(num_kernels, dtype=torch.float32, device=device) + 0.5) / num_kernels


def beta_grid(config: AaSPConfig, device=None) -> torch.Tensor:
    """(H,) the fixed frequencies of the band-energy features: the initial betas, (h + 1/2) / H of the band."""
    return config.beta_min + (config.beta_max - config.beta_min) * kernel_quantiles(config.num_kernels, device)


def energy_on_grid(energy: torch.Tensor, beta: torch.Tensor, config: AaSPConfig) -> torch.Tensor:
    """(..., H) band energies of kernels at (..., H) betas -> (..., H) energy per fixed frequency of `beta_grid`: a
    kernel between two neighbouring grid frequencies shares its energy between them in proportion to its closeness
    (linear interpolation weights)."""
    grid = beta_grid(config, energy.device)
    spacing = (config.beta_max - config.beta_min) / config.num_kernels
    weights = (1 - (beta[..., :, None].float() - grid).abs() / spacing).clamp(min=0)  # (..., H kernels, H grid)
    return (weights * energy[..., :, None]).sum(-2)


def check_input_values(input_values: torch.Tensor, num_mel_bins: int) -> None:
    """Raise a clear error unless `input_values` is a floating (B >= 1, T >= 1, num_mel_bins) tensor."""
    if not isinstance(input_values, torch.Tensor):
        raise TypeError(
            f"input_values must be a torch.Tensor of log-mel frames, got {type(input_values).__name__}. "
            "Use AaSPFeatureExtractor(..., return_tensors='pt') to turn waveforms into log-mel frames."
        )
    if input_values.dim() != 3 or input_values.shape[-1] != num_mel_bins:
        raise ValueError(
            f"input_values must have shape (batch, frames, {num_mel_bins}), got {tuple(input_values.shape)}. "
            "Use AaSPFeatureExtractor to turn waveforms into log-mel frames."
        )
    if input_values.shape[0] == 0 or input_values.shape[1] == 0:
        what = "an empty batch" if input_values.shape[0] == 0 else "clips of zero frames"
        raise ValueError(f"input_values has shape {tuple(input_values.shape)}: {what}; pass at least one frame.")
    if not input_values.is_floating_point():
        raise TypeError(f"input_values must hold floating-point log-mel values, got dtype {input_values.dtype}.")


def frame_lengths_from_mask(
    attention_mask: torch.Tensor | None, batch_size: int, num_frames: int, device, check_values: bool = True
):
    """(B,) valid frames per clip from a (B, T) frame attention mask, or all frames when the mask is None. A mask that
    is not 0/1, not right-padded, or gives a clip no real frame raises a ValueError naming the first offending clip
    (a device-to-host read: skipped with `check_values=False` and while torch.compile traces)."""
    if attention_mask is None:
        return torch.full((batch_size,), num_frames, dtype=torch.long, device=device)
    if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != (batch_size, num_frames):
        shape = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask)
        raise ValueError(f"attention_mask must have shape (batch, frames) = {(batch_size, num_frames)}, got {shape}.")
    real = attention_mask != 0
    lengths = real.sum(-1)
    if check_values and not torch.compiler.is_compiling():
        check_frame_attention_mask(attention_mask, real, lengths)
    return lengths.to(device=device, dtype=torch.long)


def check_frame_attention_mask(attention_mask: torch.Tensor, real: torch.Tensor, lengths: torch.Tensor) -> None:
    """Raise a ValueError unless the (B, T) mask is 0/1, right-padded and has a real frame in every clip; a valid mask
    costs one device-to-host synchronisation, the offending clip is located only on failure."""
    if attention_mask.is_complex():
        raise ValueError(f"attention_mask must hold 0 and 1, got dtype {attention_mask.dtype}.")
    binary = (attention_mask == 0) | (attention_mask == 1)
    right_padded = torch.arange(real.shape[1], device=real.device)[None] < lengths[:, None]
    if bool(binary.all() & lengths.all() & (real == right_padded).all()):
        return
    if not bool(binary.all()):
        clip, frame = (~binary).nonzero()[0].tolist()
        raise ValueError(
            f"attention_mask must hold only 0 (padding) and 1 (real frame); clip {clip} has "
            f"{attention_mask[clip, frame].item()} at frame {frame}."
        )
    if not bool(lengths.all()):
        clip = int((lengths == 0).nonzero()[0])
        raise ValueError(
            f"attention_mask gives clip {clip} no real frame (all 0); every clip needs at least one frame."
        )
    clip = int((real != right_padded).any(1).nonzero()[0])
    raise ValueError(
        f"attention_mask of clip {clip} is not right-padded: a clip's 1s must come first and its 0s last "
        "(no left padding, no gaps). AaSPFeatureExtractor pads on the right."
    )


def zero_padding_frames(
    input_values: torch.Tensor,
    frame_lengths: torch.Tensor,
    padded_frames: int,
    dtype: torch.dtype,
    check_values: bool = True,
) -> torch.Tensor:
    """(B, T, F) -> (B, padded_frames, F) in `dtype`, every frame past each clip's length replaced (not multiplied)
    by zeros, so a NaN or Inf in padding cannot reach any output; one in a real frame raises a ValueError (a
    device-to-host read: skipped with `check_values=False` and while torch.compile traces)."""
    input_values = F.pad(input_values.to(dtype), (0, 0, 0, padded_frames - input_values.shape[1]))
    frame_valid = torch.arange(padded_frames, device=input_values.device)[None] < frame_lengths[:, None]
    spectrogram = torch.where(frame_valid[..., None], input_values, torch.zeros((), dtype=dtype))
    if check_values and not torch.compiler.is_compiling():
        finite = torch.isfinite(spectrogram).flatten(1).all(1)
        if not bool(finite.all()):
            clip = int((~finite).nonzero()[0])
            raise ValueError(
                f"input_values of clip {clip} holds NaN or Inf in its real (unpadded) frames; the model refuses "
                "non-finite input rather than return NaN. Check the audio and the feature extractor's statistics."
            )
    return spectrogram


def validate_input_values(input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> None:
    """The forward's value checks of (B, T, F) frames and their (B, T) mask, with its ValueErrors, for the data side
    to run once where they cost no synchronisation (collate, on the host); the step then passes `check_values=False`."""
    batch, frames = input_values.shape[:2]
    lengths = frame_lengths_from_mask(attention_mask, batch, frames, input_values.device)
    zero_padding_frames(input_values, lengths, frames, input_values.dtype)


def patchify(spectrogram: torch.Tensor, patch_f: int, patch_t: int) -> torch.Tensor:
    """(B, T, F) -> (B, N, p_f * p_t) flattened patches in frequency-major order (T and F multiples of the patch)."""
    batch, frames, bins = spectrogram.shape
    grid_f, grid_t = bins // patch_f, frames // patch_t
    patches = spectrogram.transpose(1, 2).reshape(batch, grid_f, patch_f, grid_t, patch_t)
    return patches.permute(0, 1, 3, 2, 4).reshape(batch, grid_f * grid_t, patch_f * patch_t)


def gather_patches(tensor: torch.Tensor, patch_indices: torch.Tensor | None) -> torch.Tensor:
    """Select patches: (B, N, ...) with indices (B, K) -> (B, K, ...); identity when indices are None."""
    if patch_indices is None:
        return tensor
    index = patch_indices.reshape(*patch_indices.shape, *([1] * (tensor.dim() - 2)))
    return torch.gather(tensor, 1, index.expand(-1, -1, *tensor.shape[2:]))


# ---- AaPE parameters, pooling, pre-training masks and losses --------------------------------------------------------
def lambda_from_raw(raw: torch.Tensor, config: AaSPConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Unconstrained (..., 2) values -> SBLU decay alpha = alpha_min + softplus(a) per frame and frequency
    beta = beta_min + (beta_max - beta_min) * sigmoid(b), always in the alias-prone band (pi / p_t, pi) rad/frame."""
    raw = raw.float()
    alpha = SBLU_ALPHA_MIN + F.softplus(raw[..., 0])
    beta = config.beta_min + (config.beta_max - config.beta_min) * torch.sigmoid(raw[..., 1])
    return alpha, beta


def initial_lambda_raw(config: AaSPConfig) -> torch.Tensor:
    """Raw values giving alpha = SBLU_ALPHA_INIT and betas spread evenly over the band across H kernels: (S, H, 2)."""
    a = math.log(math.expm1(SBLU_ALPHA_INIT - SBLU_ALPHA_MIN))
    b = torch.logit(kernel_quantiles(config.num_kernels))
    raw = torch.stack([torch.full_like(b, a), b], dim=-1)  # (H, 2)
    return raw[None].expand(config.num_subbands, -1, -1).clone()


def annealed_decay(step: int, start: float, end: float, anneal_steps: int) -> float:
    """EMA decay at optimizer step `step`: linear from `start` to `end` over `anneal_steps`, then `end`."""
    progress = min(max(step, 0) / max(anneal_steps, 1), 1.0)
    return start + (end - start) * progress


def masked_mean(tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over the token axis of (B, L, D) counting only valid (B, L) tokens: (B, D)."""
    weights = valid.to(tokens.dtype)[..., None]
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def masked_variance(tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over channels of the unbiased variance of the valid tokens of a (B, L, D) batch, pooled over clips and
    tokens, with (B, L) validity: a 0-dim float32 tensor, computed without a data-dependent shape."""
    tokens = tokens.float().flatten(0, 1)
    weights = valid.flatten().to(tokens.dtype)[:, None]
    count = weights.sum()
    mean = (tokens * weights).sum(0) / count.clamp(min=1.0)
    return ((((tokens - mean) ** 2) * weights).sum(0) / (count - 1).clamp(min=1.0)).mean()


@dataclass
class PatchSelection:
    """Visible and masked patches of each masked view, padded to common lengths: visible (B', K) indices and
    visible_valid (B', K) bool; masked (B', Q) and masked_valid (B', Q); visible_grid (B', N) bool."""

    visible: torch.Tensor
    visible_valid: torch.Tensor
    masked: torch.Tensor
    masked_valid: torch.Tensor
    visible_grid: torch.Tensor


def block_anchors(valid_grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, G_f, G_t) -> (B, G_f, G_t): top-left positions of (height x width) blocks lying wholly on valid patches; a
    view too short for one whole block falls back to every valid patch (its blocks are then cut at the edge)."""
    invalid = (~valid_grid).float()[:, None]
    padded = F.pad(invalid, (0, width - 1, 0, height - 1), value=1.0)
    anchors = F.max_pool2d(padded, (height, width), stride=1)[:, 0] == 0
    has_anchor = anchors.flatten(1).any(1)[:, None, None]
    return torch.where(has_anchor, anchors, valid_grid)


def mask_draws(
    patch_valid: torch.Tensor, generator: torch.Generator | None, noise: torch.Tensor | None
) -> list[torch.Tensor]:
    """The two (B, N) uniform draws of each view's mask (block seeds, then the order in which patches are trimmed or
    added): the rows of `noise` (B, 2, N) when given, else drawn from `generator` (default: the global RNG)."""
    batch, num_patches = patch_valid.shape
    if noise is not None:
        if tuple(noise.shape) != (batch, 2, num_patches):
            raise ValueError(
                f"noise must have shape (views, 2, patches) = {(batch, 2, num_patches)}, got {tuple(noise.shape)}."
            )
        return list(noise.to(device=patch_valid.device, dtype=torch.float32).unbind(1))
    device = generator.device if generator is not None else patch_valid.device
    return [torch.rand(batch, num_patches, generator=generator, device=device).to(patch_valid.device) for _ in "ab"]


def draw_mask_noise(
    config: AaSPConfig, batch_size: int, num_frames: int, generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """The (B, M, 2, N) `noise` of `AaSPForPreTraining.forward` for B clips of `num_frames` frames: the draws the
    forward makes from `generator` (default: the global RNG on `device`) when given none, so that a data loader can
    draw them ahead of the step with the same masks as a result."""
    num_patches = config.patch_grid(num_frames).num_patches
    device = generator.device if generator is not None else device
    views = torch.ones(batch_size * config.num_mask_clones, num_patches, dtype=torch.bool, device=device)
    return torch.stack(mask_draws(views, generator, None), dim=1).unflatten(0, (batch_size, config.num_mask_clones))


def inverse_block_mask(
    patch_valid: torch.Tensor,
    grid_f: int,
    mask_ratio: float,
    block_size: int,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> PatchSelection:
    """Inverse-block masking (data2vec 2.0 / EAT): the student sees square blocks of patches; the rest is masked.

    Each view of (B, N) `patch_valid` (N = grid_f * G_t) draws round(n_valid * (1 - mask_ratio + MASK_OVERLAP_ADJUST)
    / block_area) >= 1 block seeds at distinct positions; each uncovers the block (cut to the grid's height) whose
    top-left patch it is, inside the valid grid; the union is trimmed (usually: the adjustment sizes the seeds for
    their overlap) or topped up with random patches to exactly n_keep = round((1 - mask_ratio) * n_valid) >= 1.
    The draws come from `generator` (default: the global RNG) or, making the masks a function of the inputs, from
    `noise` (B, 2, N) uniform in [0, 1) (`mask_draws`). Returns a `PatchSelection`.
    """
    batch, num_patches = patch_valid.shape
    grid_t = num_patches // grid_f
    seed_draw, order_draw = mask_draws(patch_valid, generator, noise)
    n_valid = patch_valid.sum(1)
    height, width = min(block_size, grid_f), min(block_size, grid_t)
    anchors = block_anchors(patch_valid.reshape(batch, grid_f, grid_t), height, width).reshape(batch, -1)
    n_seeds = torch.round(n_valid.float() * (1.0 - mask_ratio + MASK_OVERLAP_ADJUST) / (height * width)).long()
    n_seeds = torch.minimum(n_seeds.clamp(min=1), anchors.sum(1))
    rank = torch.argsort(torch.argsort(seed_draw.masked_fill(~anchors, -1.0), dim=1, descending=True), dim=1)
    seeds = ((rank < n_seeds[:, None]) & anchors).float().reshape(batch, 1, grid_f, grid_t)
    # each seed is the top-left patch of a whole block inside the valid grid
    blocks = F.max_pool2d(F.pad(seeds, (width - 1, 0, height - 1, 0)), (height, width), stride=1)[:, 0]
    return select_visible(blocks.reshape(batch, -1), patch_valid, mask_ratio, order_draw)


def select_visible(
    blocks: torch.Tensor, patch_valid: torch.Tensor, mask_ratio: float, order_draw: torch.Tensor
) -> PatchSelection:
    """The n_keep = round((1 - mask_ratio) * n_valid) >= 1 visible patches of each view: those of its (B, N) 0/1
    `blocks` first, in the random order of `order_draw` (B, N), then other valid patches; the rest is masked.

    The widths are static, those of a view with N valid patches (n_keep and n_valid - n_keep never fall when n_valid
    grows), so no width is read back from the device; shorter views are padded (`*_valid` False)."""
    device = patch_valid.device
    num_patches = patch_valid.shape[1]
    # float64, as Python rounds the static widths below (round half to even in both)
    n_keep = torch.round((1.0 - mask_ratio) * patch_valid.sum(1).double()).long().clamp(min=1)
    score = (blocks + order_draw).masked_fill(~patch_valid, -1.0)
    order = torch.argsort(score, dim=1, descending=True)
    keep = max(round((1.0 - mask_ratio) * num_patches), 1)
    visible = order[:, :keep]
    visible_valid = torch.arange(keep, device=device)[None] < n_keep[:, None]
    visible_grid = torch.zeros_like(patch_valid).scatter(1, visible, visible_valid)
    is_masked = patch_valid & ~visible_grid
    n_masked = is_masked.sum(1)
    num_masked = max(num_patches - keep, 1)
    masked = torch.argsort(is_masked.float(), dim=1, descending=True, stable=True)[:, :num_masked]
    masked_valid = torch.arange(num_masked, device=device)[None] < n_masked[:, None]
    return PatchSelection(visible, visible_valid, masked, masked_valid, visible_grid)


def masked_instance_norm(tokens: torch.Tensor, valid: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each channel over the valid tokens of each clip: (B, N, D) with (B, N) -> (B, N, D)."""
    weights = valid.to(tokens.dtype)[..., None]
    count = weights.sum(1, keepdim=True).clamp(min=1.0)
    mean = (tokens * weights).sum(1, keepdim=True) / count
    var = (((tokens - mean) ** 2) * weights).sum(1, keepdim=True) / count
    return (tokens - mean) / torch.sqrt(var + eps)


def pooled_targets(layers: list[torch.Tensor], valid: torch.Tensor) -> torch.Tensor:
    """Targets from per-layer (B, N, D) outputs: each instance-normalised over the clip's valid (B, N) patches, the
    layers averaged and the average layer-normalised: (B, N, D)."""
    average = cast(torch.Tensor, sum(masked_instance_norm(layer, valid) for layer in layers)) / len(layers)
    return F.layer_norm(average, average.shape[-1:])


def local_views_only(tensor: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The single-process view gatherer: (B, ...) -> ((B, ...), rank 0). Training code replaces
    `AaSPForPreTraining.gather_views` with a cross-process all-gather (`transformers_aasp.training.distributed`)."""
    return tensor, 0


def multi_positive_info_nce(
    embeddings: torch.Tensor,
    clip_ids: torch.Tensor,
    temperature: float,
    gather_views: Callable[[torch.Tensor], tuple[torch.Tensor, int]] = local_views_only,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Contrastive consistency across mask clones: clones of a clip are positives, all other views (of every process)
    negatives. (V, P) L2-normalised projections with (V,) clip ids -> (loss averaged over anchors and positives,
    accuracy: fraction of anchors whose most similar other view is a clone). `gather_views` maps (V, P) to the
    (W*V, P) views of all W processes and this process's rank; the default sees only the local views.
    """
    views = embeddings.shape[0]
    all_embeddings, rank = gather_views(embeddings)
    world = all_embeddings.shape[0] // views  # every process contributes the same number of views (drop_last)
    local_offset = rank * views
    local_ids = clip_ids + local_offset
    columns = torch.arange(world * views, device=embeddings.device)
    global_ids = clip_ids.repeat(world) + columns - columns % views  # clip ids offset by each process's rank
    # cosines in float32 whatever the autocast: bf16 rounding of a cosine, divided by the temperature, is logit noise
    with torch.autocast(embeddings.device.type, enabled=False):
        logits = embeddings.float() @ all_embeddings.float().T / temperature  # (V, W*V)
    self_mask = columns[None] == torch.arange(views, device=embeddings.device)[:, None] + local_offset
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = (local_ids[:, None] == global_ids[None, :]) & ~self_mask
    log_prob = torch.log_softmax(logits.float(), dim=1).masked_fill(~positives, 0.0)
    loss = -(log_prob.sum(1) / positives.sum(1).clamp(min=1)).mean()
    with torch.no_grad():
        accuracy = positives.gather(1, logits.argmax(1, keepdim=True)).float().mean()
    return loss, accuracy


def masked_mse(predictions: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared error over valid (B, Q) entries of (B, Q, D) tensors."""
    squared = ((predictions - targets) ** 2).mean(-1)
    weights = valid.to(squared.dtype)
    return (squared * weights).sum() / weights.sum().clamp(min=1.0)


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Unpack[TransformersKwargs],
):
    """Reference attention: (B, heads, Q, d) x (B, heads, K, d) -> ((B, Q, heads, d), (B, heads, Q, K))."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights
