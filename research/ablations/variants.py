# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The model variants of the research arms, each a module that replaces one module of the package's model, or a
mixin that replaces one step of a model class. Parameter names are those the variants had as config options, so
earlier checkpoints and results of an arm load and reproduce."""

import torch
import torch.nn.functional as F
from torch import nn

from transformers_aasp.configuration_aasp import ALIAS_ENERGY_EPS, AaSPConfig
from transformers_aasp.functional_aasp import (
    PatchSelection,
    initial_lambda_raw,
    lambda_from_raw,
    mask_draws,
    masked_mean,
    pooled_targets,
    sblu_kernel,
    select_visible,
)
from transformers_aasp.modeling_aasp import (
    AaSPAliasingFeatures,
    AaSPEmbeddings,
    AaSPForAudioClassification,
    AaSPForPreTraining,
    AaSPModelOutput,
    AaSPPatchEmbeddings,
)


GATE_INIT = 0.01  # initial gate of the gated residual fusion
MAX_TIME_PATCHES = 64  # time columns of the learned position table


# ---- Encoder modules (installed in every AaSPModel of a model: the student, the teacher, a classifier's encoder) ----


class LearnedPositionEmbeddings(AaSPEmbeddings):
    """A learned (G_f, MAX_TIME_PATCHES, D) position table instead of the fixed 2-D sin-cos embeddings."""

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
        shape = (config.num_frequency_patches, MAX_TIME_PATCHES, config.hidden_size)
        self.position_embeddings = nn.Parameter(torch.zeros(shape))

    def reset_research_parameters(self):
        nn.init.trunc_normal_(self.position_embeddings, std=self.config.initializer_range)

    def position_table(self, grid_t: int, device) -> torch.Tensor:
        if grid_t > MAX_TIME_PATCHES:
            raise ValueError(f"Input has {grid_t} time patches but the learned table covers {MAX_TIME_PATCHES}.")
        return self.position_embeddings[:, :grid_t].reshape(-1, self.config.hidden_size)


class GatedAliasFusion(nn.Module):
    """X_std + gamma * W LN(F_alias), gamma a learnable per-channel gate: (B, K, D), (B, K, dim(F_alias)) -> (B, K, D).
    With gamma = 0 the tokens are exactly the plain stem's, and the level of each patch survives."""

    def __init__(self, config: AaSPConfig):
        super().__init__()
        self.norm_alias = nn.LayerNorm(config.num_alias_features, eps=config.layer_norm_eps)
        self.alias_projection = nn.Linear(config.num_alias_features, config.hidden_size)
        self.gate = nn.Parameter(torch.full((config.hidden_size,), GATE_INIT))

    def reset_research_parameters(self):
        nn.init.constant_(self.gate, GATE_INIT)

    def forward(self, standard: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
        alias = self.alias_projection(self.norm_alias(alias.to(standard.dtype)))
        return standard + self.gate.to(standard.dtype) * alias


class GatedFusionPatchEmbeddings(AaSPPatchEmbeddings):
    """AaPE fused by `GatedAliasFusion` (`gated_fusion`) instead of the concat Patch Fusion."""

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
        del self.norm_standard, self.norm_alias, self.fusion
        self.gated_fusion = GatedAliasFusion(config)

    def fuse(self, standard: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
        return self.gated_fusion(standard, alias)


class FixedLambdaPatchEmbeddings(AaSPPatchEmbeddings):
    """AaPE with learned SBLU parameters shared by all patches (`lambda_raw`, (S, H, 2)) and no Lambda Encoder."""

    def __init__(self, config: AaSPConfig):
        super().__init__(config)
        del self.lambda_encoder
        self.lambda_raw = nn.Parameter(initial_lambda_raw(config))

    def reset_research_parameters(self):
        with torch.no_grad():
            self.lambda_raw.copy_(initial_lambda_raw(self.config))

    def estimate_lambda(self, patches, patch_indices, patch_valid, grid_t):
        raw = self.lambda_raw[None, None].expand(patches.shape[0], patches.shape[1], -1, -1, -1)
        return lambda_from_raw(raw, self.config)


class NormalInitPatchFusion(nn.Linear):
    """The Patch Fusion with every weight drawn normally (the package starts the aliasing columns at zero)."""


class UnanchoredBandEnergy(AaSPAliasingFeatures):
    """Band energy at the Lambda Encoder's betas, with no spectral-peak anchor and no grid: log(eps + mean |y|^2)."""

    def place_beta(self, windows: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return beta

    def feature_map(self, responses: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        real, imag = responses.float().split(self.config.num_kernels, dim=3)
        energy = (real.square() + imag.square()).mean(-1)
        return torch.log(energy + ALIAS_ENERGY_EPS).flatten(2).to(responses.dtype)


class WindowedAliasingFeatures(AaSPAliasingFeatures):
    """SBLU kernels under another window: `"one_sided"` (causal, SSM-style) or `"gaussian"` (the paper's Figure 2)."""

    window = "two_sided"

    def kernels(self, alpha: torch.Tensor, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return sblu_kernel(alpha, beta, self.config.sblu_half_length, self.window, carrier=self.carrier)


class OneSidedAliasingFeatures(WindowedAliasingFeatures):
    window = "one_sided"


class GaussianAliasingFeatures(WindowedAliasingFeatures):
    window = "gaussian"


class NoHighpassAliasingFeatures(AaSPAliasingFeatures):
    """No high-pass before the SBLU: the windows are the subband signal itself."""

    def highpass(self, windows: torch.Tensor) -> torch.Tensor:
        p_t = self.config.time_patch_size
        return windows[:, p_t:-p_t]


# ---- Model steps (mixins placed before the package class) -----------------------------------------------------------


def bernoulli_block_mask(
    patch_valid: torch.Tensor,
    grid_f: int,
    mask_ratio: float,
    block_size: int,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> PatchSelection:
    """Block masking from Bernoulli seeds (probability n_keep / (n_valid * block_size^2)), each uncovering the block
    centred on it, then trimmed or topped up to n_keep patches as `inverse_block_mask` does."""
    batch, num_patches = patch_valid.shape
    grid_t = num_patches // grid_f
    seed_draw, order_draw = mask_draws(patch_valid, generator, noise)
    n_valid = patch_valid.sum(1)
    n_keep = torch.round((1.0 - mask_ratio) * n_valid.float()).long().clamp(min=1)
    seed_prob = (n_keep.float() / (n_valid.float() * block_size**2)).clamp(max=1.0)
    seeds = (seed_draw < seed_prob[:, None]).float().reshape(batch, 1, grid_f, grid_t)
    blocks = F.max_pool2d(seeds, block_size, stride=1, padding=block_size // 2)[:, 0, :grid_f, :grid_t]
    return select_visible(blocks.reshape(batch, -1), patch_valid, mask_ratio, order_draw)


class BernoulliMasking:
    """AaSPForPreTraining masking its views with `bernoulli_block_mask`."""

    def mask_views(self, patch_valid, generator, noise) -> PatchSelection:
        cfg = self.config
        return bernoulli_block_mask(
            patch_valid.repeat_interleave(cfg.num_mask_clones, dim=0),
            cfg.num_frequency_patches,
            cfg.mask_ratio,
            cfg.mask_block_size,
            generator=generator,
            noise=noise.flatten(0, 1) if noise is not None else None,
        )


def hide_masked_patches(spectrogram: torch.Tensor, visible_grid: torch.Tensor, config: AaSPConfig) -> torch.Tensor:
    """Zero every frame/bin of the patches that are not visible: (B, T, F) with (B, N) -> (B, T, F)."""
    batch, frames, _ = spectrogram.shape
    grid = visible_grid.reshape(batch, config.num_frequency_patches, frames // config.time_patch_size)
    frame_mask = grid.to(spectrogram.dtype).repeat_interleave(config.frequency_patch_size, dim=1)
    frame_mask = frame_mask.repeat_interleave(config.time_patch_size, dim=2)  # (B, F, T)
    return spectrogram * frame_mask.transpose(1, 2)


class ZeroedMaskedViews:
    """AaSPForPreTraining whose student AaPE filters the whole view with its masked patches zeroed."""

    def encode_masked_views(self, spectrogram, frame_lengths, selection: PatchSelection, **kwargs):
        spectrogram = hide_masked_patches(spectrogram, selection.visible_grid, self.config)
        embeddings, token_valid = self.aasp.embeddings(
            spectrogram, frame_lengths, selection.visible, selection.visible_valid, None
        )
        return self.aasp.encode_with_outputs(embeddings, token_valid, **kwargs), token_valid


class FFNTargets:
    """AaSPForPreTraining whose targets pool the teacher layers' FFN outputs before the residual (data2vec 2.0 / EAT);
    the collapse alarm still reads the residual stream."""

    @torch.no_grad()
    def teacher_targets(self, spectrogram: torch.Tensor, frame_valid: torch.Tensor | None):
        ffn_outputs = []
        hooks = [
            layer.mlp.register_forward_hook(lambda module, args, output: ffn_outputs.append(output))
            for layer in self.teacher.layers
        ]
        try:
            outputs = self.teacher(spectrogram, attention_mask=frame_valid, output_hidden_states=True)
        finally:
            for hook in hooks:
                hook.remove()
        valid = outputs.patch_attention_mask.bool()
        blocks = [layer[:, 1:].float() for layer in outputs.hidden_states[-self.config.num_hidden_layers :]]
        ffn = [output[:, 1:].float() for output in ffn_outputs]
        return pooled_targets(ffn, valid), valid, (sum(blocks) / len(blocks))[valid].var(0).mean()


def masked_std(tokens: torch.Tensor, valid: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Standard deviation over the token axis of (B, L, D) counting only valid (B, L) tokens: (B, D)."""
    weights = valid.to(tokens.dtype)[..., None]
    variance = (((tokens - masked_mean(tokens, valid)[:, None]) ** 2) * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return torch.sqrt(variance + eps)


class WideClassificationHead(nn.Module):
    """LayerNorm + Linear over a pooled representation `multiple` times hidden_size wide."""

    def __init__(self, config: AaSPConfig, multiple: int):
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size * multiple, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size * multiple, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.dense(self.layernorm(pooled))


class ClsMeanPooling:
    """AaSPForAudioClassification pooling [CLS, mean of the patch tokens]: (B, 2D)."""

    def head_width_multiple(self) -> int:
        return 2

    def pool(self, outputs: AaSPModelOutput) -> torch.Tensor:
        mean = masked_mean(outputs.last_hidden_state[:, 1:], outputs.patch_attention_mask)
        return torch.cat([outputs.pooler_output, mean], dim=-1)


class MeanStdPooling:
    """AaSPForAudioClassification pooling statistics: [mean, standard deviation] of the patch tokens: (B, 2D)."""

    def head_width_multiple(self) -> int:
        return 2

    def pool(self, outputs: AaSPModelOutput) -> torch.Tensor:
        patches, valid = outputs.last_hidden_state[:, 1:], outputs.patch_attention_mask
        return torch.cat([masked_mean(patches, valid), masked_std(patches, valid)], dim=-1)


class TimeColumnPooling:
    """AaSPForAudioClassification pooling the mean of the time-column features (G_f rows apart): (B, G_f * D)."""

    def head_width_multiple(self) -> int:
        return self.config.num_frequency_patches

    def pool(self, outputs: AaSPModelOutput) -> torch.Tensor:
        return masked_mean(outputs.time_column_features, outputs.time_column_attention_mask)


# variant name -> (path of the module it replaces inside an AaSPModel, its class)
ENCODER_VARIANTS = {
    "learned_positions": ("embeddings", LearnedPositionEmbeddings),
    "gated_fusion": ("embeddings.patch_embeddings", GatedFusionPatchEmbeddings),
    "fixed_lambda": ("embeddings.patch_embeddings", FixedLambdaPatchEmbeddings),
    "fusion_normal_init": ("embeddings.patch_embeddings.fusion", NormalInitPatchFusion),
    "unanchored_band_energy": ("embeddings.patch_embeddings.aliasing", UnanchoredBandEnergy),
    "one_sided_window": ("embeddings.patch_embeddings.aliasing", OneSidedAliasingFeatures),
    "gaussian_window": ("embeddings.patch_embeddings.aliasing", GaussianAliasingFeatures),
    "no_highpass": ("embeddings.patch_embeddings.aliasing", NoHighpassAliasingFeatures),
}
# variant name -> (the package class it applies to, its mixin)
MODEL_VARIANTS = {
    "bernoulli_masking": (AaSPForPreTraining, BernoulliMasking),
    "zeroed_masked_views": (AaSPForPreTraining, ZeroedMaskedViews),
    "ffn_targets": (AaSPForPreTraining, FFNTargets),
    "cls_mean_pooling": (AaSPForAudioClassification, ClsMeanPooling),
    "mean_std_pooling": (AaSPForAudioClassification, MeanStdPooling),
    "time_column_pooling": (AaSPForAudioClassification, TimeColumnPooling),
}


def build_module(variant: str, config: AaSPConfig) -> nn.Module:
    """A new module of an encoder variant (`NormalInitPatchFusion` takes the Patch Fusion's sizes)."""
    module_class = ENCODER_VARIANTS[variant][1]
    if module_class is NormalInitPatchFusion:
        return NormalInitPatchFusion(config.hidden_size + config.num_alias_features, config.hidden_size)
    return module_class(config)
