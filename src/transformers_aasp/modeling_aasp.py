# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""PyTorch AaSP: a spectrogram ViT with an aliasing-aware patch embedding (AaPE) and its self-supervised pre-training.

Method: Yamamoto & Okusa, "AaSP: Aliasing-aware Self-Supervised Pre-Training for Audio Spectrogram Transformers"
(arXiv 2512.03637). What the paper states and what this implementation decides are in docs/method.md.

Shapes: B batch, T frames, F mel bins, (G_f, G_t) patch grid, N = G_f * G_t patches (frequency-major order,
index = f * G_t + t), K selected patches, D hidden size, S subbands per patch row, H SBLU kernels.

Vocabulary: a *frame* is one 10 ms spectrogram frame; a *time column* is the G_f patches sharing p_t frames (one
token step along time). `*_attention_mask` tensors are transformers-style 0/1 integer masks (1 = real, 0 = padding);
`*_valid` tensors are the same information as bools (internal); *masked* patches are those hidden from the
pre-training student.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.dynamic_module_utils import custom_object_save
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling, SequenceClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs, logging
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_aasp import PRETRAINING_EXPORTS, AaSPConfig


logger = logging.get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------------------
# Geometry and signal helpers
# ----------------------------------------------------------------------------------------------------------------------


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sin-cos embedding of integer positions: (P,) -> (P, dim)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float32, device=positions.device) / (dim / 2))
    angles = positions.float()[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d_position_embeddings(grid_f: int, grid_t: int, dim: int, device=None) -> torch.Tensor:
    """Fixed 2-D sin-cos position embeddings for a (grid_f, grid_t) grid: (grid_f * grid_t, dim), frequency-major.

    Half of the channels encode the frequency row and half the time column, so any clip length gets positions
    without interpolation.
    """
    rows = sincos_1d(torch.arange(grid_f, device=device), dim // 2)
    cols = sincos_1d(torch.arange(grid_t, device=device), dim // 2)
    grid = torch.cat(
        [rows[:, None, :].expand(grid_f, grid_t, -1), cols[None, :, :].expand(grid_f, grid_t, -1)], dim=-1
    )
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


def mirror_indices(positions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Indices that extend each clip by mirror reflection beyond its own valid length.

    Args:
        positions: (P,) integer frame positions, may be negative or past the end.
        lengths: (B,) valid frames per clip (>= 1).
    Returns:
        (B, P) indices in [0, length) (reflection without repeating the edge frame, applied periodically).
    """
    return reflect_into_runs(positions[None, :], torch.zeros_like(lengths)[:, None], lengths[:, None])


def visible_runs(visible_grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last time column of the run of visible columns that holds each patch, per patch row.

    Args:
        visible_grid: (B, G_f, G_t) bool.
    Returns:
        (first, last), each (B, G_f, G_t) long; for a hidden patch both are its own column.
    """
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
    cutoff = math.pi / time_patch_size
    lowpass = (cutoff / math.pi) * torch.sinc(cutoff * n / math.pi)
    window = 0.5 + 0.5 * torch.cos(math.pi * n / (time_patch_size + 1))
    lowpass = lowpass * window
    lowpass = lowpass / lowpass.sum()
    taps = -lowpass
    taps[time_patch_size] += 1.0
    return taps.to(dtype)


def sblu_log_window(offsets: torch.Tensor, alpha: torch.Tensor, window: str) -> torch.Tensor:
    """log w(m) of the SBLU kernel's window at integer tap offsets m.

    Args:
        offsets: (K_taps,) tap offsets m = -c..c.
        alpha: (...,) decay per frame.
        window: "two_sided" exp(-alpha |m|), "one_sided" exp(-alpha |m|) for m <= 0 (a causal, SSM-style kernel in
            the correlation form y[n] = sum_m k[m] u[n + m]; the zeros for m > 0 are applied by `sblu_kernel`), or
            "gaussian" exp(-(alpha m)^2 / 2).
    Returns:
        (..., K_taps).
    """
    scaled = alpha[..., None] * offsets.abs()
    if window in ("two_sided", "one_sided"):
        return -scaled
    if window == "gaussian":
        return -0.5 * scaled**2
    raise ValueError(f"Unknown SBLU window {window!r}; expected 'two_sided', 'one_sided' or 'gaussian'.")


def sblu_kernel(
    alpha: torch.Tensor,
    beta: torch.Tensor,
    half_length: int,
    window: str = "two_sided",
    step: float = 1.0,
    carrier: str = "abs",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Discrete SBLU kernel k[m] = 2 Lambda^-1 sinh(step Lambda / 2) w(m) exp(-j step beta phi(m)), Lambda = alpha + j beta.

    With `carrier="abs"` (phi(m) = |m|) and the two-sided window w(m) = exp(-step alpha |m|) this is exactly
    2 Lambda^-1 sinh(step Lambda / 2) exp(-step Lambda |m|): the integral of exp(-Lambda |t|) over one sample cell.
    Its real and imaginary parts are both even in m (zero phase). With `carrier="linear"` (phi(m) = m) the kernel is
    an analytic band-pass centred on beta: y[n] = sum_m k[m] u[n + m] demodulates u at beta, and |y| is the band's
    envelope. Computed in real arithmetic (no complex dtype) so that it autocasts, compiles and differentiates
    everywhere.

    Args:
        alpha: (...,) decay (> 0) per frame. beta: (...,) angular frequency in rad/frame.
        half_length: c; the kernel has 2c + 1 taps, m = -c..c.
        carrier: "abs" or "linear" (see above).
    Returns:
        (real, imag), each (..., 2c + 1).
    """
    if carrier not in ("abs", "linear"):
        raise ValueError(f"Unknown SBLU carrier {carrier!r}; expected 'abs' or 'linear'.")
    offsets = torch.arange(-half_length, half_length + 1, device=alpha.device).to(alpha.dtype)
    a, b = alpha * step, beta * step
    # g = 2 sinh(Lambda/2) / Lambda, as a log-modulus and an angle, so that the (..., taps) tensors are built with
    # one exp, one cos and one sin: k[m] = exp(log|g| + log w(m)) * exp(j (angle(g) - b phi(m))). Building them as
    # products of the window, the gain and the carrier took 2x as long forward, 1.13x forward + backward
    # (bench/aape_overhead.py, part 6).
    sinh_re = torch.sinh(a / 2) * torch.cos(b / 2)
    sinh_im = torch.cosh(a / 2) * torch.sin(b / 2)
    norm = alpha**2 + beta**2
    gain_re = 2 * (sinh_re * alpha + sinh_im * beta) / norm
    gain_im = 2 * (sinh_im * alpha - sinh_re * beta) / norm
    log_gain = 0.5 * torch.log(gain_re.square() + gain_im.square())
    amplitude = torch.exp(log_gain[..., None] + sblu_log_window(offsets, a, window))
    if window == "one_sided":
        amplitude = amplitude * (offsets <= 0).to(amplitude.dtype)
    phase = torch.atan2(gain_im, gain_re)[..., None] - b[..., None] * (offsets.abs() if carrier == "abs" else offsets)
    return amplitude * torch.cos(phase), amplitude * torch.sin(phase)


def apply_sblu(windows: torch.Tensor, kernel_re: torch.Tensor, kernel_im: torch.Tensor) -> torch.Tensor:
    """Adaptive depthwise SBLU convolution, one kernel per (patch, subband, kernel index).

    y[n] = sum_m k[m] u[n + m], evaluated only at the p_t frames of each patch. No per-output-frame kernel is built:
    each window is unfolded into (p_t, taps) frames and multiplied by the (taps, 2H) kernels of its patch in one
    batched matmul. Peak memory is linear in N * S * p_t * taps (an einsum over the strided view is about 100x slower
    on CPU; see bench/aape_overhead.py).

    Args:
        windows: (B, K, S, p_t + 2c) subband signal around each patch.
        kernel_re, kernel_im: (B, K, S, H, 2c + 1).
    Returns:
        (B, K, S, 2H, p_t): real parts of the H kernels, then imaginary parts.
    """
    taps = kernel_re.shape[-1]
    frames = windows.unfold(-1, taps, 1).contiguous()  # (B, K, S, p_t, taps)
    kernels = torch.cat([kernel_re, kernel_im], dim=-2).to(frames.dtype)  # (B, K, S, 2H, taps)
    return torch.matmul(frames, kernels.transpose(-1, -2)).transpose(-1, -2)


SPECTRAL_PEAK_FFT_SIZE = 256  # periodogram points of `spectral_peak`: 2 pi / 256 rad/frame, 0.39 Hz at 100 frames/s


def spectral_peak(windows: torch.Tensor, beta_min: float, beta_max: float) -> torch.Tensor:
    """Frequency of the largest periodogram bin inside [beta_min, beta_max] rad/frame.

    The signal is Hann-tapered and zero-padded to `SPECTRAL_PEAK_FFT_SIZE` points. An arg-max: no gradient flows
    through it (the Lambda Encoder learns where to place the kernels around it).

    Args:
        windows: (..., W) signal, e.g. the high-passed subband signal around each patch.
    Returns:
        (...,) float32 rad/frame.
    """
    with torch.no_grad():
        length = windows.shape[-1]
        size = max(SPECTRAL_PEAK_FFT_SIZE, length)
        taper = torch.hann_window(length, periodic=False, dtype=torch.float32, device=windows.device)
        power = torch.fft.rfft(windows.float() * taper, n=size).abs().square()
        frequencies = torch.arange(power.shape[-1], device=windows.device, dtype=torch.float32) * (2 * math.pi / size)
        outside = (frequencies < beta_min) | (frequencies > beta_max)
        return frequencies[power.masked_fill(outside, -1.0).argmax(-1)]


def anchor_beta(peak: torch.Tensor, beta: torch.Tensor, config: AaSPConfig) -> torch.Tensor:
    """Kernel frequencies placed around each patch's spectral peak (`config.beta_anchor="spectral_peak"`).

    The Lambda Encoder's beta is read as its sigmoid output u = (beta - beta_min) / (beta_max - beta_min) in (0, 1),
    and the kernel goes to peak + (2u - 1) * spread * (beta_max - beta_min), clipped to the band. At initialisation
    the H kernels sit evenly around the peak, so the median of a patch's betas is its peak.

    Args:
        peak: (B, K, S) rad/frame. beta: (B, K, S, H) rad/frame, from `lambda_from_raw`.
    Returns:
        (B, K, S, H) rad/frame.
    """
    band = config.beta_max - config.beta_min
    placement = (beta - config.beta_min) / band
    anchored = peak[..., None] + (2 * placement - 1) * (config.beta_anchor_spread * band)
    return anchored.clamp(config.beta_min, config.beta_max)


def kernel_quantiles(num_kernels: int, device=None) -> torch.Tensor:
    """(H,) float32 (h + 1/2) / H for h = 0..H-1: where the H kernels start, as a fraction of the band."""
    return (torch.arange(num_kernels, dtype=torch.float32, device=device) + 0.5) / num_kernels


def beta_grid(config: AaSPConfig, device=None) -> torch.Tensor:
    """(H,) the fixed frequencies of `"log_energy_grid"` features: the initial betas, (h + 1/2) / H of the band."""
    return config.beta_min + (config.beta_max - config.beta_min) * kernel_quantiles(config.num_kernels, device)


def energy_on_grid(energy: torch.Tensor, beta: torch.Tensor, config: AaSPConfig) -> torch.Tensor:
    """Band energies of kernels at any betas, spread onto the fixed frequencies of `beta_grid`.

    A kernel between two neighbouring grid frequencies shares its energy between them in proportion to its
    closeness (linear interpolation weights); one on a grid frequency gives it all its energy.

    Args:
        energy: (..., H) band energy per kernel. beta: (..., H) the kernels' frequencies, rad/frame.
    Returns:
        (..., H) energy per grid frequency.
    """
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


def frame_lengths_from_mask(attention_mask: torch.Tensor | None, batch_size: int, num_frames: int, device):
    """(B,) valid frames per clip from a (B, T) frame attention mask, or all frames when the mask is None.

    The mask must hold only 0 (padding) and 1 (real frame), be right-padded (a clip's real frames first, then its
    padding, as the feature extractor pads) and give every clip at least one real frame; anything else raises a
    ValueError naming the first offending clip (checks are skipped while torch.compile traces).
    """
    if attention_mask is None:
        return torch.full((batch_size,), num_frames, dtype=torch.long, device=device)
    if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != (batch_size, num_frames):
        shape = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask)
        raise ValueError(f"attention_mask must have shape (batch, frames) = {(batch_size, num_frames)}, got {shape}.")
    real = attention_mask != 0
    lengths = real.sum(-1)
    if not torch.compiler.is_compiling():
        check_frame_attention_mask(attention_mask, real, lengths)
    return lengths.to(device=device, dtype=torch.long)


def check_frame_attention_mask(attention_mask: torch.Tensor, real: torch.Tensor, lengths: torch.Tensor) -> None:
    """Raise a ValueError unless the (B, T) mask is 0/1, right-padded and has a real frame in every clip.

    A valid mask costs one device-to-host synchronisation; the offending clip is located only on failure.
    """
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
    if not bool((real == right_padded).all()):
        clip = int((real != right_padded).any(1).nonzero()[0])
        raise ValueError(
            f"attention_mask of clip {clip} is not right-padded: a clip's 1s must come first and its 0s last "
            "(no left padding, no gaps). AaSPFeatureExtractor pads on the right."
        )


def zero_padding_frames(
    input_values: torch.Tensor, frame_lengths: torch.Tensor, padded_frames: int, dtype: torch.dtype
) -> torch.Tensor:
    """(B, T, F) -> (B, padded_frames, F) in `dtype`, every frame past each clip's length replaced by zeros.

    Replacement (not multiplication by the mask), so a NaN or Inf in padding cannot reach any output. A non-finite
    value in a real frame raises a ValueError (not checked while torch.compile traces).
    """
    input_values = F.pad(input_values.to(dtype), (0, 0, 0, padded_frames - input_values.shape[1]))
    frame_valid = torch.arange(padded_frames, device=input_values.device)[None] < frame_lengths[:, None]
    spectrogram = torch.where(frame_valid[..., None], input_values, torch.zeros((), dtype=dtype))
    if not torch.compiler.is_compiling():
        finite = torch.isfinite(spectrogram).flatten(1).all(1)
        if not bool(finite.all()):
            clip = int((~finite).nonzero()[0])
            raise ValueError(
                f"input_values of clip {clip} holds NaN or Inf in its real (unpadded) frames; the model refuses "
                "non-finite input rather than return NaN. Check the audio and the feature extractor's statistics."
            )
    return spectrogram


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


# ----------------------------------------------------------------------------------------------------------------------
# Output classes
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class AaSPModelOutput(BaseModelOutputWithPooling):
    r"""
    Output of [`AaSPModel`].

    last_hidden_state (`torch.FloatTensor` of shape `(batch, 1 + N, hidden_size)`): CLS then patch tokens.
    pooler_output (`torch.FloatTensor` of shape `(batch, hidden_size)`): the final-normed CLS token.
    patch_attention_mask (`torch.LongTensor` of shape `(batch, N)`): 1 for patches holding real frames, 0 for
        padding.
    time_column_features (`torch.FloatTensor` of shape `(batch, G_t, G_f * hidden_size)`): patch tokens regrouped
        per time column (the G_f frequency rows concatenated), one vector per `config.time_column_rate`-th of a
        second, for frame-level tasks and linear evaluation.
    time_column_attention_mask (`torch.LongTensor` of shape `(batch, G_t)`): 1 for time columns holding real frames.
    time_column_timestamps (`torch.FloatTensor` of shape `(G_t,)`): centre of each time column in seconds.
    """

    patch_attention_mask: torch.LongTensor | None = None
    time_column_features: torch.FloatTensor | None = None
    time_column_attention_mask: torch.LongTensor | None = None
    time_column_timestamps: torch.FloatTensor | None = None


# The scalar fields of AaSPForPreTrainingOutput: loss terms (optimised) and monitoring terms (logged only).
PRETRAINING_LOSS_TERMS = ("loss", "masked_patch_loss", "global_loss", "contrastive_loss")
PRETRAINING_MONITORING_TERMS = ("contrastive_accuracy", "target_variance", "prediction_variance")


@dataclass
class AaSPForPreTrainingOutput(ModelOutput):
    r"""
    Output of [`AaSPForPreTraining`]. Every field but `hidden_states` and `attentions` is a scalar (0-dim tensor).

    loss: masked_patch_loss + global_loss_weight * global_loss + contrastive_loss_weight * contrastive_loss.
    masked_patch_loss: mean squared error between predicted and teacher targets at masked patches.
    global_loss: mean squared error between the student CLS (through a head) and the mean teacher target.
    contrastive_loss: multi-positive InfoNCE across the mask clones of each clip (negatives: other clips).
    contrastive_accuracy: fraction of clones whose nearest other view is a clone of the same clip (no grad).
    target_variance: mean per-channel variance of the teacher's raw top-layer average over the batch's patches;
        prediction_variance: the same for the predictions (collapse alarms: both go to 0 under collapse).
    hidden_states (`tuple(torch.FloatTensor)`, returned with `output_hidden_states=True`): the student encoder's
        input embeddings and layer outputs on the masked views, each `(batch * num_mask_clones, 1 + K, hidden_size)`
        (K visible patches per view).
    attentions (`tuple(torch.FloatTensor)`, returned with `output_attentions=True` and eager attention): the student
        encoder's attention weights, each `(batch * num_mask_clones, num_heads, 1 + K, 1 + K)`.
    """

    loss: torch.FloatTensor | None = None
    masked_patch_loss: torch.FloatTensor | None = None
    global_loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    contrastive_accuracy: torch.FloatTensor | None = None
    target_variance: torch.FloatTensor | None = None
    prediction_variance: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Transformer blocks (shared by the encoder, the Lambda Encoder and the predictor)
# ----------------------------------------------------------------------------------------------------------------------


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


class AaSPAttention(nn.Module):
    """Multi-head attention through transformers' attention interface; cross-attention when `key_value_states`."""

    def __init__(self, config: AaSPConfig, hidden_size: int | None = None, num_heads: int | None = None):
        super().__init__()
        self.config = config
        hidden_size = hidden_size or config.hidden_size
        self.num_heads = num_heads or config.num_attention_heads
        self.head_dim = hidden_size // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_probs_dropout_prob
        self.is_causal = False  # without it sdpa silently becomes causal
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.o_proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        key_value_states: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, Q, width) [attending to (B, K, width)] -> ((B, Q, width), attention weights or None)."""
        source = hidden_states if key_value_states is None else key_value_states
        query = self.q_proj(hidden_states).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
        key = self.k_proj(source).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
        value = self.v_proj(source).unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        output, weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            **kwargs,
        )
        output = self.o_proj(output.reshape(*hidden_states.shape[:-1], -1).contiguous())
        return output, weights


class AaSPMLP(nn.Module):
    def __init__(self, config: AaSPConfig, hidden_size: int | None = None, intermediate_size: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size or config.hidden_size, intermediate_size or config.intermediate_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(intermediate_size or config.intermediate_size, hidden_size or config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class AaSPLayer(GradientCheckpointingLayer):
    """Pre-LN Transformer block. With `cross_attention=True` it attends to a separate context (the predictor)."""

    def __init__(
        self,
        config: AaSPConfig,
        hidden_size: int | None = None,
        num_heads: int | None = None,
        intermediate_size: int | None = None,
        cross_attention: bool = False,
    ):
        super().__init__()
        hidden_size = hidden_size or config.hidden_size
        self.layernorm_before = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.layernorm_context = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps) if cross_attention else None
        self.attention = AaSPAttention(config, hidden_size, num_heads)
        self.layernorm_after = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = AaSPMLP(config, hidden_size, intermediate_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        context: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> torch.Tensor:
        """(B, Q, width) -> (B, Q, width)."""
        # Attention
        residual = hidden_states
        hidden_states = self.layernorm_before(hidden_states)
        context = self.layernorm_context(context) if self.layernorm_context is not None else None
        hidden_states, _ = self.attention(hidden_states, attention_mask, key_value_states=context, **kwargs)
        hidden_states = self.dropout(hidden_states) + residual
        # MLP
        residual = hidden_states
        hidden_states = self.mlp(self.layernorm_after(hidden_states))
        return self.dropout(hidden_states) + residual


# ----------------------------------------------------------------------------------------------------------------------
# AaPE: aliasing-aware patch embedding
# ----------------------------------------------------------------------------------------------------------------------


def lambda_from_raw(raw: torch.Tensor, config: AaSPConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Map unconstrained (..., 2) values to the SBLU decay and frequency.

    alpha = alpha_min + softplus(a) (per frame); beta = beta_min + (beta_max - beta_min) * sigmoid(b), so beta always
    lies in the alias-prone band (by default (pi / p_t, pi) rad/frame).
    """
    raw = raw.float()
    alpha = config.alpha_min + F.softplus(raw[..., 0])
    beta = config.beta_min + (config.beta_max - config.beta_min) * torch.sigmoid(raw[..., 1])
    return alpha, beta


def initial_lambda_raw(config: AaSPConfig) -> torch.Tensor:
    """Raw values giving alpha = alpha_init and betas spread evenly over the band across the H kernels: (S, H, 2)."""
    a = math.log(math.expm1(config.alpha_init - config.alpha_min))
    b = torch.logit(kernel_quantiles(config.num_kernels))
    raw = torch.stack([torch.full_like(b, a), b], dim=-1)  # (H, 2)
    return raw[None].expand(config.num_subbands, -1, -1).clone()


class AaSPLambdaHead(nn.Linear):
    """Output layer of the Lambda Encoder; its own class so that its special initialisation is found first."""


class AaSPLambdaEncoder(nn.Module):
    """Narrow, shallow Transformer over patches predicting per-patch SBLU parameters.

    (B, K, p_f * p_t) patches + (B, K, d) positions -> raw (B, K, S, H, 2); see `lambda_from_raw`.
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        width = config.lambda_hidden_size
        self.config = config
        self.input_proj = nn.Linear(config.frequency_patch_size * config.time_patch_size, width)
        self.blocks = nn.ModuleList(
            [
                AaSPLayer(config, width, config.lambda_num_heads, config.lambda_intermediate_size)
                for _ in range(config.lambda_num_layers)
            ]
        )
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.head = AaSPLambdaHead(width, config.num_subbands * config.num_kernels * 2)

    def forward(self, patches: torch.Tensor, positions: torch.Tensor, patch_valid: torch.Tensor | None):
        hidden_states = self.input_proj(patches) + positions.to(patches.dtype)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=patch_valid)
        for block in self.blocks:
            hidden_states = block(hidden_states, mask)
        raw = self.head(self.norm(hidden_states))
        return raw.unflatten(-1, (self.config.num_subbands, self.config.num_kernels, 2))


class AaSPAliasingFeatures(nn.Module):
    """Zero-phase high-pass, adaptive SBLU and feature map: the aliasing-focused feature F_alias of each patch.

    (B, T, F) spectrogram + per-patch (alpha, beta) (B, K, S, H) -> (B, K, config.num_alias_features). With
    `config.beta_anchor="spectral_peak"` the kernels are first placed around each patch's spectral peak
    (`place_beta`).
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.config = config
        if config.sblu_features == "flatten":
            groups, out_ch, in_ch = config.num_subbands, config.sblu_out_channels, 2 * config.num_kernels
            self.pointwise_weight = nn.Parameter(torch.empty(groups, out_ch, in_ch))
            self.pointwise_bias = nn.Parameter(torch.zeros(groups, out_ch))
            self.activation = nn.GELU()

    def subband_signals(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """(B, T, F) -> (B, G_f, S, T): the mean of the mel bins of each subband (S per patch row)."""
        cfg = self.config
        batch, frames, bins = spectrogram.shape
        total_subbands = cfg.num_frequency_patches * cfg.num_subbands
        signals = spectrogram.transpose(1, 2).reshape(batch, total_subbands, bins // total_subbands, frames).mean(2)
        return signals.reshape(batch, cfg.num_frequency_patches, cfg.num_subbands, frames)

    def frame_runs(
        self, frame_lengths: torch.Tensor, grid_t: int, visible_grid: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """First frame and length of the stretch of signal each patch may read: each (B, G_f, G_t).

        Without `visible_grid` that is the whole clip [0, length). With it (a masked view), it is the run of visible
        time columns of the patch's row, cut at the clip's length, so nothing outside that run is ever read.
        """
        cfg = self.config
        batch, p_t = frame_lengths.shape[0], cfg.time_patch_size
        lengths = frame_lengths[:, None, None]
        if visible_grid is None:
            shape = (batch, cfg.num_frequency_patches, grid_t)
            return torch.zeros(shape, dtype=torch.long, device=frame_lengths.device), lengths.expand(shape)
        first, last = visible_runs(visible_grid.reshape(batch, cfg.num_frequency_patches, grid_t))
        starts = first * p_t
        ends = torch.minimum((last + 1) * p_t, lengths)
        return starts, (ends - starts).clamp(min=1)

    def filtered_windows(
        self, spectrogram: torch.Tensor, frame_lengths: torch.Tensor, visible_grid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, F) -> (B, N, S, p_t + 2c): high-passed subband signal around every patch.

        The signal a patch reads is extended past the ends of its run (the clip, or in a masked view the run of
        visible columns; see `frame_runs`) by mirror reflection, so a clip's result does not depend on its batch's
        padding, and a visible patch of a masked view never reads (nor is disturbed by the absence of) masked frames.
        """
        cfg = self.config
        p_t, c = cfg.time_patch_size, cfg.sblu_half_length
        highpass_half = p_t if cfg.use_highpass else 0
        width = p_t + 2 * (c + highpass_half)
        signals = self.subband_signals(spectrogram)  # (B, G_f, S, T)
        batch, grid_f, subbands, frames = signals.shape
        grid_t = frames // p_t
        starts, lengths = self.frame_runs(frame_lengths, grid_t, visible_grid)
        offsets = torch.arange(width, device=signals.device) - (c + highpass_half)
        positions = (torch.arange(grid_t, device=signals.device) * p_t)[:, None] + offsets  # (G_t, width)
        index = reflect_into_runs(positions, starts[..., None], lengths[..., None])  # (B, G_f, G_t, width)
        index = index.reshape(batch, grid_f, 1, grid_t * width).expand(-1, -1, subbands, -1)
        windows = torch.gather(signals, 3, index).reshape(batch, grid_f, subbands, grid_t, width)
        if cfg.use_highpass:
            taps = highpass_taps(p_t, dtype=windows.dtype, device=windows.device)
            windows = F.conv1d(windows.reshape(-1, 1, width), taps.view(1, 1, -1))
            windows = windows.reshape(batch, grid_f, subbands, grid_t, p_t + 2 * c)
        return windows.permute(0, 1, 3, 2, 4).reshape(batch, grid_f * grid_t, subbands, p_t + 2 * c)

    def place_beta(self, windows: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The kernels' frequencies (B, K, S, H): the Lambda Encoder's `beta`, or with `beta_anchor="spectral_peak"`
        that estimate placed around the spectral peak of each patch's `windows` (B, K, S, p_t + 2c) (`anchor_beta`)."""
        cfg = self.config
        if cfg.beta_anchor == "none":
            return beta
        return anchor_beta(spectral_peak(windows, cfg.beta_min, cfg.beta_max), beta, cfg)

    def feature_map(self, responses: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """SBLU outputs (B, K, S, 2H, p_t) (real parts, then imaginary) of kernels at `beta` (B, K, S, H) -> F_alias
        (B, K, num_alias_features)."""
        cfg = self.config
        if cfg.sblu_features in ("log_energy", "log_energy_grid"):
            real, imag = responses.float().split(cfg.num_kernels, dim=3)
            energy = (real.square() + imag.square()).mean(-1)  # (B, K, S, H)
            if cfg.sblu_features == "log_energy_grid":
                energy = energy_on_grid(energy, beta, cfg)
            return torch.log(energy + cfg.alias_energy_eps).flatten(2).to(responses.dtype)
        weight = self.pointwise_weight.to(responses.dtype)
        bias = self.pointwise_bias.to(responses.dtype)[None, None, :, :, None]
        mixed = torch.einsum("bkscj,soc->bksoj", responses, weight) + bias
        return self.activation(mixed).flatten(2)

    def forward(
        self,
        spectrogram: torch.Tensor,
        frame_lengths: torch.Tensor,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        patch_indices: torch.Tensor | None = None,
        visible_grid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            spectrogram: (B, T, F); frame_lengths: (B,); alpha, beta: (B, K, S, H) for the selected patches, as the
                Lambda Encoder estimates them (`place_beta` is applied here).
            patch_indices: (B, K) selected patches (None = all N).
            visible_grid: (B, N) bool, the visible patches of a masked view (None = the whole clip is seen).
        Returns:
            (B, K, num_alias_features).
        """
        cfg = self.config
        windows = gather_patches(self.filtered_windows(spectrogram, frame_lengths, visible_grid), patch_indices)
        beta = self.place_beta(windows, beta)
        kernel_re, kernel_im = sblu_kernel(
            alpha, beta, cfg.sblu_half_length, cfg.sblu_window, carrier=cfg.sblu_carrier
        )
        return self.feature_map(apply_sblu(windows, kernel_re, kernel_im), beta)


class AaSPPatchFusion(nn.Linear):
    """Patch Fusion: Linear(D + dim(F_alias) -> D) over [LN(X_std), LN(F_alias)] (its own class for its init)."""


class AaSPGatedAliasFusion(nn.Module):
    """Gated residual fusion: X_std + gamma * W LN(F_alias), gamma a learnable per-channel gate.

    (B, K, D) standard tokens + (B, K, dim(F_alias)) -> (B, K, D). With gamma = 0 the tokens are exactly the plain
    stem's, and the level of each patch survives (nothing normalises X_std).
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.norm_alias = nn.LayerNorm(config.num_alias_features, eps=config.layer_norm_eps)
        self.alias_projection = nn.Linear(config.num_alias_features, config.hidden_size)
        self.gate = nn.Parameter(torch.full((config.hidden_size,), config.fusion_gate_init))

    def forward(self, standard: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
        alias = self.alias_projection(self.norm_alias(alias.to(standard.dtype)))
        return standard + self.gate.to(standard.dtype) * alias


class AaSPPatchEmbeddings(nn.Module):
    """Patch stem: (B, T, F) spectrogram -> (B, K, D) patch tokens.

    `projection` is the standard ViT stem (a Conv2d with kernel = stride = (p_f, p_t), stored as the equivalent
    Linear over flattened patches so that it applies to any subset of patches). With `use_aape`, the AaPE branch adds
    the aliasing-focused features, fused by `config.fusion_type`: a gated residual (`gated_fusion`) or the concat
    Patch Fusion that maps [LN(X_std), LN(F_alias)] back to D (`fusion`).
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.config = config
        patch_dim = config.frequency_patch_size * config.time_patch_size
        self.projection = nn.Linear(patch_dim, config.hidden_size)
        if not config.use_aape:
            return
        if config.lambda_mode == "predicted":
            self.lambda_encoder = AaSPLambdaEncoder(config)
        else:
            self.lambda_raw = nn.Parameter(initial_lambda_raw(config))
        self.aliasing = AaSPAliasingFeatures(config)
        if config.fusion_type == "gated_residual":
            self.gated_fusion = AaSPGatedAliasFusion(config)
        else:
            self.norm_standard = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.norm_alias = nn.LayerNorm(config.num_alias_features, eps=config.layer_norm_eps)
            self.fusion = AaSPPatchFusion(config.hidden_size + config.num_alias_features, config.hidden_size)

    def estimate_lambda(
        self, patches: torch.Tensor, patch_indices: torch.Tensor | None, patch_valid: torch.Tensor | None, grid_t: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SBLU decay and frequency per selected patch: each (B, K, S, H), float32."""
        cfg = self.config
        if cfg.lambda_mode == "fixed":
            raw = self.lambda_raw[None, None].expand(patches.shape[0], patches.shape[1], -1, -1, -1)
            return lambda_from_raw(raw, cfg)
        positions = sincos_2d_position_embeddings(
            cfg.num_frequency_patches, grid_t, cfg.lambda_hidden_size, device=patches.device
        )
        positions = gather_patches(positions[None].expand(patches.shape[0], -1, -1), patch_indices)
        return lambda_from_raw(self.lambda_encoder(patches, positions, patch_valid), cfg)

    def fuse(self, standard: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
        """(B, K, D) standard tokens + (B, K, dim(F_alias)) aliasing features -> (B, K, D) fused tokens."""
        if self.config.fusion_type == "gated_residual":
            return self.gated_fusion(standard, alias)
        fused = torch.cat([self.norm_standard(standard), self.norm_alias(alias.to(standard.dtype))], dim=-1)
        return self.fusion(fused)

    def forward(
        self,
        spectrogram: torch.Tensor,
        frame_lengths: torch.Tensor,
        patch_indices: torch.Tensor | None = None,
        patch_valid: torch.Tensor | None = None,
        visible_grid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            spectrogram: (B, T, F), T a multiple of p_t, frames past each clip's length already zeroed.
            frame_lengths: (B,) valid frames per clip.
            patch_indices: (B, K) patches to embed (None = all N).
            patch_valid: (B, K) bool, False for padding entries (excluded from the Lambda Encoder's attention).
            visible_grid: (B, N) bool, the visible patches of a masked view: AaPE's filters then read each visible
                patch's run of visible columns only (`AaSPAliasingFeatures.frame_runs`).
        Returns:
            (B, K, D).
        """
        cfg = self.config
        grid_t = cfg.patch_grid(spectrogram.shape[1]).time_patches
        patches = gather_patches(patchify(spectrogram, cfg.frequency_patch_size, cfg.time_patch_size), patch_indices)
        standard = self.projection(patches)
        if not cfg.use_aape:
            return standard
        alpha, beta = self.estimate_lambda(patches, patch_indices, patch_valid, grid_t)
        alias = self.aliasing(spectrogram, frame_lengths, alpha, beta, patch_indices, visible_grid)
        return self.fuse(standard, alias)


class AaSPEmbeddings(nn.Module):
    """CLS token + patch tokens + position embeddings: (B, T, F) -> (B, 1 + K, D) and its validity mask (B, 1 + K)."""

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.config = config
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.patch_embeddings = AaSPPatchEmbeddings(config)
        if config.position_embedding_type == "learned":
            self.position_embeddings = nn.Parameter(
                torch.zeros(config.num_frequency_patches, config.max_time_patches, config.hidden_size)
            )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def prepare_inputs(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate the inputs, cast them to the model's dtype, pad frames to a multiple of p_t and replace every
        frame past each clip's length by zeros.

        Args:
            input_values: (B, T, F) floating log-mel frames (any float dtype; cast to the model's).
            attention_mask: (B, T) 0/1 right-padded frame mask, or None (every frame is real).
        Returns:
            The (B, T_pad, F) spectrogram and the (B,) valid frame counts.
        """
        cfg = self.config
        check_input_values(input_values, cfg.num_mel_bins)
        batch, frames, _ = input_values.shape
        frame_lengths = frame_lengths_from_mask(attention_mask, batch, frames, input_values.device)
        dtype = self.patch_embeddings.projection.weight.dtype
        spectrogram = zero_padding_frames(input_values, frame_lengths, cfg.patch_grid(frames).padded_frames, dtype)
        return spectrogram, frame_lengths

    def position_table(self, grid_t: int, device) -> torch.Tensor:
        """(N, D) position embeddings of the (G_f, grid_t) grid."""
        cfg = self.config
        if cfg.position_embedding_type == "sincos":
            return sincos_2d_position_embeddings(cfg.num_frequency_patches, grid_t, cfg.hidden_size, device=device)
        if grid_t > cfg.max_time_patches:
            raise ValueError(
                f"Input has {grid_t} time patches but learned position embeddings cover max_time_patches="
                f"{cfg.max_time_patches}; crop the input or use position_embedding_type='sincos'."
            )
        return self.position_embeddings[:, :grid_t].reshape(-1, cfg.hidden_size)

    def patch_validity(self, frame_lengths: torch.Tensor, grid_t: int) -> torch.Tensor:
        """(B, N) True for patches whose time column holds at least one real frame."""
        cfg = self.config
        columns = torch.arange(grid_t, device=frame_lengths.device) * cfg.time_patch_size
        column_valid = columns[None] < frame_lengths[:, None]
        return column_valid[:, None, :].expand(-1, cfg.num_frequency_patches, -1).reshape(frame_lengths.shape[0], -1)

    def forward(
        self,
        spectrogram: torch.Tensor,
        frame_lengths: torch.Tensor,
        patch_indices: torch.Tensor | None = None,
        patch_valid: torch.Tensor | None = None,
        visible_grid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        grid_t = self.config.patch_grid(spectrogram.shape[1]).time_patches
        if patch_indices is None:
            patch_valid = self.patch_validity(frame_lengths, grid_t)
        tokens = self.patch_embeddings(spectrogram, frame_lengths, patch_indices, patch_valid, visible_grid)
        positions = self.position_table(grid_t, tokens.device)[None].expand(tokens.shape[0], -1, -1)
        tokens = tokens + gather_patches(positions, patch_indices).to(tokens.dtype)
        cls = self.cls_token.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        embeddings = self.dropout(torch.cat([cls, tokens], dim=1))
        token_valid = torch.cat([torch.ones_like(patch_valid[:, :1]), patch_valid], dim=1)
        return embeddings, token_valid


# ----------------------------------------------------------------------------------------------------------------------
# Pre-trained model base, encoder and classifier
# ----------------------------------------------------------------------------------------------------------------------


class AaSPPreTrainedModel(PreTrainedModel):
    config: AaSPConfig
    base_model_prefix = "aasp"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar[list[str]] = ["AaSPEmbeddings", "AaSPLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_record_outputs: ClassVar[dict[str, OutputRecorder]] = {
        "hidden_states": OutputRecorder(AaSPLayer, index=0, layer_name="layers"),
        "attentions": OutputRecorder(AaSPAttention, index=1, layer_name="layers"),
    }
    _input_embed_layer = "patch_embeddings"
    # Pre-training checkpoints also hold the teacher, predictor and heads; the encoder ignores them.
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [
        r"teacher\.",
        r"predictor\.",
        r"global_head\.",
        r"contrastive_head\.",
    ]
    model_tags: ClassVar[list[str]] = ["transformers_aasp", "audio", "aasp"]
    # Classes whose code `save_pretrained` copies next to the weights besides the model's own; `import
    # transformers_aasp` adds the audio-classification pipeline (the model does not import its consumers).
    code_saved_with_weights: ClassVar[list[type]] = []

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual. When the code travels with the checkpoint (`import transformers_aasp` registers it),
        `AutoModel` always resolves to the encoder, and the code of `code_saved_with_weights` (the
        audio-classification pipeline, which `config.json` names under `custom_pipelines`, see
        `AaSPConfig.to_dict`) is copied next to the weights, so
        `pipeline("audio-classification", model=dir, trust_remote_code=True)` builds it without this package."""
        if getattr(self, "_auto_class", None) is None:
            return super().save_pretrained(save_directory, *args, **kwargs)
        auto_map = dict(getattr(self.config, "auto_map", None) or {})
        auto_map.setdefault("AutoModel", "modeling_aasp.AaSPModel")
        self.config.auto_map = auto_map
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            for code in self.code_saved_with_weights:
                custom_object_save(code, save_directory)
        return result

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, AaSPLambdaHead):
            # start from evenly spread frequencies and alpha_init, whatever the input
            init.zeros_(module.weight)
            init.copy_(module.bias, initial_lambda_raw(self.config).flatten())
            return
        if isinstance(module, AaSPAttentionScore):
            # every valid token weighs the same at first: attention pooling starts as the mean
            init.zeros_(module.weight)
            init.zeros_(module.bias)
            return
        if isinstance(module, AaSPPatchFusion):
            # one copy_ of the whole weight (slices would lose the "already loaded" mark)
            weight = torch.randn_like(module.weight) * self.config.initializer_range
            if self.config.fusion_zero_init_alias:
                weight[:, self.config.hidden_size :] = 0.0  # start as the plain stem; learn how much alias to mix
            init.copy_(module.weight, weight)
            init.zeros_(module.bias)
            return
        super()._init_weights(module)
        if isinstance(module, AaSPEmbeddings):
            init.trunc_normal_(module.cls_token, std=self.config.initializer_range)
            if getattr(module, "position_embeddings", None) is not None:
                init.trunc_normal_(module.position_embeddings, std=self.config.initializer_range)
        elif isinstance(module, AaSPPatchEmbeddings) and getattr(module, "lambda_raw", None) is not None:
            init.copy_(module.lambda_raw, initial_lambda_raw(self.config))
        elif isinstance(module, AaSPAliasingFeatures) and getattr(module, "pointwise_weight", None) is not None:
            init.normal_(module.pointwise_weight, std=(2 * self.config.num_kernels) ** -0.5)
            init.zeros_(module.pointwise_bias)
        elif isinstance(module, AaSPGatedAliasFusion):
            init.constant_(module.gate, self.config.fusion_gate_init)
        elif isinstance(module, AaSPPredictor):
            init.trunc_normal_(module.mask_token, std=self.config.initializer_range)


class AaSPModel(AaSPPreTrainedModel):
    """The AaSP encoder: AaPE patch stem + ViT. Outputs CLS, patch tokens and time-frame features."""

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
        self.config = config
        self.embeddings = AaSPEmbeddings(config)
        self.layers = nn.ModuleList([AaSPLayer(config) for _ in range(config.num_hidden_layers)])
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> AaSPPatchEmbeddings:
        return self.embeddings.patch_embeddings

    def encode(
        self, embeddings: torch.Tensor, token_valid: torch.Tensor | None, **kwargs: Unpack[TransformersKwargs]
    ) -> torch.Tensor:
        """Run the Transformer layers and the final norm: (B, L, D) with validity (B, L) -> (B, L, D)."""
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=embeddings, attention_mask=token_valid)
        hidden_states = embeddings
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, **kwargs)
        return self.layernorm(hidden_states)

    def time_column_outputs(self, sequence_output: torch.Tensor, patch_valid: torch.Tensor):
        """Regroup patch tokens per time column: (B, 1 + N, D) and (B, N) patch validity -> features
        (B, G_t, G_f * D), column validity (B, G_t) bool and column centres (G_t,) in seconds."""
        cfg = self.config
        batch, _, width = sequence_output.shape
        patches = sequence_output[:, 1:].reshape(batch, cfg.num_frequency_patches, -1, width)
        grid_t = patches.shape[2]
        features = patches.permute(0, 2, 1, 3).reshape(batch, grid_t, -1)
        column_valid = patch_valid.reshape(batch, cfg.num_frequency_patches, grid_t)[:, 0]
        centres = (
            torch.arange(grid_t, device=sequence_output.device, dtype=torch.float32) + 0.5
        ) / cfg.time_column_rate
        return features, column_valid, centres

    @capture_outputs(tie_last_hidden_states=False)
    def encode_with_outputs(
        self, embeddings: torch.Tensor, token_valid: torch.Tensor | None, **kwargs: Unpack[TransformersKwargs]
    ) -> BaseModelOutput:
        """`encode` that also returns the layers' hidden states / attentions when asked (`output_hidden_states`,
        `output_attentions`); used by `AaSPForPreTraining` on the masked views."""
        return BaseModelOutput(last_hidden_state=self.encode(embeddings, token_valid, **kwargs))

    @merge_with_config_defaults
    @capture_outputs(tie_last_hidden_states=False)
    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> AaSPModelOutput:
        r"""
        input_values (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`): normalised log-mel frames from
            [`AaSPFeatureExtractor`]; any number of frames (padded internally to a multiple of the time patch size).
        attention_mask (`torch.LongTensor` of shape `(batch, frames)`, *optional*): 1 for real frames, 0 for right
            padding (0/1 only, right-padded, at least one real frame per clip; anything else raises a ValueError).
            Padded frames are replaced by zeros before any use and padded patches are excluded from attention, so a
            clip gives the same output alone or in a batch, whatever its padding holds.
        """
        spectrogram, frame_lengths = self.embeddings.prepare_inputs(input_values, attention_mask)
        embeddings, token_valid = self.embeddings(spectrogram, frame_lengths)
        sequence_output = self.encode(embeddings, token_valid if attention_mask is not None else None, **kwargs)
        patch_valid = token_valid[:, 1:]
        column_features, column_valid, column_timestamps = self.time_column_outputs(sequence_output, patch_valid)
        return AaSPModelOutput(
            last_hidden_state=sequence_output,
            pooler_output=sequence_output[:, 0],
            patch_attention_mask=patch_valid.long(),
            time_column_features=column_features,
            time_column_attention_mask=column_valid.long(),
            time_column_timestamps=column_timestamps,
        )

    @torch.no_grad()
    def get_sblu_parameters(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> dict:
        """Estimated SBLU parameters per patch, for analysis (the paper's Figure 4).

        Returns a dict of (B, G_f, G_t, S, H) tensors: `alpha` (per frame), `beta` (rad/frame; with
        `beta_anchor="spectral_peak"`, after placement around each patch's spectral peak), `frequency_hz` (beta as a
        modulation frequency in Hz), and `patch_valid` (B, G_f, G_t) bool, True for real patches.
        """
        cfg = self.config
        if not cfg.use_aape:
            raise ValueError("This model has use_aape=False: it has no SBLU parameters.")
        spectrogram, frame_lengths = self.embeddings.prepare_inputs(input_values, attention_mask)
        grid_t = cfg.patch_grid(spectrogram.shape[1]).time_patches
        patch_valid = self.embeddings.patch_validity(frame_lengths, grid_t)
        patches = patchify(spectrogram, cfg.frequency_patch_size, cfg.time_patch_size)
        patch_embeddings = self.embeddings.patch_embeddings
        alpha, beta = patch_embeddings.estimate_lambda(patches, None, patch_valid, grid_t)
        if cfg.beta_anchor != "none":
            windows = patch_embeddings.aliasing.filtered_windows(spectrogram, frame_lengths)
            beta = patch_embeddings.aliasing.place_beta(windows, beta)
        grid = (spectrogram.shape[0], cfg.num_frequency_patches, grid_t, cfg.num_subbands, cfg.num_kernels)
        return {
            "alpha": alpha.reshape(grid),
            "beta": beta.reshape(grid),
            "frequency_hz": beta.reshape(grid) * cfg.frame_rate / (2 * math.pi),
            "patch_valid": patch_valid.reshape(grid[:3]),
        }


def classifier_width_multiple(config: AaSPConfig) -> int:
    """Width of the pooled representation (`config.classifier_pooling`) in units of hidden_size."""
    if config.classifier_pooling == "time_columns":
        return config.num_frequency_patches
    return 2 if config.classifier_pooling in ("cls+mean", "mean+std") else 1


class AaSPAttentionScore(nn.Linear):
    """Score of each patch token for attention pooling (its own class for its zero initialisation)."""


class AaSPAttentionPooling(nn.Module):
    """Attention pooling: a learned score per token, softmax over the valid tokens, weighted mean.

    (B, L, D) tokens + (B, L) validity -> (B, D). The score starts at zero (every valid token weighs the same), so
    at initialisation this is exactly the padding-aware mean; fine-tuning learns which tokens to listen to (the
    spoken word of a clip that is mostly silence, say).
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.score = AaSPAttentionScore(config.hidden_size, 1)

    def token_weights(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L) pooling weights: zero on invalid tokens, summing to 1 over the valid ones."""
        scores = self.score(self.layernorm(tokens)).squeeze(-1)
        scores = scores.masked_fill(~valid.bool(), torch.finfo(scores.dtype).min)
        return scores.softmax(dim=-1)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bl,bld->bd", self.token_weights(tokens, valid), tokens)


class AaSPClassificationHead(nn.Module):
    """LayerNorm + Linear over the pooled representation: (B, D, 2D or G_f * D) -> (B, num_labels).

    With `classifier_pooling="attention"` it also holds the attention pooling (`attention_pooling`).
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        width = config.hidden_size * classifier_width_multiple(config)
        if config.classifier_pooling == "attention":
            self.attention_pooling = AaSPAttentionPooling(config)
        self.layernorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dense = nn.Linear(width, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(pooled))


def masked_mean(tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over the token axis of (B, L, D) counting only valid (B, L) tokens: (B, D)."""
    weights = valid.to(tokens.dtype)[..., None]
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def masked_std(tokens: torch.Tensor, valid: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standard deviation over the token axis of (B, L, D) counting only valid (B, L) tokens: (B, D)."""
    weights = valid.to(tokens.dtype)[..., None]
    mean = masked_mean(tokens, valid)[:, None]
    variance = (((tokens - mean) ** 2) * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return torch.sqrt(variance + eps)


class AaSPForAudioClassification(AaSPPreTrainedModel):
    """AaSP encoder with a classification head on the pooled output (`config.classifier_pooling`).

    Single-label (cross-entropy), multi-label (BCE) or regression, chosen by `config.problem_type` as in transformers.
    """

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.aasp = AaSPModel(config)
        self.classifier = AaSPClassificationHead(config)
        self.post_init()

    def freeze_feature_encoder(self):
        """Freeze the patch stem (standard projection and AaPE); the Transformer layers stay trainable."""
        self.aasp.embeddings.patch_embeddings.requires_grad_(False)

    def freeze_base_model(self):
        """Freeze the whole encoder; only the classification head trains."""
        self.aasp.requires_grad_(False)

    def pool(self, outputs: AaSPModelOutput) -> torch.Tensor:
        """(B, D), (B, 2D) or (B, G_f * D) clip representation, padding-aware (`config.classifier_pooling`)."""
        pooling = self.config.classifier_pooling
        cls = outputs.pooler_output
        if pooling == "cls":
            return cls
        if pooling == "time_columns":
            return masked_mean(outputs.time_column_features, outputs.time_column_attention_mask)
        patches, valid = outputs.last_hidden_state[:, 1:], outputs.patch_attention_mask
        if pooling == "attention":
            return self.classifier.attention_pooling(patches, valid)
        mean = masked_mean(patches, valid)
        if pooling == "mean":
            return mean
        if pooling == "mean+std":
            return torch.cat([mean, masked_std(patches, valid)], dim=-1)
        return torch.cat([cls, mean], dim=-1)

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> SequenceClassifierOutput:
        r"""
        labels (`torch.LongTensor` of shape `(batch,)` or `torch.FloatTensor` of shape `(batch, num_labels)`):
            class indices (single-label) or multi-hot targets (multi-label, `problem_type="multi_label_classification"`).

        In eval mode with `config.classifier_shift_views` = V > 1, the logits (batch, num_labels) are the mean of the
        logits of V time-shifted views of each clip (`shifted_views`), and `hidden_states` / `attentions` are those
        of the unshifted view.
        """
        num_views = 1 if self.training else self.config.classifier_shift_views
        if num_views > 1:
            input_values, attention_mask = shifted_views(
                input_values, attention_mask, self.config.classifier_shift_offsets, self.config
            )
        outputs = self.aasp(input_values, attention_mask=attention_mask, **kwargs)
        logits = self.classifier(self.pool(outputs))
        hidden_states, attentions = outputs.hidden_states, outputs.attentions
        if num_views > 1:
            logits = logits.unflatten(0, (num_views, -1)).mean(0)
            hidden_states, attentions = first_view(hidden_states, num_views), first_view(attentions, num_views)
        loss = None
        if labels is not None:
            loss = self.loss_function(labels, logits, self.config, **kwargs)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=attentions)


def shifted_views(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, offsets: list[int], config: AaSPConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The views of `config.classifier_shift_views`, stacked view-major on the batch axis: view k of every clip is the
    clip started `offsets[k]` frames later (`start_later`).

    Args:
        input_values: (B, T, F) log-mel frames.
        attention_mask: (B, T) 0/1 right-padded frame mask, or None (every frame is real).
        offsets: the V shifts in frames.
    Returns:
        (V * B, T, F) frames and their (V * B, T) long attention mask; rows k * B to (k + 1) * B hold view k.
    """
    check_input_values(input_values, config.num_mel_bins)
    num_views, batch = len(offsets), input_values.shape[0]
    shifts = torch.tensor(offsets, device=input_values.device).repeat_interleave(batch)
    repeated_mask = None if attention_mask is None else attention_mask.repeat(num_views, 1)
    return start_later(input_values.repeat(num_views, 1, 1), repeated_mask, shifts, config.time_patch_size)


def start_later(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, shifts: torch.Tensor, time_patch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip started `shifts[b]` frames later: its first frames dropped, the rest moved to the start and the
    frames freed at the end masked. A clip keeps at least one time patch: its shift is at most length - p_t (none for
    a clip of one patch or less).

    Args:
        input_values: (B, T, F) log-mel frames.
        attention_mask: (B, T) 0/1 right-padded frame mask, or None (every frame is real).
        shifts: (B,) frames to drop per clip (>= 0).
        time_patch_size: p_t, the frames of one time patch.
    Returns:
        (B, T, F) frames, zero past each clip's new length, and their (B, T) long attention mask.
    """
    batch, frames, _ = input_values.shape
    lengths = frame_lengths_from_mask(attention_mask, batch, frames, input_values.device)
    shifts = torch.minimum(shifts.to(lengths.device), (lengths - time_patch_size).clamp(min=0))
    source = torch.arange(frames, device=input_values.device)[None] + shifts[:, None]
    real = source < lengths[:, None]
    gathered = input_values.gather(1, source.clamp(max=frames - 1)[..., None].expand_as(input_values))
    return torch.where(real[..., None], gathered, torch.zeros((), dtype=gathered.dtype)), real.long()


def first_view(per_layer: tuple[torch.Tensor, ...] | None, num_views: int) -> tuple[torch.Tensor, ...] | None:
    """Hidden states or attentions of the first (unshifted) view from those of all `num_views` views."""
    if per_layer is None:
        return None
    return tuple(tensor.unflatten(0, (num_views, -1))[0] for tensor in per_layer)


# ----------------------------------------------------------------------------------------------------------------------
# Self-supervised pre-training
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class PatchSelection:
    """Visible and masked patches of each masked view, padded to common lengths.

    visible: (B', K) indices, visible_valid: (B', K) bool; masked: (B', Q), masked_valid: (B', Q) bool;
    visible_grid: (B', N) bool, True for visible patches.
    """

    visible: torch.Tensor
    visible_valid: torch.Tensor
    masked: torch.Tensor
    masked_valid: torch.Tensor
    visible_grid: torch.Tensor


def block_anchors(valid_grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Top-left positions of (height x width) blocks lying wholly on valid patches: (B, G_f, G_t) -> (B, G_f, G_t).

    A view too short for one whole block falls back to every valid patch (its blocks are then cut at the edge).
    """
    invalid = (~valid_grid).float()[:, None]
    padded = F.pad(invalid, (0, width - 1, 0, height - 1), value=1.0)
    anchors = F.max_pool2d(padded, (height, width), stride=1)[:, 0] == 0
    has_anchor = anchors.flatten(1).any(1)[:, None, None]
    return torch.where(has_anchor, anchors, valid_grid)


def inverse_block_mask(
    patch_valid: torch.Tensor,
    grid_f: int,
    mask_ratio: float,
    block_size: int,
    generator: torch.Generator | None = None,
    overlap_adjust: float = 0.07,
    seed_mode: str = "fixed_count",
    noise: torch.Tensor | None = None,
) -> PatchSelection:
    """Inverse-block masking: the student sees square blocks of patches; the rest (`mask_ratio`) is masked.

    `"fixed_count"` (data2vec 2.0 / EAT): each view draws a fixed number of block seeds,
    round(n_valid * (1 - mask_ratio + overlap_adjust) / block_area) >= 1, at distinct positions; every seed uncovers
    the whole block (block_size x block_size, cut to the grid's height) whose top-left patch it is, always inside the
    valid grid; the union is then trimmed (random patches of it hidden again) or topped up (random other patches
    uncovered) to exactly n_keep patches.
    `overlap_adjust` compensates for overlapping blocks, so that trimming, not topping up, is the usual case.
    `"bernoulli"`: the first procedure of this project (Bernoulli seeds, no overlap compensation), for ablations.

    Args:
        patch_valid: (B, N) bool, True for real (non-padding) patches; N = grid_f * G_t.
        generator: source of the random draws (default: the global RNG); ignored when `noise` is given.
        noise: (B, 2, N) uniform values in [0, 1), optional: the two draws of each view (block seeds, then the order
            in which patches are trimmed or added), making the masks a function of the inputs.
    Returns:
        A `PatchSelection`; each view keeps exactly n_keep = round((1 - mask_ratio) * n_valid) >= 1 patches.
    """
    if seed_mode not in ("fixed_count", "bernoulli"):
        raise ValueError(f"Unknown mask seed mode {seed_mode!r}; expected 'fixed_count' or 'bernoulli'.")
    batch, num_patches = patch_valid.shape
    grid_t = num_patches // grid_f
    device = patch_valid.device
    draw_device = generator.device if generator is not None else device
    if noise is not None and tuple(noise.shape) != (batch, 2, num_patches):
        raise ValueError(
            f"noise must have shape (views, 2, patches) = {(batch, 2, num_patches)}, got {tuple(noise.shape)}."
        )
    draws = iter(noise.to(device=device, dtype=torch.float32).unbind(1)) if noise is not None else None

    def uniform_noise() -> torch.Tensor:
        if draws is not None:
            return next(draws)
        return torch.rand(batch, num_patches, generator=generator, device=draw_device).to(device)

    n_valid = patch_valid.sum(1)
    n_keep = torch.round((1.0 - mask_ratio) * n_valid.float()).long().clamp(min=1)
    if seed_mode == "fixed_count":
        height, width = min(block_size, grid_f), min(block_size, grid_t)
        anchors = block_anchors(patch_valid.reshape(batch, grid_f, grid_t), height, width).reshape(batch, -1)
        n_seeds = torch.round(n_valid.float() * (1.0 - mask_ratio + overlap_adjust) / (height * width)).long()
        n_seeds = torch.minimum(n_seeds.clamp(min=1), anchors.sum(1))
        draw = uniform_noise().masked_fill(~anchors, -1.0)
        rank = torch.argsort(torch.argsort(draw, dim=1, descending=True), dim=1)
        seeds = ((rank < n_seeds[:, None]) & anchors).float().reshape(batch, 1, grid_f, grid_t)
        # each seed is the top-left patch of a whole block inside the valid grid
        blocks = F.max_pool2d(F.pad(seeds, (width - 1, 0, height - 1, 0)), (height, width), stride=1)[:, 0]
    else:
        seed_prob = (n_keep.float() / (n_valid.float() * block_size**2)).clamp(max=1.0)
        seeds = (uniform_noise() < seed_prob[:, None]).float().reshape(batch, 1, grid_f, grid_t)
        blocks = F.max_pool2d(seeds, block_size, stride=1, padding=block_size // 2)[:, 0, :grid_f, :grid_t]
    score = blocks.reshape(batch, -1) + uniform_noise()
    score = score.masked_fill(~patch_valid, -1.0)
    order = torch.argsort(score, dim=1, descending=True)
    keep = int(n_keep.max())
    visible = order[:, :keep]
    visible_valid = torch.arange(keep, device=device)[None] < n_keep[:, None]
    visible_grid = torch.zeros_like(patch_valid).scatter(1, visible, visible_valid)
    is_masked = patch_valid & ~visible_grid
    n_masked = is_masked.sum(1)
    num_masked = max(int(n_masked.max()), 1)
    masked = torch.argsort(is_masked.float(), dim=1, descending=True, stable=True)[:, :num_masked]
    masked_valid = torch.arange(num_masked, device=device)[None] < n_masked[:, None]
    return PatchSelection(visible, visible_valid, masked, masked_valid, visible_grid)


def hide_masked_patches(
    spectrogram: torch.Tensor, visible_grid: torch.Tensor, grid_f: int, patch_f: int, patch_t: int
):
    """Zero every frame/bin of patches that are not visible: (B, T, F) with (B, N) -> (B, T, F).

    This keeps masked content out of AaPE's wider receptive fields (high-pass and SBLU taps).
    """
    batch, frames, _ = spectrogram.shape
    grid = visible_grid.reshape(batch, grid_f, frames // patch_t).to(spectrogram.dtype)
    frame_mask = grid.repeat_interleave(patch_f, dim=1).repeat_interleave(patch_t, dim=2)  # (B, F, T)
    return spectrogram * frame_mask.transpose(1, 2)


def masked_instance_norm(tokens: torch.Tensor, valid: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise each channel over the valid tokens of each clip: (B, N, D) with (B, N) -> (B, N, D)."""
    weights = valid.to(tokens.dtype)[..., None]
    count = weights.sum(1, keepdim=True).clamp(min=1.0)
    mean = (tokens * weights).sum(1, keepdim=True) / count
    var = (((tokens - mean) ** 2) * weights).sum(1, keepdim=True) / count
    return (tokens - mean) / torch.sqrt(var + eps)


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
    """Contrastive consistency across mask clones: clones of a clip are positives, all other views negatives.

    Args:
        embeddings: (V, P) L2-normalised projections of the local views.
        clip_ids: (V,) clip index of each local view.
        gather_views: (V, P) -> ((W*V, P) views of all W processes, this process's rank); the default sees only
            the local views.
    Returns:
        (loss, accuracy): loss averaged over anchors and their positives; accuracy = fraction of anchors whose most
        similar other view is a clone of the same clip. Negatives include the views of every process.
    """
    views = embeddings.shape[0]
    all_embeddings, rank = gather_views(embeddings)
    world = all_embeddings.shape[0] // views  # every process contributes the same number of views (drop_last)
    local_offset = rank * views
    local_ids = clip_ids + local_offset
    global_ids = torch.cat([clip_ids + r * views for r in range(world)])
    logits = embeddings @ all_embeddings.T / temperature  # (V, W*V)
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(views), torch.arange(views) + local_offset] = True
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = (local_ids[:, None] == global_ids[None, :]) & ~self_mask
    log_prob = torch.log_softmax(logits.float(), dim=1).masked_fill(~positives, 0.0)
    loss = -(log_prob.sum(1) / positives.sum(1).clamp(min=1)).mean()
    with torch.no_grad():
        accuracy = positives.gather(1, logits.argmax(1, keepdim=True)).float().mean()
    return loss, accuracy


class AaSPPredictor(nn.Module):
    """Cross-attention predictor: mask-token queries at masked positions attend to the student's output tokens.

    context (B', 1 + K, D) + context validity (B', 1 + K) + masked positions (B', Q) -> predictions (B', Q, D).
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        width = config.predictor_hidden_size
        self.config = config
        self.context_proj = nn.Linear(config.hidden_size, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.blocks = nn.ModuleList(
            [
                AaSPLayer(
                    config, width, config.predictor_num_heads, config.predictor_intermediate_size, cross_attention=True
                )
                for _ in range(config.predictor_num_layers)
            ]
        )
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.head = nn.Linear(width, config.hidden_size)

    def forward(
        self, context: torch.Tensor, context_valid: torch.Tensor, masked_positions: torch.Tensor, grid_t: int
    ) -> torch.Tensor:
        cfg = self.config
        context = self.context_proj(context)
        positions = sincos_2d_position_embeddings(
            cfg.num_frequency_patches, grid_t, cfg.predictor_hidden_size, device=context.device
        )
        queries = self.mask_token.to(context.dtype) + positions[masked_positions].to(context.dtype)
        mask = create_bidirectional_mask(
            config=cfg, inputs_embeds=queries, attention_mask=context_valid, encoder_hidden_states=context
        )
        for block in self.blocks:
            queries = block(queries, mask, context)
        return self.head(self.norm(queries))


class AaSPForPreTraining(AaSPPreTrainedModel):
    """AaSP self-supervised pre-training: EMA teacher, multi-mask student, cross-attention predictor, three losses.

    The student (`aasp`) encodes `num_mask_clones` masked views of each clip (visible patches only, AaPE run per view
    with masked regions hidden); the teacher (`teacher`, an EMA of the student, no gradients) encodes the whole clip
    once and provides layer-wise pooled targets. Call `update_teacher(step)` after every real optimizer step.
    """

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
        self.aasp = AaSPModel(config)
        self.teacher = AaSPModel(config)
        self.predictor = AaSPPredictor(config)
        self.global_head = nn.Linear(config.hidden_size, config.hidden_size)
        self.contrastive_head = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.GELU(),
            nn.Linear(config.hidden_size, config.contrastive_projection_size),
        )
        # contrastive negatives come from the local views only unless training code installs a cross-process
        # gatherer (transformers_aasp.training.distributed.use_cross_process_negatives)
        self.gather_views = local_views_only
        self.post_init()
        self.reset_teacher()

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, then the teacher is what `__init__` makes it: frozen (loading leaves
        its parameters requiring gradients), and a copy of the student when the checkpoint has no teacher
        weights (an encoder or classifier checkpoint; otherwise the teacher would keep a random initialisation)."""
        output_loading_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        if any(key.startswith("teacher.") for key in info["missing_keys"]):
            model.reset_teacher()
        model.teacher.requires_grad_(False)
        return (model, info) if output_loading_info else model

    # ----- teacher -----
    @torch.no_grad()
    def reset_teacher(self):
        """Make the teacher an exact copy of the student (after initialisation or loading encoder-only weights)."""
        self.teacher.load_state_dict(self.aasp.state_dict())
        self.teacher.requires_grad_(False)

    def ema_decay(self, step: int) -> float:
        """EMA decay at optimizer step `step`: linear from ema_decay_start to ema_decay_end over ema_anneal_steps."""
        cfg = self.config
        progress = min(max(step, 0) / max(cfg.ema_anneal_steps, 1), 1.0)
        return cfg.ema_decay_start + (cfg.ema_decay_end - cfg.ema_decay_start) * progress

    @torch.no_grad()
    def update_teacher(self, step: int) -> float:
        """teacher <- decay * teacher + (1 - decay) * student; returns the decay used."""
        decay = self.ema_decay(step)
        for teacher_param, student_param in zip(self.teacher.parameters(), self.aasp.parameters(), strict=True):
            teacher_param.lerp_(student_param.detach().to(teacher_param.dtype), 1.0 - decay)
        for teacher_buffer, student_buffer in zip(self.teacher.buffers(), self.aasp.buffers(), strict=True):
            teacher_buffer.copy_(student_buffer)
        return decay

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher never uses dropout
        return self

    def export_encoder(self, save_directory, weights: str = "student", **kwargs):
        """Save the student (default) or teacher encoder as an `AaSPModel` checkpoint.

        The student is the default because it is what the optimizer trained and what the paper-family recipes
        (EAT, data2vec 2.0) fine-tune; the teacher is an EMA that lags it and can be better early in training.
        """
        if weights not in PRETRAINING_EXPORTS:
            raise ValueError(f"weights must be one of {PRETRAINING_EXPORTS}, got {weights!r}.")
        encoder = self.aasp if weights == "student" else self.teacher
        encoder.save_pretrained(save_directory, **kwargs)

    @torch.no_grad()
    def teacher_targets(self, spectrogram: torch.Tensor, frame_valid: torch.Tensor | None):
        """Layer-wise pooled targets of the padded (B, T, F) spectrogram with its (B, T) frame validity (or None).

        The top `num_target_layers` teacher layers give, at every patch, either their residual-stream outputs
        (`target_type="block_output"`) or their FFN outputs before the residual add (`"ffn_output"`); each layer is
        instance-normalised over the clip's valid patches, the layers are averaged and the average layer-normalised.

        Returns targets (B, N, D), patch validity (B, N), and the collapse alarm: the mean per-channel variance,
        over all valid patches of the batch, of the raw (un-normalised) average of the top residual-stream outputs,
        which goes to 0 if the teacher maps every patch to the same vector (the normalised targets would hide that).
        """
        cfg = self.config
        top_k = min(cfg.num_target_layers, cfg.num_hidden_layers)
        ffn_outputs = []
        hooks = []
        if cfg.target_type == "ffn_output":
            hooks = [
                layer.mlp.register_forward_hook(lambda module, args, output: ffn_outputs.append(output))
                for layer in self.teacher.layers[-top_k:]
            ]
        try:
            outputs = self.teacher(spectrogram, attention_mask=frame_valid, output_hidden_states=True)
        finally:
            for hook in hooks:
                hook.remove()
        valid = outputs.patch_attention_mask.bool()
        block_outputs = [layer[:, 1:].float() for layer in outputs.hidden_states[-top_k:]]
        raw_variance = (sum(block_outputs) / top_k)[valid].var(0).mean()
        layers = [output[:, 1:].float() for output in ffn_outputs] if ffn_outputs else block_outputs
        average = sum(masked_instance_norm(layer, valid) for layer in layers) / top_k
        return F.layer_norm(average, average.shape[-1:]), valid, raw_variance

    # ----- student -----
    def encode_masked_views(
        self, spectrogram, frame_lengths, selection: PatchSelection, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[BaseModelOutput, torch.Tensor]:
        """Student on visible patches only: (B', T, F) -> output with `last_hidden_state` (B', 1 + K, D) (and the
        layers' hidden states / attentions when asked), and token validity (B', 1 + K).

        AaPE reads nothing of the masked patches: with `masked_view_alias_input="mirror_runs"` its filters read only
        each visible patch's run of visible columns; with `"zeroed"` the masked patches are zeroed first.
        """
        cfg = self.config
        visible_grid = selection.visible_grid
        if cfg.masked_view_alias_input == "zeroed":
            spectrogram = hide_masked_patches(
                spectrogram, visible_grid, cfg.num_frequency_patches, cfg.frequency_patch_size, cfg.time_patch_size
            )
            visible_grid = None
        embeddings, token_valid = self.aasp.embeddings(
            spectrogram, frame_lengths, selection.visible, selection.visible_valid, visible_grid
        )
        return self.aasp.encode_with_outputs(embeddings, token_valid, **kwargs), token_valid

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        mask_generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> AaSPForPreTrainingOutput:
        r"""
        input_values (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`): normalised log-mel crops.
        attention_mask (`torch.LongTensor` of shape `(batch, frames)`, *optional*): 1 for real frames (right padding).
        mask_generator (`torch.Generator`, *optional*): source of the masks (default: the global RNG). Seed it per
            process in distributed training, or every process draws the same masks.
        noise (`torch.FloatTensor` of shape `(batch, num_mask_clones, 2, num_patches)`, *optional*): uniform values
            in [0, 1) that decide the masks instead of a random draw (see `inverse_block_mask`), so the same inputs
            give the same outputs; `num_patches` is `config.patch_grid(frames).num_patches`.
        output_hidden_states / output_attentions (`bool`, *optional*): return the student encoder's hidden states /
            attention weights on the masked views (attentions need `attn_implementation="eager"`).
        """
        cfg = self.config
        clones = cfg.num_mask_clones
        spectrogram, frame_lengths = self.aasp.embeddings.prepare_inputs(input_values, attention_mask)
        grid = cfg.patch_grid(spectrogram.shape[1])
        grid_t = grid.time_patches
        if noise is not None and tuple(noise.shape) != (spectrogram.shape[0], clones, 2, grid.num_patches):
            raise ValueError(
                f"noise must have shape (batch, num_mask_clones, 2, num_patches) = "
                f"{(spectrogram.shape[0], clones, 2, grid.num_patches)}, got {tuple(noise.shape)}."
            )
        frame_valid = torch.arange(spectrogram.shape[1], device=spectrogram.device)[None] < frame_lengths[:, None]
        targets, patch_valid, target_variance = self.teacher_targets(spectrogram, frame_valid.long())

        # M masked views per clip
        views = spectrogram.repeat_interleave(clones, dim=0)
        view_lengths = frame_lengths.repeat_interleave(clones)
        selection = inverse_block_mask(
            patch_valid.repeat_interleave(clones, dim=0),
            cfg.num_frequency_patches,
            cfg.mask_ratio,
            cfg.mask_block_size,
            generator=mask_generator,
            overlap_adjust=cfg.mask_overlap_adjust,
            seed_mode=cfg.mask_seed_mode,
            noise=noise.flatten(0, 1) if noise is not None else None,
        )
        student_outputs, token_valid = self.encode_masked_views(views, view_lengths, selection, **kwargs)
        student = student_outputs.last_hidden_state

        # regression of the teacher's targets at the masked patches
        predictions = self.predictor(student, token_valid, selection.masked, grid_t)
        view_targets = gather_patches(targets.repeat_interleave(clones, dim=0), selection.masked)
        masked_patch_loss = masked_mse(predictions.float(), view_targets, selection.masked_valid)

        # global loss: CLS regresses the mean teacher target of the clip
        global_target = masked_mean(targets, patch_valid).repeat_interleave(clones, dim=0)
        global_loss = F.mse_loss(self.global_head(student[:, 0]).float(), global_target)

        # multi-mask contrastive consistency
        projections = F.normalize(self.contrastive_head(student[:, 0]).float(), dim=-1)
        clip_ids = torch.arange(input_values.shape[0], device=input_values.device).repeat_interleave(clones)
        contrastive_loss, contrastive_accuracy = multi_positive_info_nce(
            projections, clip_ids, cfg.contrastive_temperature, self.gather_views
        )

        loss = (
            masked_patch_loss + cfg.global_loss_weight * global_loss + cfg.contrastive_loss_weight * contrastive_loss
        )
        with torch.no_grad():
            prediction_variance = predictions[selection.masked_valid].float().var(0).mean()
        return AaSPForPreTrainingOutput(
            loss=loss,
            masked_patch_loss=masked_patch_loss.detach(),
            global_loss=global_loss.detach(),
            contrastive_loss=contrastive_loss.detach(),
            contrastive_accuracy=contrastive_accuracy,
            target_variance=target_variance,
            prediction_variance=prediction_variance,
            hidden_states=student_outputs.hidden_states,
            attentions=student_outputs.attentions,
        )


def masked_mse(predictions: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean squared error over valid (B, Q) entries of (B, Q, D) tensors."""
    squared = ((predictions - targets) ** 2).mean(-1)
    weights = valid.to(squared.dtype)
    return (squared * weights).sum() / weights.sum().clamp(min=1.0)


__all__ = [
    "AaSPForAudioClassification",
    "AaSPForPreTraining",
    "AaSPModel",
    "AaSPPreTrainedModel",
    "highpass_taps",
    "inverse_block_mask",
    "sblu_kernel",
]
