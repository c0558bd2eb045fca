# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""AaSP model configuration."""

import math
from typing import Any, NamedTuple

from huggingface_hub.dataclasses import strict
from transformers.configuration_utils import PreTrainedConfig


ALIAS_FEATURES = ("band_energy", "projection")
CLASSIFIER_POOLINGS = ("cls", "mean", "attention")
PRETRAINING_EXPORTS = ("student", "teacher")

# Constants of the method, not options
SBLU_ALPHA_MIN = 0.01  # floor of the SBLU decay alpha, per frame
SBLU_ALPHA_INIT = 0.1  # decay at initialisation
BETA_ANCHOR_SPREAD = 0.75  # half-width of the kernels' placement around the spectral peak, as a fraction of the band
ALIAS_ENERGY_EPS = 1e-4  # eps of the log band energy
PROJECTION_CHANNELS = 8  # channels H' of the grouped pointwise projection (alias_features="projection")
MASK_OVERLAP_ADJUST = 0.07  # extra visible fraction that sizes the block seeds for their overlap (EAT's)
# Options that are not fields: a config.json naming one loads only with the value the model computes (a constant, or
# a function of the config) and is refused with any other value. Their variants are research arms (research/ablations).
PAPER_PATH = {"band_energy": ("spectral_peak", "linear", "log_energy_grid"), "projection": ("none", "abs", "flatten")}
FIXED_OPTIONS = {
    "qkv_bias": True,
    "hidden_act": "gelu",
    "position_embedding_type": "sincos",
    "max_time_patches": 64,
    "lambda_mode": "predicted",
    "sblu_window": "two_sided",
    "use_highpass": True,
    "alpha_min": SBLU_ALPHA_MIN,
    "alpha_init": SBLU_ALPHA_INIT,
    "beta_anchor_spread": BETA_ANCHOR_SPREAD,
    "sblu_out_channels": PROJECTION_CHANNELS,
    "alias_energy_eps": ALIAS_ENERGY_EPS,
    "fusion_type": "concat",
    "fusion_gate_init": 0.01,
    "fusion_zero_init_alias": True,
    "mask_seed_mode": "fixed_count",
    "mask_overlap_adjust": MASK_OVERLAP_ADJUST,
    "masked_view_alias_input": "mirror_runs",
    "target_type": "block_output",
}
DERIVED_OPTIONS = {
    "lambda_intermediate_size": lambda c: 2 * c.lambda_hidden_size,
    "num_target_layers": lambda c: c.num_hidden_layers,
    "beta_min": lambda c: c.beta_min,
    "beta_max": lambda c: c.beta_max,
    "beta_anchor": lambda c: PAPER_PATH[c.alias_features][0],
    "sblu_carrier": lambda c: PAPER_PATH[c.alias_features][1],
    "sblu_features": lambda c: PAPER_PATH[c.alias_features][2],
}
# Field rules of `AaSPConfig.validate_fields`: every int field (a size or a count) and POSITIVE_FLOATS must be
# positive, except NON_NEGATIVE_FIELDS, which may be 0.
POSITIVE_FLOATS = ("frame_rate", "layer_norm_eps", "contrastive_temperature")
NON_NEGATIVE_FIELDS = (
    "initializer_range",
    "lambda_num_layers",
    "sblu_half_length",
    "global_loss_weight",
    "contrastive_loss_weight",
    "ema_anneal_steps",
)
DIVISIBLE_FIELDS = (
    ("hidden_size", "num_attention_heads"),
    ("lambda_hidden_size", "lambda_num_heads"),
    ("predictor_hidden_size", "predictor_num_heads"),
    ("num_mel_bins", "frequency_patch_size"),
    ("frequency_patch_size", "num_subbands"),
)
# The `custom_pipelines` entry of a saved config.json (`AaSPConfig.to_dict`): `pipeline(..., trust_remote_code=True)`
# builds the pipeline from the pipeline_aasp.py saved next to the weights, on a machine without this package.
PIPELINE_TASK = "audio-classification"
REMOTE_PIPELINE = {
    "impl": "pipeline_aasp.AaSPAudioClassificationPipeline",
    "pt": ["AutoModelForAudioClassification"],
    "type": "audio",
}
IS_INSTALLED_PACKAGE = not __name__.startswith("transformers_modules")  # False when run as a checkpoint's code


class PatchGrid(NamedTuple):
    """A clip's patch grid: frames right-padded to a multiple of p_t, rows G_f, time columns G_t, N = G_f * G_t."""

    padded_frames: int
    frequency_patches: int
    time_patches: int
    num_patches: int


@strict
class AaSPConfig(PreTrainedConfig):
    r"""
    Configuration of an AaSP model: a ViT over log-mel spectrograms whose patch stem is AaPE (aliasing-aware patch
    embedding), plus AaSP self-supervised pre-training. `AaSPConfig()` is ViT-B with the default AaPE,
    `AaSPConfig.paper()` the method as the paper describes it, `AaSPConfig.tiny()` a small model for tests and CPU
    demos. A clip of T frames x F mel bins is cut into a (G_f, G_t) grid of p_f x p_t patches.

    Input: num_mel_bins F, a multiple of frequency_patch_size p_f; time_patch_size p_t in frames, the token stride;
        frame_rate: the feature extractor's sampling_rate / hop_length.
    Encoder: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_dropout_prob,
        attention_probs_dropout_prob, layer_norm_eps, initializer_range: as in ViT, with fixed 2-D sin-cos positions.
    AaPE: use_aape: `False` gives the plain ViT stem (the paper's baseline).
        alias_features: the aliasing feature F_alias of a patch. "band_energy": kernels placed around the patch's
            spectral peak, analytic band-pass carrier, log band energy on fixed grid frequencies (S * H features).
            "projection" (the paper's): beta as the Lambda Encoder estimates it, the bilateral kernel exp(-Lambda |m|),
            Re and Im through a grouped pointwise projection and GELU (S * 8 * p_t features).
        lambda_hidden_size, lambda_num_layers, lambda_num_heads: the Lambda Encoder, a narrow Transformer over patches
            (MLP width 2x) that estimates the SBLU decay and frequency of every patch.
        num_subbands S per patch row; num_kernels H, SBLU kernels per subband; sblu_half_length c (2c + 1 taps).
    Classification: classifier_pooling: "cls", "mean" (padding-aware mean of the patch tokens) or "attention" (a
        learned score per patch token, softmax over the valid ones; starts as the mean).
        classifier_shift_views: an inference hint saved with the checkpoint, read by no `forward`: the time-shifted
            views (1 to p_t) whose logits the pipeline and the fine-tuning test scoring average (`tta`).
    Pre-training (AaSPForPreTraining; the targets average all teacher layers):
        num_mask_clones M, masked views per clip; mask_ratio: fraction hidden from the student; mask_block_size: side
            of the square visible blocks of inverse-block masking.
        predictor_*: the cross-attention predictor. global_loss_weight: the CLS regression; contrastive_*: the
            multi-mask contrastive loss.
        ema_decay_start, ema_decay_end, ema_anneal_steps: the teacher's EMA decay rises linearly from start to end
            over the first `ema_anneal_steps` optimizer steps, then stays.
    """

    model_type = "aasp"

    num_mel_bins: int = 80
    frequency_patch_size: int = 16
    time_patch_size: int = 16
    frame_rate: float = 100.0
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    use_aape: bool = True
    alias_features: str = "band_energy"
    lambda_hidden_size: int = 128
    lambda_num_layers: int = 2
    lambda_num_heads: int = 4
    num_subbands: int = 4
    num_kernels: int = 8
    sblu_half_length: int = 16
    classifier_pooling: str = "cls"
    classifier_shift_views: int = 1
    num_mask_clones: int = 8
    mask_ratio: float = 0.8
    mask_block_size: int = 5
    predictor_hidden_size: int = 384
    predictor_num_layers: int = 4
    predictor_num_heads: int = 6
    predictor_intermediate_size: int = 1536
    global_loss_weight: float = 1.0
    contrastive_loss_weight: float = 0.1
    contrastive_temperature: float = 0.1
    contrastive_projection_size: int = 256
    ema_decay_start: float = 0.9998
    ema_decay_end: float = 0.99999
    ema_anneal_steps: int = 100000

    def __post_init__(self, **kwargs):
        self.refuse_other_variants(kwargs)
        if IS_INSTALLED_PACKAGE:  # the registry builds the pipeline; the saved entry would ask for trust_remote_code
            custom = {k: v for k, v in (kwargs.pop("custom_pipelines", None) or {}).items() if k != PIPELINE_TASK}
            if custom:
                kwargs["custom_pipelines"] = custom
        super().__post_init__(**kwargs)

    def refuse_other_variants(self, kwargs: dict[str, Any]) -> None:
        """Drop the options of `FIXED_OPTIONS` / `DERIVED_OPTIONS` given at the value the model computes; raise a
        ValueError naming any other value, or a research arm's checkpoint (`ablation_arm`)."""
        if "ablation_arm" in kwargs:
            raise ValueError(
                f"This config was saved by the research arm {kwargs['ablation_arm']!r}, which AaSPConfig does not "
                "build; load it with research.ablations.from_pretrained."
            )
        for name in [key for key in kwargs if key in FIXED_OPTIONS or key in DERIVED_OPTIONS]:
            value = kwargs.pop(name)
            computed = FIXED_OPTIONS[name] if name in FIXED_OPTIONS else DERIVED_OPTIONS[name](self)
            close = isinstance(computed, float) and isinstance(value, int | float) and math.isclose(value, computed)
            if value != computed and not close:
                hint = "; the paper's path is AaSPConfig.paper()" if name in ("beta_anchor", "sblu_carrier") else ""
                raise ValueError(
                    f"{name}={value!r} is not an option of AaSPConfig: the model always uses {computed!r} here"
                    f"{hint}. Other variants are research arms in research/ablations."
                )

    @classmethod
    def paper(cls, **overrides) -> "AaSPConfig":
        """The method as the paper describes it (`alias_features="projection"`); ViT-B unless `overrides` say otherwise."""
        return cls(**{"alias_features": "projection", **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "AaSPConfig":
        """A small configuration (about 0.5 M parameters) for tests, CPU demos and the embedded corpus."""
        values: dict[str, Any] = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4)
        values.update(intermediate_size=128, num_mask_clones=4)
        values.update(lambda_hidden_size=32, lambda_num_layers=1, lambda_num_heads=2, contrastive_projection_size=32)
        values.update(predictor_hidden_size=32, predictor_num_layers=2, predictor_num_heads=2)
        values.update(predictor_intermediate_size=64, ema_anneal_steps=1000, ema_decay_start=0.99, ema_decay_end=0.999)
        return cls(**{**values, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """The serialised config; with the code registered to travel with checkpoints, it names the pipeline."""
        output = super().to_dict()
        if self._auto_class is not None:
            output["custom_pipelines"] = {**(output.get("custom_pipelines") or {}), PIPELINE_TASK: REMOTE_PIPELINE}
        return output

    @property
    def num_frequency_patches(self) -> int:
        """Patch rows G_f = num_mel_bins / frequency_patch_size."""
        return self.num_mel_bins // self.frequency_patch_size

    @property
    def time_column_rate(self) -> float:
        """Time columns (tokens along time) per second: frame_rate / time_patch_size (6.25 Hz by default)."""
        return self.frame_rate / self.time_patch_size

    beta_max = math.pi  # upper edge of the SBLU band in rad/frame: the Nyquist frequency of the frames

    @property
    def beta_min(self) -> float:
        """Lower edge of the SBLU band in rad/frame: pi / p_t, the Nyquist frequency after patching."""
        return math.pi / max(self.time_patch_size, 1)

    @property
    def num_alias_features(self) -> int:
        """Size of F_alias per patch: S * H (band energy) or S * H' * p_t (projection)."""
        if self.alias_features == "band_energy":
            return self.num_subbands * self.num_kernels
        return self.num_subbands * PROJECTION_CHANNELS * self.time_patch_size

    def patch_grid(self, num_frames: int) -> PatchGrid:
        """The patch grid of `num_frames` frames, right-padded to a multiple of `time_patch_size`."""
        rows, columns = self.num_frequency_patches, -(-num_frames // self.time_patch_size)
        return PatchGrid(columns * self.time_patch_size, rows, columns, rows * columns)

    def check_feature_extractor(self, feature_extractor: Any) -> None:
        """Raise a ValueError unless `feature_extractor` gives `num_mel_bins` bins at `frame_rate` frames per second."""
        bins = getattr(feature_extractor, "num_mel_bins", None)
        if bins is not None and bins != self.num_mel_bins:
            raise ValueError(
                f"The feature extractor gives {bins} mel bins per frame but the model expects num_mel_bins="
                f"{self.num_mel_bins}; load the preprocessor_config.json saved with this model."
            )
        rate, hop = getattr(feature_extractor, "sampling_rate", None), getattr(feature_extractor, "hop_length", None)
        if rate and hop and not math.isclose(rate / hop, self.frame_rate):
            raise ValueError(
                f"The feature extractor gives {rate / hop:g} frames per second (sampling_rate {rate} / hop_length "
                f"{hop}) but the model was configured with frame_rate={self.frame_rate:g}."
            )

    def validate_fields(self):
        """Sizes positive, heads dividing their widths, patches tiling the mel axis, floats finite and in range."""
        for name, value in vars(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}.")
        counts = [name for name, kind in AaSPConfig.__annotations__.items() if kind is int]
        for name in [name for name in (*counts, *POSITIVE_FLOATS) if name not in NON_NEGATIVE_FIELDS]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        for name in NON_NEGATIVE_FIELDS:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for whole, part in DIVISIBLE_FIELDS:
            size, divisor = getattr(self, whole), getattr(self, part)
            if divisor <= 0 or size % divisor != 0:
                raise ValueError(f"{whole} ({size}) is not divisible by {part} ({divisor}).")
        if self.hidden_size % 4 != 0:
            raise ValueError(f"hidden_size must be a multiple of 4 for 2-D sin-cos positions, got {self.hidden_size}.")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}.")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}.")
        if not 0.0 <= self.ema_decay_start <= self.ema_decay_end < 1.0:
            raise ValueError(
                "EMA decays must satisfy 0 <= ema_decay_start <= ema_decay_end < 1, got "
                f"{self.ema_decay_start} and {self.ema_decay_end}."
            )

    def validate_choices(self):
        """String options name a known choice; the shift views hint is an integer from 1 to the time patch size
        (the rule `tta.shift_offsets` applies to the pipeline's `shift_views`)."""
        for name, allowed in (("alias_features", ALIAS_FEATURES), ("classifier_pooling", CLASSIFIER_POOLINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        views, p_t = self.classifier_shift_views, self.time_patch_size
        if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= max(p_t, 1):
            raise ValueError(
                f"classifier_shift_views must be an integer from 1 to time_patch_size ({p_t}), got {views!r}."
            )


__all__ = ["AaSPConfig", "PatchGrid"]
