# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The research arms: the package's model with some of its modules replaced by the variants of `variants.py`.

    config = arm_config("aape_v1")                          # AaSPConfig.tiny() with the arm's fields
    model = build_model("aape_v1", AaSPForPreTraining, config)
    encoder = from_pretrained(AaSPModel, folder)            # any checkpoint, an arm's or the package's

An arm is the package model when none of its variants applies to the class built (e.g. the encoder of an arm that
only changes the pre-training masks). Otherwise the model is a subclass of the package class that installs the
variants' modules after construction, and its saved config.json names the arm (`ablation_arm`): `AaSPConfig` refuses
to load it, `from_pretrained` here rebuilds the arm.
"""

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from transformers_aasp import AaSPConfig, AaSPForPreTraining
from transformers_aasp.modeling_aasp import AaSPModel, AaSPPreTrainedModel

from .variants import ENCODER_VARIANTS, MODEL_VARIANTS, WideClassificationHead, build_module


@dataclass(frozen=True)
class Arm:
    """`config`: AaSPConfig fields of the arm; `variants`: names from ENCODER_VARIANTS and MODEL_VARIANTS."""

    config: dict = field(default_factory=dict)
    variants: tuple[str, ...] = ()


PAPER_H4 = {"alias_features": "projection", "num_kernels": 4}  # the paper's features with 4 kernels per subband
FIRST_WAVE = ("zeroed_masked_views", "bernoulli_masking")  # the masked views and masks of the first experiments
ARMS = {
    "default": Arm(),
    "plain": Arm({"use_aape": False}),
    "plain_v1": Arm({"use_aape": False}, ("bernoulli_masking",)),
    "plain_ffn": Arm({"use_aape": False}, ("ffn_targets",)),
    "paper": Arm({"alias_features": "projection"}),
    "aape_v1": Arm(PAPER_H4, FIRST_WAVE),
    "v1+mirror_runs": Arm(PAPER_H4, ("bernoulli_masking",)),
    "v1+band_energy": Arm({"num_kernels": 4}, ("unanchored_band_energy", *FIRST_WAVE)),
    "v1+gated_fusion": Arm(PAPER_H4, ("gated_fusion", *FIRST_WAVE)),
    "v1+block_masking": Arm(PAPER_H4, ("zeroed_masked_views",)),
    "v1+ffn_targets": Arm(PAPER_H4, (*FIRST_WAVE, "ffn_targets")),
    "all_options_h4": Arm({"num_kernels": 4}, ("gated_fusion", "unanchored_band_energy", "ffn_targets")),
    "aape": Arm({}, ("unanchored_band_energy",)),
    "aape_flatten": Arm(PAPER_H4),
    "aape_peak": Arm(),
    "one_sided": Arm({}, ("one_sided_window",)),
    "gaussian_window": Arm({}, ("gaussian_window",)),
    "no_highpass": Arm({}, ("no_highpass",)),
    "fixed_lambda": Arm({}, ("fixed_lambda",)),
    "learned_positions": Arm({}, ("learned_positions",)),
    "fusion_normal_init": Arm({}, ("fusion_normal_init",)),
    "pooling_cls_mean": Arm({}, ("cls_mean_pooling",)),
    "pooling_mean_std": Arm({}, ("mean_std_pooling",)),
    "pooling_time_columns": Arm({}, ("time_column_pooling",)),
}


def arm_config(arm: str, preset=AaSPConfig.tiny, **overrides) -> AaSPConfig:
    """The config of `arm`: `preset` (default `AaSPConfig.tiny`) with the arm's fields, then `overrides`."""
    return preset(**{**ARMS[arm].config, **overrides})


class ArmModel:
    """Mixin of an arm's model class: after the package class builds the model, installs the arm's encoder modules
    in every AaSPModel of it and the arm's classification head, initialises them, and names the arm in the config."""

    arm: str
    encoder_variants: tuple[str, ...]
    _auto_class = None  # saved without remote code: the arm's classes live here, not in the package

    def __init__(self, config: AaSPConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        new_modules = []
        for encoder in [module for module in self.modules() if isinstance(module, AaSPModel)]:
            # outer modules first, so that a replaced patch stem gets the aliasing variant of the same arm
            for variant in sorted(self.encoder_variants, key=lambda name: ENCODER_VARIANTS[name][0].count(".")):
                path = ENCODER_VARIANTS[variant][0]
                if encoder.config.use_aape or "patch_embeddings" not in path:
                    new_modules.append(build_module(variant, config))
                    encoder.set_submodule(path, new_modules[-1])
        if hasattr(self, "head_width_multiple"):
            new_modules.append(WideClassificationHead(config, self.head_width_multiple()))
            self.classifier = new_modules[-1]
        for module in new_modules:
            self.initialise(module)
        if isinstance(self, AaSPForPreTraining):
            self.reset_teacher()
        self.config.ablation_arm = self.arm

    def initialise(self, module):
        for submodule in module.modules():
            self._init_weights(submodule)
            if hasattr(submodule, "reset_research_parameters"):
                submodule.reset_research_parameters()


@functools.cache
def arm_class(arm: str, model_class: type[AaSPPreTrainedModel]) -> type[AaSPPreTrainedModel]:
    """`model_class` for `arm`: the package class itself when none of the arm's variants applies to it."""
    variants = ARMS[arm].variants
    mixins = tuple(
        MODEL_VARIANTS[name][1]
        for name in variants
        if name in MODEL_VARIANTS and issubclass(model_class, MODEL_VARIANTS[name][0])
    )
    encoder_variants = tuple(name for name in variants if name in ENCODER_VARIANTS)
    if not mixins and not encoder_variants:
        return model_class
    name = "".join(part.capitalize() for part in arm.replace("+", "_").split("_")) + model_class.__name__
    attributes = {"arm": arm, "encoder_variants": encoder_variants, "__module__": __name__}
    return type(name, (*mixins, ArmModel, model_class), attributes)


def build_model(arm: str, model_class: type[AaSPPreTrainedModel], config: AaSPConfig) -> AaSPPreTrainedModel:
    """A new `model_class` model of `arm` (`config` must hold the arm's fields, see `arm_config`)."""
    wrong = {name: value for name, value in ARMS[arm].config.items() if getattr(config, name) != value}
    if wrong:
        raise ValueError(f"Arm {arm!r} needs {wrong} in its config; build it with arm_config({arm!r}).")
    return arm_class(arm, model_class)(config)


def from_pretrained(model_class: type[AaSPPreTrainedModel], folder, **kwargs) -> AaSPPreTrainedModel:
    """Load a checkpoint as `model_class`: the package's own, or the arm its config.json names."""
    saved = json.loads((Path(folder) / "config.json").read_text())
    arm = saved.pop("ablation_arm", None)
    if arm is None:
        return model_class.from_pretrained(folder, **kwargs)
    return arm_class(arm, model_class).from_pretrained(folder, config=AaSPConfig.from_dict(saved), **kwargs)


__all__ = ["ARMS", "Arm", "arm_class", "arm_config", "build_model", "from_pretrained"]
