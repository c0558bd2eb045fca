# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""AaSP for Hugging Face Transformers.

`import transformers_aasp` registers AaSP with AutoConfig, AutoModel, AutoModelForAudioClassification,
AutoModelForPreTraining, AutoFeatureExtractor and `pipeline("audio-classification")`; after it, AaSP checkpoints load
with no `trust_remote_code`. It also makes every `save_pretrained` write the model, feature-extractor and pipeline
code next to the weights (`auto_map`, `custom_pipelines`), so a machine without this package can load the checkpoint
with `trust_remote_code=True`, which RUNS the Python files of the checkpoint: use it only for checkpoints whose code
you trust.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForPreTraining,
)

from .configuration_aasp import AaSPConfig
from .feature_extraction_aasp import AaSPFeatureExtractor
from .modeling_aasp import (
    AaSPForAudioClassification,
    AaSPForPreTraining,
    AaSPModel,
    AaSPPreTrainedModel,
    draw_mask_noise,
    highpass_taps,
    inverse_block_mask,
    sblu_kernel,
    validate_input_values,
)
from .pipeline_aasp import AaSPAudioClassificationPipeline, register_pipeline


__version__ = "0.1.0"


def _register_with_auto_classes() -> None:
    AutoConfig.register(AaSPConfig.model_type, AaSPConfig, exist_ok=True)
    AutoModel.register(AaSPConfig, AaSPModel, exist_ok=True)
    AutoModelForAudioClassification.register(AaSPConfig, AaSPForAudioClassification, exist_ok=True)
    AutoModelForPreTraining.register(AaSPConfig, AaSPForPreTraining, exist_ok=True)
    AutoFeatureExtractor.register(AaSPConfig, AaSPFeatureExtractor, exist_ok=True)
    # saved checkpoints carry the code and an auto_map (see `AaSPPreTrainedModel.save_pretrained`)
    AaSPConfig.register_for_auto_class()
    AaSPFeatureExtractor.register_for_auto_class()
    AaSPModel.register_for_auto_class("AutoModel")
    AaSPForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
    AaSPForPreTraining.register_for_auto_class("AutoModelForPreTraining")
    # pipeline("audio-classification") builds AaSPAudioClassificationPipeline for AaSP checkpoints (stock otherwise),
    # and every saved checkpoint carries its code for `trust_remote_code=True`
    register_pipeline()
    for code in (AaSPFeatureExtractor, AaSPAudioClassificationPipeline):
        if code not in AaSPPreTrainedModel.code_saved_with_weights:
            AaSPPreTrainedModel.code_saved_with_weights.append(code)


_register_with_auto_classes()

__all__ = [
    "AaSPAudioClassificationPipeline",
    "AaSPConfig",
    "AaSPFeatureExtractor",
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
