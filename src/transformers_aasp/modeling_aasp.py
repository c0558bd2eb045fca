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
from typing import ClassVar, cast

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
from transformers.utils import ModelOutput, TransformersKwargs, logging
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import OutputRecorder, capture_outputs
from typing_extensions import Unpack

from .configuration_aasp import ALIAS_ENERGY_EPS, PRETRAINING_EXPORTS, PROJECTION_CHANNELS, AaSPConfig
from .functional_aasp import (
    PatchSelection,
    anchor_beta,
    annealed_decay,
    apply_sblu,
    check_input_values,
    draw_mask_noise,
    eager_attention_forward,
    energy_on_grid,
    frame_lengths_from_mask,
    gather_patches,
    highpass_taps,
    initial_lambda_raw,
    inverse_block_mask,
    lambda_from_raw,
    local_views_only,
    masked_mean,
    masked_mse,
    masked_variance,
    multi_positive_info_nce,
    patchify,
    pooled_targets,
    reflect_into_runs,
    sblu_kernel,
    sincos_2d_position_embeddings,
    spectral_peak,
    validate_input_values,
    visible_runs,
    zero_padding_frames,
)


logger = logging.get_logger(__name__)


# ---- Output classes -------------------------------------------------------------------------------------------------
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

    patch_attention_mask: torch.Tensor | None = None
    time_column_features: torch.Tensor | None = None
    time_column_attention_mask: torch.Tensor | None = None
    time_column_timestamps: torch.Tensor | None = None


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

    loss: torch.Tensor | None = None
    masked_patch_loss: torch.Tensor | None = None
    global_loss: torch.Tensor | None = None
    contrastive_loss: torch.Tensor | None = None
    contrastive_accuracy: torch.Tensor | None = None
    target_variance: torch.Tensor | None = None
    prediction_variance: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


# ---- Transformer blocks (shared by the encoder, the Lambda Encoder and the predictor) -------------------------------
def padding_attention_mask(config, embeddings, valid, context=None):
    """transformers' attention mask of (B, L) token (or context) validity, None when `valid` is None. Built even when
    every token is valid: dropping it then would read `valid` back from the device, and at these lengths SDPA's
    memory-efficient kernel with a mask is as fast as flash attention without."""
    if valid is None:
        return None
    return create_bidirectional_mask(
        config=config,
        inputs_embeds=embeddings,
        attention_mask=valid,
        encoder_hidden_states=context,
        allow_is_bidirectional_skip=False,
    )


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
        self.q_proj = nn.Linear(hidden_size, hidden_size)
        self.k_proj = nn.Linear(hidden_size, hidden_size)
        self.v_proj = nn.Linear(hidden_size, hidden_size)
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
            # annotated `str`, but None (a standalone module) is handled: it warns and returns the default
            self.config._attn_implementation,  # pyright: ignore[reportArgumentType]
            eager_attention_forward,
        )
        dropout = self.attention_dropout if self.training else 0.0
        output, weights = attention_interface(
            self, query, key, value, attention_mask, dropout=dropout, scaling=self.scaling, **kwargs
        )
        output = self.o_proj(output.reshape(*hidden_states.shape[:-1], -1).contiguous())
        return output, weights


class AaSPMLP(nn.Module):
    def __init__(self, config: AaSPConfig, hidden_size: int | None = None, intermediate_size: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size or config.hidden_size, intermediate_size or config.intermediate_size)
        self.activation_fn = ACT2FN["gelu"]
        self.fc2 = nn.Linear(intermediate_size or config.intermediate_size, hidden_size or config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class AaSPLayer(GradientCheckpointingLayer):
    """Pre-LN Transformer block (widths default to the encoder's); with `cross_attention=True` it attends to a separate
    context (the predictor)."""

    def __init__(
        self, config: AaSPConfig, hidden_size=None, num_heads=None, intermediate_size=None, cross_attention=False
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


# ---- AaPE: aliasing-aware patch embedding ---------------------------------------------------------------------------
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
            [AaSPLayer(config, width, config.lambda_num_heads, 2 * width) for _ in range(config.lambda_num_layers)]
        )
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.head = AaSPLambdaHead(width, config.num_subbands * config.num_kernels * 2)

    def forward(self, patches: torch.Tensor, positions: torch.Tensor, patch_valid: torch.Tensor | None):
        hidden_states = self.input_proj(patches) + positions.to(patches.dtype)
        mask = padding_attention_mask(self.config, hidden_states, patch_valid)
        for block in self.blocks:
            hidden_states = block(hidden_states, mask)
        raw = self.head(self.norm(hidden_states))
        return raw.unflatten(-1, (self.config.num_subbands, self.config.num_kernels, 2))


class AaSPAliasingFeatures(nn.Module):
    """Zero-phase high-pass, adaptive SBLU and feature map: the aliasing-focused feature F_alias of each patch,
    (B, T, F) spectrogram + per-patch (alpha, beta) (B, K, S, H) -> (B, K, config.num_alias_features).

    "band_energy": the log band energy is spread onto fixed grid frequencies, so each feature keeps meaning one
    frequency when the betas move. "projection" (the paper's): Re, Im through a grouped pointwise projection to
    H' = PROJECTION_CHANNELS channels and GELU, flattened over (S, H', p_t). See `AaSPConfig.alias_features`.
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.config = config
        self.carrier = "linear" if config.alias_features == "band_energy" else "abs"
        if config.alias_features == "projection":
            groups, in_channels = config.num_subbands, 2 * config.num_kernels
            self.pointwise_weight = nn.Parameter(torch.empty(groups, PROJECTION_CHANNELS, in_channels))
            self.pointwise_bias = nn.Parameter(torch.zeros(groups, PROJECTION_CHANNELS))
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
        """First frame and length, each (B, G_f, G_t), of the signal each patch may read: the whole clip, or in a
        masked view (`visible_grid`) the run of visible time columns of the patch's row, cut at the clip's length."""
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
        """(B, T, F) -> (B, N, S, p_t + 2c): high-passed subband signal around every patch, extended past the ends of
        its run (`frame_runs`) by mirror reflection, so neither the batch's padding nor masked frames reach it."""
        cfg = self.config
        p_t, c = cfg.time_patch_size, cfg.sblu_half_length
        width = p_t + 2 * (c + p_t)  # the high-pass has 2 p_t + 1 taps
        signals = self.subband_signals(spectrogram)  # (B, G_f, S, T)
        batch, grid_f, subbands, frames = signals.shape
        grid_t = frames // p_t
        starts, lengths = self.frame_runs(frame_lengths, grid_t, visible_grid)
        offsets = torch.arange(width, device=signals.device) - (c + p_t)
        positions = (torch.arange(grid_t, device=signals.device) * p_t)[:, None] + offsets  # (G_t, width)
        index = reflect_into_runs(positions, starts[..., None], lengths[..., None])  # (B, G_f, G_t, width)
        index = index.reshape(batch, grid_f, 1, grid_t * width).expand(-1, -1, subbands, -1)
        windows = torch.gather(signals, 3, index).reshape(batch * grid_f * subbands * grid_t, width)
        windows = self.highpass(windows).reshape(batch, grid_f, subbands, grid_t, p_t + 2 * c)
        return windows.permute(0, 1, 3, 2, 4).reshape(batch, grid_f * grid_t, subbands, p_t + 2 * c)

    def highpass(self, windows: torch.Tensor) -> torch.Tensor:
        """(W, L) -> (W, L - 2 p_t): the zero-phase high-pass, keeping the samples it sees on both sides."""
        taps = highpass_taps(self.config.time_patch_size, dtype=windows.dtype, device=windows.device)
        return F.conv1d(windows[:, None], taps.view(1, 1, -1))[:, 0]

    def place_beta(self, windows: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The kernels' frequencies (B, K, S, H): with band-energy features, the Lambda Encoder's `beta` placed
        around the spectral peak of each patch's `windows` (B, K, S, p_t + 2c) (`anchor_beta`); else `beta`."""
        cfg = self.config
        if cfg.alias_features == "projection":
            return beta
        return anchor_beta(spectral_peak(windows, cfg.beta_min, cfg.beta_max), beta, cfg)

    def kernels(self, alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SBLU kernels (real, imaginary) of the two-sided window: each (B, K, S, H, 2c + 1)."""
        return sblu_kernel(alpha, beta, self.config.sblu_half_length, carrier=self.carrier)

    def feature_map(self, responses: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """SBLU outputs (B, K, S, 2H, p_t) (real parts, then imaginary) of kernels at `beta` (B, K, S, H) -> F_alias
        (B, K, num_alias_features)."""
        if self.config.alias_features == "band_energy":
            real, imag = responses.float().split(self.config.num_kernels, dim=3)
            energy = energy_on_grid((real.square() + imag.square()).mean(-1), beta, self.config)  # (B, K, S, H)
            return torch.log(energy + ALIAS_ENERGY_EPS).flatten(2).to(responses.dtype)
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
        """(B, T, F) spectrogram, (B,) frame lengths, (B, K, S, H) alpha and beta of the selected patches (B, K)
        (None = all N) as the Lambda Encoder estimates them, (B, N) visible patches of a masked view (None = the whole
        clip) -> (B, K, num_alias_features)."""
        windows = gather_patches(self.filtered_windows(spectrogram, frame_lengths, visible_grid), patch_indices)
        beta = self.place_beta(windows, beta)
        kernel_re, kernel_im = self.kernels(alpha, beta)
        return self.feature_map(apply_sblu(windows, kernel_re, kernel_im), beta)


class AaSPPatchFusion(nn.Linear):
    """Patch Fusion: Linear(D + dim(F_alias) -> D) over [LN(X_std), LN(F_alias)] (its own class for its init)."""


class AaSPPatchEmbeddings(nn.Module):
    """Patch stem: (B, T, F) spectrogram -> (B, K, D) patch tokens.

    `projection` is the ViT stem's Conv2d (kernel = stride = (p_f, p_t)) as the equivalent Linear over flattened
    patches, so that it applies to any subset of patches. With `use_aape`, the Lambda Encoder estimates each patch's
    SBLU parameters, the aliasing features follow, and Patch Fusion maps [LN(X_std), LN(F_alias)] back to D.
    """

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.config = config
        patch_dim = config.frequency_patch_size * config.time_patch_size
        self.projection = nn.Linear(patch_dim, config.hidden_size)
        if not config.use_aape:
            return
        self.lambda_encoder = AaSPLambdaEncoder(config)
        self.aliasing = AaSPAliasingFeatures(config)
        self.norm_standard = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.norm_alias = nn.LayerNorm(config.num_alias_features, eps=config.layer_norm_eps)
        self.fusion = AaSPPatchFusion(config.hidden_size + config.num_alias_features, config.hidden_size)

    def estimate_lambda(
        self, patches: torch.Tensor, patch_indices: torch.Tensor | None, patch_valid: torch.Tensor | None, grid_t: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SBLU decay and frequency per selected patch: each (B, K, S, H), float32."""
        cfg = self.config
        positions = sincos_2d_position_embeddings(
            cfg.num_frequency_patches, grid_t, cfg.lambda_hidden_size, device=patches.device
        )
        positions = gather_patches(positions[None].expand(patches.shape[0], -1, -1), patch_indices)
        return lambda_from_raw(self.lambda_encoder(patches, positions, patch_valid), cfg)

    def fuse(self, standard: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
        """(B, K, D) standard tokens + (B, K, dim(F_alias)) aliasing features -> (B, K, D) fused tokens."""
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
        """(B, T, F) spectrogram (T a multiple of p_t, frames past each clip's (B,) length zeroed) -> (B, K, D) tokens
        of the (B, K) `patch_indices` (None = all N); `patch_valid` (B, K) marks padding entries, `visible_grid`
        (B, N) the visible patches of a masked view, whose runs of visible columns alone AaPE's filters read."""
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
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def prepare_inputs(
        self, input_values: torch.Tensor | None, attention_mask: torch.Tensor | None, check_values: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate (B, T, F) floating log-mel frames and their (B, T) 0/1 right-padded mask (None: all real) -> the
        (B, T_pad, F) spectrogram in the model's dtype, T padded to a multiple of p_t and every frame past each clip's
        length zero, and the (B,) valid frame counts. `check_values=False` skips the checks that read values (mask
        contents, finiteness), for callers that ran `validate_input_values` on the host."""
        cfg = self.config
        # check_input_values raises a TypeError on anything but a tensor, None included
        input_values = cast(torch.Tensor, input_values)
        check_input_values(input_values, cfg.num_mel_bins)
        batch, frames, _ = input_values.shape
        frame_lengths = frame_lengths_from_mask(attention_mask, batch, frames, input_values.device, check_values)
        dtype = self.patch_embeddings.projection.weight.dtype
        padded_frames = cfg.patch_grid(frames).padded_frames
        spectrogram = zero_padding_frames(input_values, frame_lengths, padded_frames, dtype, check_values)
        return spectrogram, frame_lengths

    def position_table(self, grid_t: int, device) -> torch.Tensor:
        """(N, D) fixed 2-D sin-cos position embeddings of the (G_f, grid_t) grid."""
        cfg = self.config
        return sincos_2d_position_embeddings(cfg.num_frequency_patches, grid_t, cfg.hidden_size, device=device)

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
        assert patch_valid is not None, "callers that pass patch_indices pass their patch validity too"
        cls = self.cls_token.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        embeddings = self.dropout(torch.cat([cls, tokens], dim=1))
        token_valid = torch.cat([torch.ones_like(patch_valid[:, :1]), patch_valid], dim=1)
        return embeddings, token_valid


# ---- Pre-trained model base, encoder and classifier -----------------------------------------------------------------
class AaSPPreTrainedModel(PreTrainedModel):
    config: AaSPConfig
    base_model_prefix = "aasp"
    main_input_name = "input_values"
    # annotated `str | list[str]` by transformers, whose own models set tuples
    input_modalities = ("audio",)  # pyright: ignore[reportAssignmentType]
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
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [r"(teacher|predictor|global_head|contrastive_head)\."]
    model_tags: ClassVar[list[str]] = ["transformers_aasp", "audio", "aasp"]
    # Classes whose code `save_pretrained` copies next to the weights besides the model's own; `import
    # transformers_aasp` adds the audio-classification pipeline (the model does not import its consumers).
    code_saved_with_weights: ClassVar[list[type]] = []

    # Auto classes that load any AaSP checkpoint (encoder, classifier or pre-training); `save_pretrained` adds the
    # model's own registered class (AutoModelForPreTraining for a pre-training checkpoint).
    auto_classes_of_every_checkpoint: ClassVar[dict[str, str]] = {
        "AutoModel": "modeling_aasp.AaSPModel",
        "AutoModelForAudioClassification": "modeling_aasp.AaSPForAudioClassification",
        "AutoFeatureExtractor": "feature_extraction_aasp.AaSPFeatureExtractor",
    }

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; when the code travels with the checkpoint (`import transformers_aasp` registers it), with
        `auto_classes_of_every_checkpoint` in `auto_map` and the code of `code_saved_with_weights` next to the weights."""
        if getattr(self, "_auto_class", None) is None:
            return super().save_pretrained(save_directory, *args, **kwargs)
        # rebuilt on each save: an encoder shares its config with the pre-training model it is exported from
        self.config.auto_map = dict(self.auto_classes_of_every_checkpoint)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            for code in self.code_saved_with_weights:
                custom_object_save(code, save_directory)
        return result

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, AaSPLambdaHead):
            # start from evenly spread frequencies and SBLU_ALPHA_INIT, whatever the input
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
            weight[:, self.config.hidden_size :] = 0.0  # start as the plain stem; learn how much alias to mix
            init.copy_(module.weight, weight)
            init.zeros_(module.bias)
            return
        super()._init_weights(module)
        if isinstance(module, AaSPEmbeddings):
            init.trunc_normal_(module.cls_token, std=self.config.initializer_range)
        elif isinstance(module, AaSPAliasingFeatures) and getattr(module, "pointwise_weight", None) is not None:
            init.normal_(module.pointwise_weight, std=(2 * self.config.num_kernels) ** -0.5)
            init.zeros_(module.pointwise_bias)
        elif isinstance(module, AaSPPredictor):
            init.trunc_normal_(module.mask_token, std=self.config.initializer_range)


class AaSPModel(AaSPPreTrainedModel):
    """The AaSP encoder: AaPE patch stem + ViT. Outputs CLS, patch tokens and time-frame features."""

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
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
        mask = padding_attention_mask(self.config, embeddings, token_valid)
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
        columns = torch.arange(grid_t, device=sequence_output.device, dtype=torch.float32)
        return features, column_valid, (columns + 0.5) / cfg.time_column_rate

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
        band-energy features, after placement around each patch's spectral peak), `frequency_hz` (beta as a
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
        windows = patch_embeddings.aliasing.filtered_windows(spectrogram, frame_lengths)
        beta = patch_embeddings.aliasing.place_beta(windows, beta)
        grid = (spectrogram.shape[0], cfg.num_frequency_patches, grid_t, cfg.num_subbands, cfg.num_kernels)
        return {
            "alpha": alpha.reshape(grid),
            "beta": beta.reshape(grid),
            "frequency_hz": beta.reshape(grid) * cfg.frame_rate / (2 * math.pi),
            "patch_valid": patch_valid.reshape(grid[:3]),
        }


class AaSPAttentionScore(nn.Linear):
    """Score of each patch token for attention pooling (its own class for its zero initialisation)."""


class AaSPAttentionPooling(nn.Module):
    """Attention pooling, (B, L, D) tokens + (B, L) validity -> (B, D): a learned score per token, softmax over the
    valid tokens, weighted mean. The score starts at zero, so at initialisation this is the padding-aware mean."""

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
    """LayerNorm + Linear over the pooled representation: (B, D) -> (B, num_labels); with
    `classifier_pooling="attention"` it also holds the attention pooling."""

    def __init__(self, config: AaSPConfig):
        super().__init__()
        if config.classifier_pooling == "attention":
            self.attention_pooling = AaSPAttentionPooling(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        if config.num_labels is None:
            raise ValueError("The classification head needs labels: set `num_labels` or `id2label` in the config.")
        self.dense = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(pooled))


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
        """(B, D) clip representation (`config.classifier_pooling`): the CLS token, or the padding-aware mean or
        attention pooling of the patch tokens."""
        pooling = self.config.classifier_pooling
        hidden, pooled, valid = outputs.last_hidden_state, outputs.pooler_output, outputs.patch_attention_mask
        assert hidden is not None and pooled is not None and valid is not None, "AaSPModel.forward sets them all"
        if pooling == "cls":
            return pooled
        patches = hidden[:, 1:]
        if pooling == "attention":
            return self.classifier.attention_pooling(patches, valid)
        return masked_mean(patches, valid)

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
            class indices (single-label) or multi-hot targets (`problem_type="multi_label_classification"`).

        One forward of the clips as given, in train and eval mode alike: logits (batch, num_labels); shifted-view
        averaging (`config.classifier_shift_views`) is `transformers_aasp.tta.average_shifted_views`.
        """
        outputs = self.aasp(input_values, attention_mask=attention_mask, **kwargs)
        logits = self.classifier(self.pool(outputs))
        loss = None
        if labels is not None:
            loss = self.loss_function(labels, logits, self.config, **kwargs)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


# ---- Self-supervised pre-training -----------------------------------------------------------------------------------
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
        block = (config, width, config.predictor_num_heads, config.predictor_intermediate_size)
        self.blocks = nn.ModuleList(
            [AaSPLayer(*block, cross_attention=True) for _ in range(config.predictor_num_layers)]
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
        mask = padding_attention_mask(cfg, queries, context_valid, context)
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
        loaded = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        model, info = cast(tuple["AaSPForPreTraining", dict], loaded)  # output_loading_info=True: (model, info)
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
        return annealed_decay(step, cfg.ema_decay_start, cfg.ema_decay_end, cfg.ema_anneal_steps)

    @torch.no_grad()
    def update_teacher(self, step: int) -> float:
        """teacher <- decay * teacher + (1 - decay) * student in the teacher's dtype (one foreach call); returns the
        decay used. A teacher cast to bf16 (DeepSpeed) cannot take such small steps: training code keeps fp32
        masters instead (`transformers_aasp.training.ema.TeacherEMA`)."""
        decay = self.ema_decay(step)
        teacher: list[torch.Tensor] = list(self.teacher.parameters())
        student = [p.to(t.dtype) for p, t in zip(self.aasp.parameters(), teacher, strict=True)]  # no_grad
        torch._foreach_lerp_(teacher, student, 1.0 - decay)
        for teacher_buffer, student_buffer in zip(self.teacher.buffers(), self.aasp.buffers(), strict=True):
            teacher_buffer.copy_(student_buffer)
        return decay

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher never uses dropout
        return self

    def export_encoder(self, save_directory, weights: str = "student", **kwargs):
        """Save the student (default: what the optimizer trained and what EAT / data2vec 2.0 fine-tune) or the teacher
        (an EMA that lags it, sometimes better early in training) encoder as an `AaSPModel` checkpoint."""
        if weights not in PRETRAINING_EXPORTS:
            raise ValueError(f"weights must be one of {PRETRAINING_EXPORTS}, got {weights!r}.")
        encoder = self.aasp if weights == "student" else self.teacher
        encoder.save_pretrained(save_directory, **kwargs)

    @torch.no_grad()
    def teacher_targets(self, spectrogram: torch.Tensor, frame_valid: torch.Tensor | None):
        """(B, T, F) padded spectrogram with its (B, T) frame validity (or None) -> targets (B, N, D) pooled from every
        teacher layer's output (`pooled_targets`), patch validity (B, N), and the collapse alarm: the mean per-channel
        variance over the batch's valid patches of the raw layer average (0 when every patch maps to one vector).
        The spectrogram is the student's, already checked and padded: the teacher's layers run on it directly."""
        teacher = self.teacher
        batch, frames, _ = spectrogram.shape
        frame_lengths = frame_lengths_from_mask(frame_valid, batch, frames, spectrogram.device, check_values=False)
        embeddings, token_valid = teacher.embeddings(spectrogram.to(teacher.dtype), frame_lengths)
        mask = padding_attention_mask(self.config, embeddings, token_valid)
        hidden_states, layers = embeddings, []
        for layer in teacher.layers:
            hidden_states = layer(hidden_states, mask)
            layers.append(hidden_states[:, 1:].float())
        valid = token_valid[:, 1:]
        layer_sum = cast(torch.Tensor, sum(layers))  # a sum of tensors
        return pooled_targets(layers, valid), valid, masked_variance(layer_sum / len(layers), valid)

    # ----- student -----
    def mask_views(
        self, patch_valid: torch.Tensor, generator: torch.Generator | None, noise: torch.Tensor | None
    ) -> PatchSelection:
        """Masks of the M views of each clip (`inverse_block_mask`): (B, N) patch validity and optional (B, M, 2, N)
        noise -> a selection over the B * M views, the M views of clip b in rows b * M to (b + 1) * M."""
        cfg = self.config
        return inverse_block_mask(
            patch_valid.repeat_interleave(cfg.num_mask_clones, dim=0),
            cfg.num_frequency_patches,
            cfg.mask_ratio,
            cfg.mask_block_size,
            generator=generator,
            noise=noise.flatten(0, 1) if noise is not None else None,
        )

    def encode_masked_views(
        self, spectrogram, frame_lengths, selection: PatchSelection, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[BaseModelOutput, torch.Tensor]:
        """Student on visible patches only: (B', T, F) -> output with `last_hidden_state` (B', 1 + K, D) (and hidden
        states / attentions when asked) and token validity (B', 1 + K). AaPE reads nothing of the masked patches."""
        embeddings, token_valid = self.aasp.embeddings(
            spectrogram, frame_lengths, selection.visible, selection.visible_valid, selection.visible_grid
        )
        return self.aasp.encode_with_outputs(embeddings, token_valid, **kwargs), token_valid

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        mask_generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
        check_values: bool = True,
        **kwargs: Unpack[TransformersKwargs],
    ) -> AaSPForPreTrainingOutput:
        r"""
        input_values (`torch.FloatTensor` of shape `(batch, frames, num_mel_bins)`): normalised log-mel crops.
        attention_mask (`torch.LongTensor` of shape `(batch, frames)`, *optional*): 1 for real frames (right padding).
        mask_generator (`torch.Generator`, *optional*): source of the masks (default: the global RNG). Seed it per
            process in distributed training, or every process draws the same masks.
        noise (`torch.FloatTensor` of shape `(batch, num_mask_clones, 2, num_patches)`, *optional*): uniform values
            in [0, 1) that decide the masks instead of a random draw (see `inverse_block_mask`), so the same inputs
            give the same outputs; `num_patches` is `config.patch_grid(frames).num_patches`. Drawn by the data loader
            (`draw_mask_noise`), it keeps the generator out of the step (a host-to-device copy, and a graph break).
        check_values (`bool`, *optional*, defaults to `True`): check the mask's values and the frames' finiteness, a
            device-to-host synchronisation; pass `False` when the data side ran `validate_input_values`. With it (or
            under `torch.compile`), the forward and backward read nothing back from the device.
        output_hidden_states / output_attentions (`bool`, *optional*): return the student encoder's hidden states /
            attention weights on the masked views (attentions need `attn_implementation="eager"`).
        """
        cfg = self.config
        clones = cfg.num_mask_clones
        spectrogram, frame_lengths = self.aasp.embeddings.prepare_inputs(input_values, attention_mask, check_values)
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
        selection = self.mask_views(patch_valid, mask_generator, noise)
        student_outputs, token_valid = self.encode_masked_views(views, view_lengths, selection, **kwargs)
        student = student_outputs.last_hidden_state
        assert student is not None, "encode_with_outputs always sets last_hidden_state"

        # regression of the teacher's targets at the masked patches
        predictions = self.predictor(student, token_valid, selection.masked, grid_t)
        # the targets of view b * M + m are those of clip b: gather the M views' masked patches from the clip's row
        view_targets = gather_patches(targets, selection.masked.reshape(targets.shape[0], -1))
        view_targets = view_targets.reshape(*selection.masked.shape, -1)
        masked_patch_loss = masked_mse(predictions.float(), view_targets, selection.masked_valid)

        # global loss: CLS regresses the mean teacher target of the clip
        global_target = masked_mean(targets, patch_valid).repeat_interleave(clones, dim=0)
        global_loss = F.mse_loss(self.global_head(student[:, 0]).float(), global_target)

        # multi-mask contrastive consistency
        projections = F.normalize(self.contrastive_head(student[:, 0]).float(), dim=-1)
        clip_ids = torch.arange(spectrogram.shape[0], device=spectrogram.device).repeat_interleave(clones)
        contrastive_loss, contrastive_accuracy = multi_positive_info_nce(
            projections, clip_ids, cfg.contrastive_temperature, self.gather_views
        )

        loss = (
            masked_patch_loss + cfg.global_loss_weight * global_loss + cfg.contrastive_loss_weight * contrastive_loss
        )
        prediction_variance = masked_variance(predictions.detach(), selection.masked_valid)
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


__all__ = [
    "AaSPForAudioClassification",
    "AaSPForPreTraining",
    "AaSPModel",
    "AaSPPreTrainedModel",
    "draw_mask_noise",
    "highpass_taps",
    "inverse_block_mask",
    "sblu_kernel",
    "validate_input_values",
]
