# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""AaSP model configuration."""

import math
from typing import Any, NamedTuple

from huggingface_hub.dataclasses import strict
from transformers.configuration_utils import PreTrainedConfig
from transformers.utils import logging


SBLU_WINDOWS = ("two_sided", "one_sided", "gaussian")
logger = logging.get_logger(__name__)

SBLU_CARRIERS = ("abs", "linear")
SBLU_FEATURES = ("flatten", "log_energy", "log_energy_grid")
BETA_ANCHORS = ("none", "spectral_peak")
FUSION_TYPES = ("concat", "gated_residual")
MASKED_VIEW_ALIAS_INPUTS = ("mirror_runs", "zeroed")
TARGET_TYPES = ("block_output", "ffn_output")
MASK_SEED_MODES = ("fixed_count", "bernoulli")
# The behaviour of configs saved before these options existed (the first wave, transformers-aasp 0.1.0 before the
# learning-quality work): a saved config that lacks `sblu_features` was trained with these values, so it is loaded
# with them instead of the current defaults (see docs/method.md, "Options").
FIRST_WAVE_OPTIONS = {
    "masked_view_alias_input": "zeroed",
    "sblu_carrier": "abs",
    "sblu_features": "flatten",
    "beta_anchor": "none",
    "fusion_type": "concat",
    "mask_seed_mode": "bernoulli",
    "target_type": "block_output",
}
# A config saved after the learning-quality options but before the beta anchor became the default (no `beta_anchor`
# key) was trained without it: it loads with `"none"`, and keeps the `sblu_features` it was saved with.
PRE_ANCHOR_OPTIONS = {"beta_anchor": "none"}
LAMBDA_MODES = ("predicted", "fixed")
POSITION_EMBEDDING_TYPES = ("sincos", "learned")
CLASSIFIER_POOLINGS = ("cls", "mean", "cls+mean", "mean+std", "time_columns", "attention")
PRETRAINING_EXPORTS = ("student", "teacher")

# The `custom_pipelines` entry written into every saved config.json (see `AaSPConfig.to_dict`): with it,
# `pipeline("audio-classification", model=dir, trust_remote_code=True)` builds AaSPAudioClassificationPipeline from
# the pipeline_aasp.py saved next to the weights, on a machine without this package.
PIPELINE_TASK = "audio-classification"
REMOTE_PIPELINE = {
    "impl": "pipeline_aasp.AaSPAudioClassificationPipeline",
    "pt": ["AutoModelForAudioClassification"],
    "type": "audio",
}
# True when this file runs as the installed package, False when it runs as a checkpoint's remote code
IS_INSTALLED_PACKAGE = not __name__.startswith("transformers_modules")


class PatchGrid(NamedTuple):
    """The patch grid of a clip of `num_frames` spectrogram frames (see `AaSPConfig.patch_grid`).

    padded_frames: frames after right-padding to a multiple of the time patch size p_t.
    frequency_patches: G_f = num_mel_bins / p_f patch rows. time_patches: G_t = padded_frames / p_t time columns.
    num_patches: N = G_f * G_t.
    """

    padded_frames: int
    frequency_patches: int
    time_patches: int
    num_patches: int


# integer sizes that must be > 0 (validate_architecture; heads are checked with the widths they split)
POSITIVE_SIZES = (
    "hidden_size",
    "num_hidden_layers",
    "intermediate_size",
    "max_time_patches",
    "lambda_hidden_size",
    "lambda_intermediate_size",
    "num_kernels",
    "sblu_out_channels",
    "predictor_hidden_size",
    "predictor_num_layers",
    "predictor_intermediate_size",
    "contrastive_projection_size",
)
# float options that must be finite (validate_numbers); their ranges are checked by the validator of their group
FLOAT_OPTIONS = (
    "frame_rate",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "layer_norm_eps",
    "initializer_range",
    "alpha_min",
    "alpha_init",
    "beta_min",
    "beta_max",
    "alias_energy_eps",
    "beta_anchor_spread",
    "fusion_gate_init",
    "mask_ratio",
    "mask_overlap_adjust",
    "global_loss_weight",
    "contrastive_loss_weight",
    "contrastive_temperature",
    "ema_decay_start",
    "ema_decay_end",
)


@strict
class AaSPConfig(PreTrainedConfig):
    r"""
    Configuration of an AaSP model: a ViT over log-mel spectrograms whose patch stem is AaPE (aliasing-aware patch
    embedding), plus the options of AaSP self-supervised pre-training. `AaSPConfig()` is the ViT-B model of the
    paper; `AaSPConfig.tiny()` is a small model for tests and CPU demos. Every option of docs/method.md is a field, so
    an ablation is a config change.

    Input geometry:
        num_mel_bins (`int`, defaults to 80): mel bins F of `input_values` (batch, frames, F).
        frequency_patch_size (`int`, defaults to 16): patch height p_f in mel bins; must divide `num_mel_bins`.
        time_patch_size (`int`, defaults to 16): patch width p_t in frames; also the token stride along time.
        frame_rate (`float`, defaults to 100.0): spectrogram frames per second (10 ms hop); it must equal the feature
            extractor's `sampling_rate / hop_length` (`check_feature_extractor`). Used for the time-column timestamps
            and to report SBLU frequencies in Hz.

    Vocabulary: a *frame* is one 10 ms spectrogram frame; a *time column* is the G_f patches sharing p_t frames
    (6.25 Hz by default, `time_column_rate`); an *attention mask* is 1 for real (valid) frames or patches and 0 for
    padding, as everywhere in transformers; *masked patches* are the patches hidden from the student in
    pre-training.

    Encoder (ViT):
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_act, hidden_dropout_prob,
        attention_probs_dropout_prob, layer_norm_eps, qkv_bias, initializer_range: as in ViT.
        position_embedding_type (`str`, defaults to `"sincos"`): `"sincos"` computes fixed 2-D sin-cos embeddings for
            the actual patch grid (any clip length); `"learned"` learns a table for up to `max_time_patches` columns.
        max_time_patches (`int`, defaults to 64): time columns of the learned table (ignored for `"sincos"`).

    AaPE (aliasing-aware patch embedding):
        use_aape (`bool`, defaults to `True`): `False` gives the plain ViT stem (the ablation baseline).
        lambda_hidden_size (`int`, defaults to 128): width of the Lambda Encoder.
        lambda_num_layers (`int`, defaults to 2): pre-LN Transformer layers of the Lambda Encoder.
        lambda_num_heads (`int`, defaults to 4): attention heads of the Lambda Encoder.
        lambda_intermediate_size (`int`, defaults to 256): MLP width of the Lambda Encoder.
        lambda_mode (`str`, defaults to `"predicted"`): `"predicted"` (per patch, from the Lambda Encoder) or
            `"fixed"` (learned parameters shared by all patches; no Lambda Encoder).
        num_subbands (`int`, defaults to 4): subbands S per patch row; must divide `frequency_patch_size`.
        num_kernels (`int`, defaults to 8): SBLU kernels H per subband (8 covers the alias band with `log_energy`
            features; the first specification had 4).
        sblu_half_length (`int`, defaults to 16): kernel half-length c; the kernel has 2c + 1 taps.
        sblu_out_channels (`int`, defaults to 8): channels H' of the grouped pointwise projection.
        sblu_window (`str`, defaults to `"two_sided"`): `"two_sided"` (SBLU), `"one_sided"` (causal, SSM-style) or
            `"gaussian"`; the last two exist to reproduce the paper's Figure 2 and its ablation.
        alpha_min (`float`, defaults to 0.01): lower bound of the decay alpha, per frame.
        alpha_init (`float`, defaults to 0.1): decay at initialisation.
        beta_min (`float`, *optional*): lower edge of the frequency band in rad/frame; defaults to pi / p_t (the
            post-patch Nyquist frequency).
        beta_max (`float`, defaults to pi): upper edge of the frequency band in rad/frame.
        use_highpass (`bool`, defaults to `True`): zero-phase high-pass (cutoff pi / p_t) before the SBLU.
        sblu_carrier (`str`, defaults to `"linear"`): `"linear"` uses the analytic band-pass kernel
            exp(-alpha |m|) exp(-j beta m), whose output magnitude is the envelope of the band around beta; `"abs"` is
            the literal bilateral-Laplace kernel exp(-Lambda |m|) (even real and imaginary parts, zero phase, so its
            output oscillates with the input instead of giving an envelope). Measured choice: see docs/method.md.
        sblu_features (`str`, defaults to `"log_energy_grid"`): how a patch's SBLU outputs become F_alias.
            `"log_energy"`: log(eps + mean over the patch's p_t frames of |y|^2) per subband and kernel (S * H
            features, stable under sub-patch shifts); `"flatten"`: Re and Im through a grouped pointwise projection
            to H' channels and GELU, flattened over (S, H', p_t) (S * H' * p_t features, phase-sensitive);
            `"log_energy_grid"` (ours): the kernels' band energies spread onto H fixed frequencies (the initial betas)
            by linear interpolation in beta, then the log, so that each feature keeps meaning one frequency when the
            betas move (S * H features; equal to `"log_energy"` while every beta sits on its grid frequency).
        fusion_type (`str`, defaults to `"concat"`): `"concat"` is Linear([LN(X_std), LN(F_alias)]) (the paper's
            Patch Fusion as we read it; LN(X_std) is invariant to the patch's level); `"gated_residual"` gives
            X_std + gamma * W LN(F_alias) with a learnable per-channel gate gamma (starts at `fusion_gate_init`), so
            the plain stem is exactly the gamma = 0 case and patch level is kept.
        fusion_gate_init (`float`, defaults to 0.01): initial gate gamma of `"gated_residual"` fusion.
        fusion_zero_init_alias (`bool`, defaults to `True`): `"concat"` fusion only: initialise the Patch Fusion
            weights that read the aliasing features to zero. `False`: the generic normal init.
        alias_energy_eps (`float`, defaults to 1e-4): the eps of `"log_energy"` features.
        beta_anchor (`str`, defaults to `"spectral_peak"`): `"none"`: beta is the Lambda Encoder's estimate (the
            paper's).
            `"spectral_peak"` (ours): beta is anchored on the peak of each patch's high-passed subband periodogram
            inside the band, and the Lambda Encoder's sigmoid output u in (0, 1) places the H kernels at
            peak + (2u - 1) * `beta_anchor_spread` * (beta_max - beta_min), clipped to the band. The median beta of a
            patch then follows its dominant modulation; pair it with `sblu_features="log_energy_grid"`.
        beta_anchor_spread (`float`, defaults to 0.75): half-width of the kernels' placement around the anchor, as a
            fraction of the band; in (0, 1].

    Classification:
        classifier_pooling (`str`, defaults to `"cls"`): `"cls"`, `"mean"` (padding-aware mean of patch tokens),
            `"cls+mean"` (both, concatenated), `"mean+std"` (statistics pooling: padding-aware mean and standard
            deviation of the patch tokens, concatenated) or `"time_columns"` (padding-aware mean over time columns of
            `time_column_features`, which keep the G_f frequency rows apart: G_f * hidden_size values, the linear
            evaluation's clip embedding) or `"attention"` (attention pooling: a learned score per patch token,
            softmax over the valid tokens, weighted mean; the score starts at zero, so it starts as `"mean"`).
        classifier_shift_views (`int`, defaults to 1): an inference hint saved with the checkpoint, not read by any
            `forward`: the time-shifted views (1 to `time_patch_size`) whose logits the audio-classification
            pipeline and the fine-tuning test scoring average by default (`transformers_aasp.tta`).

    Pre-training (AaSPForPreTraining):
        num_mask_clones (`int`, defaults to 8): masked views M per clip.
        mask_ratio (`float`, defaults to 0.8): fraction of patches hidden from the student.
        mask_block_size (`int`, defaults to 5): side of the square blocks of inverse-block masking, in patches.
        mask_seed_mode (`str`, defaults to `"fixed_count"`): `"fixed_count"` is the data2vec 2.0 / EAT procedure
            (a fixed number of block seeds per view, compensated for overlap by `mask_overlap_adjust`, then trimmed
            or topped up to the exact count); `"bernoulli"` is this project's first procedure (Bernoulli seeds,
            shortfall filled with single patches), kept for ablations.
        mask_overlap_adjust (`float`, defaults to 0.07): extra visible fraction used to size the seed count, for
            the overlap of blocks (EAT's `mask_prob_adjust`).
        masked_view_alias_input (`str`, defaults to `"mirror_runs"`): what the student's AaPE filters see around a
            visible patch. `"mirror_runs"`: each run of visible time columns of a patch row is extended by mirror
            reflection, exactly as a clip is at its ends, so a visible patch's F_alias is what it would be if that run
            were the whole clip; `"zeroed"`: masked patches are zeroed and filtered over (edge artefacts; ablation).
        target_type (`str`, defaults to `"block_output"`): teacher targets from the top layers' residual-stream
            block outputs (`"block_output"`) or from their FFN outputs before the residual (`"ffn_output"`,
            data2vec 2.0 / EAT).
        num_target_layers (`int`, defaults to 12): top teacher layers averaged into the targets.
        predictor_hidden_size, predictor_num_layers, predictor_num_heads, predictor_intermediate_size: the
            cross-attention predictor (defaults 384, 4, 6, 1536).
        global_loss_weight (`float`, defaults to 1.0), contrastive_loss_weight (`float`, defaults to 0.1),
        contrastive_temperature (`float`, defaults to 0.1), contrastive_projection_size (`int`, defaults to 256).
        ema_decay_start (`float`, defaults to 0.9998), ema_decay_end (`float`, defaults to 0.99999),
        ema_anneal_steps (`int`, defaults to 100000): the teacher's EMA decay rises linearly from start to end over
            the first `ema_anneal_steps` optimizer steps, then stays.

    Example:

    ```python
    >>> from transformers_aasp import AaSPConfig, AaSPModel
    >>> model = AaSPModel(AaSPConfig.tiny())
    ```
    """

    model_type = "aasp"

    # input geometry
    num_mel_bins: int = 80
    frequency_patch_size: int = 16
    time_patch_size: int = 16
    frame_rate: float = 100.0

    # encoder
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    layer_norm_eps: float = 1e-6
    qkv_bias: bool = True
    initializer_range: float = 0.02
    position_embedding_type: str = "sincos"
    max_time_patches: int = 64

    # AaPE
    use_aape: bool = True
    lambda_hidden_size: int = 128
    lambda_num_layers: int = 2
    lambda_num_heads: int = 4
    lambda_intermediate_size: int = 256
    lambda_mode: str = "predicted"
    num_subbands: int = 4
    num_kernels: int = 8
    sblu_half_length: int = 16
    sblu_out_channels: int = 8
    sblu_window: str = "two_sided"
    alpha_min: float = 0.01
    alpha_init: float = 0.1
    beta_min: float | None = None
    beta_max: float = math.pi
    use_highpass: bool = True
    sblu_carrier: str = "linear"
    sblu_features: str = "log_energy_grid"
    alias_energy_eps: float = 1e-4
    beta_anchor: str = "spectral_peak"
    beta_anchor_spread: float = 0.75
    fusion_type: str = "concat"
    fusion_gate_init: float = 0.01
    fusion_zero_init_alias: bool = True

    # classification
    classifier_pooling: str = "cls"
    classifier_shift_views: int = 1

    # pre-training
    num_mask_clones: int = 8
    mask_ratio: float = 0.8
    mask_block_size: int = 5
    mask_seed_mode: str = "fixed_count"
    mask_overlap_adjust: float = 0.07
    masked_view_alias_input: str = "mirror_runs"
    target_type: str = "block_output"
    num_target_layers: int = 12
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
        # `max_length` (a pre-training crop length no code read) was removed; configs saved with it still load
        kwargs.pop("max_length", None)
        if IS_INSTALLED_PACKAGE:
            # With the package imported, transformers' registry builds the pipeline (no trust_remote_code needed);
            # the saved entry is for machines without it, and would make pipeline() ask for trust_remote_code.
            custom = {k: v for k, v in (kwargs.pop("custom_pipelines", None) or {}).items() if k != PIPELINE_TASK}
            if custom:
                kwargs["custom_pipelines"] = custom
        if self.beta_min is None and self.time_patch_size > 0:  # (validate_geometry refuses a size <= 0)
            self.beta_min = math.pi / self.time_patch_size
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs) -> "AaSPConfig":
        """Like `PreTrainedConfig.from_dict`; a config saved before the learning-quality options existed (no
        `sblu_features` key) gets `FIRST_WAVE_OPTIONS`, and one saved before the beta anchor became the default (no
        `beta_anchor` key) gets `PRE_ANCHOR_OPTIONS`: the behaviour its weights were trained with."""
        if "sblu_features" not in config_dict:
            logger.warning(
                "This AaSP config predates the learning-quality options; loading it with the first-wave behaviour "
                f"it was trained with: {FIRST_WAVE_OPTIONS}."
            )
            config_dict = {**FIRST_WAVE_OPTIONS, **config_dict}
        elif "beta_anchor" not in config_dict:
            logger.warning(
                "This AaSP config predates the beta anchor; loading it with the behaviour it was trained with: "
                f"{PRE_ANCHOR_OPTIONS}."
            )
            config_dict = {**PRE_ANCHOR_OPTIONS, **config_dict}
        return super().from_dict(config_dict, **kwargs)

    @classmethod
    def tiny(cls, **overrides) -> "AaSPConfig":
        """A small configuration (about 0.5 M parameters) for tests, CPU demos and the embedded corpus."""
        values = dict(
            hidden_size=64,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=128,
            lambda_hidden_size=32,
            lambda_num_layers=1,
            lambda_num_heads=2,
            lambda_intermediate_size=64,
            num_target_layers=4,
            predictor_hidden_size=32,
            predictor_num_layers=2,
            predictor_num_heads=2,
            predictor_intermediate_size=64,
            contrastive_projection_size=32,
            num_mask_clones=4,
            ema_anneal_steps=1000,
            ema_decay_start=0.99,
            ema_decay_end=0.999,
        )
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The serialised config; when the code travels with checkpoints (`register_for_auto_class`, done by
        `import transformers_aasp`), it names the audio-classification pipeline under `custom_pipelines`."""
        output = super().to_dict()
        if self._auto_class is not None:
            output["custom_pipelines"] = {**(output.get("custom_pipelines") or {}), PIPELINE_TASK: REMOTE_PIPELINE}
        return output

    # ----- geometry helpers shared by every module -----
    @property
    def num_frequency_patches(self) -> int:
        """Patch rows G_f = num_mel_bins / frequency_patch_size."""
        return self.num_mel_bins // self.frequency_patch_size

    @property
    def time_column_rate(self) -> float:
        """Time columns (tokens along time) per second: frame_rate / time_patch_size (6.25 Hz by default)."""
        return self.frame_rate / self.time_patch_size

    def patch_grid(self, num_frames: int) -> PatchGrid:
        """The patch grid of `num_frames` frames, right-padded to a multiple of `time_patch_size`."""
        time_patches = -(-num_frames // self.time_patch_size)
        return PatchGrid(
            padded_frames=time_patches * self.time_patch_size,
            frequency_patches=self.num_frequency_patches,
            time_patches=time_patches,
            num_patches=self.num_frequency_patches * time_patches,
        )

    def check_feature_extractor(self, feature_extractor: Any) -> None:
        """Raise a ValueError unless `feature_extractor` produces the frames this model expects: the same number of
        mel bins and a frame rate (`sampling_rate / hop_length`) equal to `frame_rate`."""
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

    @property
    def num_alias_features(self) -> int:
        """Size of the aliasing-focused feature F_alias of one patch: S * H (log energy) or S * H' * p_t (flatten)."""
        if self.sblu_features in ("log_energy", "log_energy_grid"):
            return self.num_subbands * self.num_kernels
        return self.num_subbands * self.sblu_out_channels * self.time_patch_size

    # ----- strict validators (run at construction) -----
    def validate_architecture(self):
        """Heads must divide the widths they split."""
        for width, heads, name in (
            (self.hidden_size, self.num_attention_heads, "hidden_size / num_attention_heads"),
            (self.lambda_hidden_size, self.lambda_num_heads, "lambda_hidden_size / lambda_num_heads"),
            (self.predictor_hidden_size, self.predictor_num_heads, "predictor_hidden_size / predictor_num_heads"),
        ):
            if heads <= 0 or width % heads != 0:
                raise ValueError(f"{name}: {width} is not divisible by {heads} heads.")
        for name in POSITIVE_SIZES:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.lambda_num_layers < 0:
            raise ValueError(f"lambda_num_layers must be >= 0, got {self.lambda_num_layers}.")
        if self.hidden_size % 4 != 0:
            raise ValueError(f"hidden_size must be a multiple of 4 for 2-D sin-cos positions, got {self.hidden_size}.")

    def validate_numbers(self):
        """Float options must be finite; rates, epsilons and dropouts must lie in their ranges."""
        for name in FLOAT_OPTIONS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}.")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}.")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps}.")
        if self.initializer_range < 0:
            raise ValueError(f"initializer_range must be >= 0, got {self.initializer_range}.")

    def validate_geometry(self):
        """The patch grid must tile the mel axis; subbands must tile a patch row."""
        for name in ("num_mel_bins", "frequency_patch_size", "time_patch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.num_mel_bins % self.frequency_patch_size != 0:
            raise ValueError(
                f"num_mel_bins ({self.num_mel_bins}) is not divisible by frequency_patch_size "
                f"({self.frequency_patch_size})."
            )
        if self.num_subbands <= 0 or self.frequency_patch_size % self.num_subbands != 0:
            raise ValueError(
                f"frequency_patch_size ({self.frequency_patch_size}) is not divisible by num_subbands "
                f"({self.num_subbands})."
            )
        if self.sblu_half_length < 0:
            raise ValueError(f"sblu_half_length must be >= 0, got {self.sblu_half_length}.")
        if self.frame_rate <= 0:
            raise ValueError(f"frame_rate must be positive, got {self.frame_rate}.")

    def validate_sblu_band(self):
        """The SBLU frequency band must lie in (0, pi] rad/frame and the decay bounds must be positive."""
        beta_min = math.pi / max(self.time_patch_size, 1) if self.beta_min is None else self.beta_min
        if not 0.0 < beta_min < self.beta_max <= math.pi + 1e-9:
            raise ValueError(
                f"SBLU beta band must satisfy 0 < beta_min < beta_max <= pi rad/frame, got "
                f"beta_min={beta_min}, beta_max={self.beta_max}."
            )
        if not 0.0 < self.alpha_min < self.alpha_init:
            raise ValueError(
                f"SBLU decay must satisfy 0 < alpha_min < alpha_init, got alpha_min={self.alpha_min}, "
                f"alpha_init={self.alpha_init}."
            )

    def validate_choices(self):
        """String options must name a known variant."""
        for name, allowed in (
            ("sblu_window", SBLU_WINDOWS),
            ("lambda_mode", LAMBDA_MODES),
            ("position_embedding_type", POSITION_EMBEDDING_TYPES),
            ("classifier_pooling", CLASSIFIER_POOLINGS),
            ("sblu_carrier", SBLU_CARRIERS),
            ("sblu_features", SBLU_FEATURES),
            ("beta_anchor", BETA_ANCHORS),
            ("fusion_type", FUSION_TYPES),
            ("masked_view_alias_input", MASKED_VIEW_ALIAS_INPUTS),
            ("target_type", TARGET_TYPES),
            ("mask_seed_mode", MASK_SEED_MODES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")

    def validate_classification(self):
        """The shift views hint must be an integer from 1 to the time patch size (`tta.shift_offsets` checks the
        pipeline's `shift_views` argument by the same rule)."""
        views = self.classifier_shift_views
        if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= max(self.time_patch_size, 1):
            raise ValueError(
                f"classifier_shift_views must be an integer from 1 to time_patch_size ({self.time_patch_size}), "
                f"got {views!r}."
            )

    def validate_pretraining(self):
        """Pre-training options must be usable."""
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {self.mask_ratio}.")
        if self.num_mask_clones < 1:
            raise ValueError(f"num_mask_clones must be >= 1, got {self.num_mask_clones}.")
        if self.mask_block_size < 1:
            raise ValueError(f"mask_block_size must be >= 1, got {self.mask_block_size}.")
        if not self.num_target_layers >= 1:
            raise ValueError(f"num_target_layers must be >= 1, got {self.num_target_layers}.")
        if not 0.0 <= self.ema_decay_start <= self.ema_decay_end < 1.0:
            raise ValueError(
                f"EMA decays must satisfy 0 <= ema_decay_start <= ema_decay_end < 1, got "
                f"{self.ema_decay_start} and {self.ema_decay_end}."
            )
        if not 0.0 <= self.mask_overlap_adjust < 1.0:
            raise ValueError(f"mask_overlap_adjust must be in [0, 1), got {self.mask_overlap_adjust}.")
        if self.alias_energy_eps <= 0:
            raise ValueError(f"alias_energy_eps must be positive, got {self.alias_energy_eps}.")
        if not 0.0 < self.beta_anchor_spread <= 1.0:
            raise ValueError(f"beta_anchor_spread must be in (0, 1], got {self.beta_anchor_spread}.")
        if self.contrastive_temperature <= 0:
            raise ValueError(f"contrastive_temperature must be positive, got {self.contrastive_temperature}.")
        for name in ("global_loss_weight", "contrastive_loss_weight", "ema_anneal_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")


__all__ = ["AaSPConfig", "PatchGrid"]
