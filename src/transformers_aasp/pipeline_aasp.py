"""Audio-classification pipeline for AaSP checkpoints.

transformers 5.23's `AudioClassificationPipeline` rejects torchcodec `AudioDecoder`s (what `datasets` 5 returns for
an `Audio` column) and any multi-channel array. `AaSPAudioClassificationPipeline` accepts those, downmixes by
averaging the channels and resamples with `torchaudio.functional.resample`.

How it is picked up:
    * with the package: `import transformers_aasp` calls `register_pipeline()`, after which
      `pipeline("audio-classification", model=<AaSP checkpoint>)` builds this class (other models still get the
      stock pipeline);
    * without the package: a checkpoint saved through `pipe.save_pretrained(dir)` carries this file and a
      `custom_pipelines` entry (or was completed by `write_remote_pipeline(dir)`), so
      `pipeline(model=dir, trust_remote_code=True)` (task "aasp-audio-classification") uses it.

This file is also Hub remote code: top-level imports are torch / numpy / transformers and single-dot imports only.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForAudioClassification
from transformers.dynamic_module_utils import custom_object_save
from transformers.pipelines import PIPELINE_REGISTRY, AudioClassificationPipeline
from transformers.utils import is_torchcodec_available, logging

from .feature_extraction_aasp import is_audio_decoder, to_mono_waveform


logger = logging.get_logger(__name__)

AASP_MODEL_TYPE = "aasp"
STOCK_TASK = "audio-classification"
REMOTE_TASK = "aasp-audio-classification"


class AaSPAudioClassificationPipeline(AudioClassificationPipeline):
    """`AudioClassificationPipeline` that also accepts multi-channel and decoded `datasets` 5 audio.

    Inputs (one per call, or a list / dataset of them; `batch_size=` batches them, clips are padded to the longest
    and masked by the feature extractor's `attention_mask`):
        - a local file path (wav, flac, ogg, mp3...: decoded by torchcodec at its own rate, downmixed, then
          resampled like in-memory audio); URLs, raw bytes, and paths when torchcodec is missing go through
          ffmpeg as in the stock pipeline (mono, at the model's rate);
        - a 1-D numpy array / torch tensor at the model's sampling rate;
        - a 2-D array / tensor: **one** multi-channel clip (channel axis = the shorter axis), downmixed by averaging;
        - a dict `{"array" | "raw": (samples,) or (channels, samples), "sampling_rate": int}` at any rate;
        - a torchcodec `AudioDecoder` (a `datasets` 5 `Audio` item) at any rate.

    Output: `[{"label": str, "score": float}, ...]` sorted by score, `top_k` entries (default 5).
    """

    def preprocess(self, inputs: Any) -> dict[str, torch.Tensor]:
        return super().preprocess(self._as_mono_dict(inputs))

    def _as_mono_dict(self, inputs: Any) -> Any:
        """Turn audio into `{"array": (samples,) float32, "sampling_rate": int}`; the parent class then resamples it
        with `torchaudio.functional.resample`. URLs and bytes pass through (ffmpeg decodes them)."""
        if isinstance(inputs, str) and os.path.isfile(inputs) and is_torchcodec_available():
            from torchcodec.decoders import AudioDecoder

            inputs = AudioDecoder(inputs)
        if isinstance(inputs, (str, bytes)):
            return inputs
        if is_audio_decoder(inputs):
            samples = inputs.get_all_samples()
            return {"array": to_mono_waveform(samples.data).numpy(), "sampling_rate": int(samples.sample_rate)}
        if isinstance(inputs, Mapping):
            array = inputs.get("array", inputs.get("raw"))
            if array is None or "sampling_rate" not in inputs:
                raise ValueError(
                    "A dict input needs an 'array' (or 'raw') key with the waveform and a 'sampling_rate' key, got "
                    f"keys {sorted(inputs)}."
                )
            return {"array": to_mono_waveform(array).numpy(), "sampling_rate": int(inputs["sampling_rate"])}
        if isinstance(inputs, (np.ndarray, torch.Tensor)):
            return {"array": to_mono_waveform(inputs).numpy(), "sampling_rate": self.feature_extractor.sampling_rate}
        raise TypeError(
            f"Unsupported input of type {type(inputs).__name__}: pass a file path, bytes, a numpy array or torch "
            "tensor, a dict with 'array' and 'sampling_rate', or a torchcodec AudioDecoder."
        )


def is_aasp_model(model: Any) -> bool:
    """True when `model` is an AaSP model (from this package or loaded as remote code)."""
    return getattr(getattr(model, "config", None), "model_type", None) == AASP_MODEL_TYPE


class AudioClassificationDispatcher(AudioClassificationPipeline):
    """Stands in for the stock class under the "audio-classification" task: instantiating it returns an
    `AaSPAudioClassificationPipeline` for AaSP models and the unchanged stock pipeline for every other model."""

    stock_class: type[AudioClassificationPipeline] = AudioClassificationPipeline

    def __new__(cls, *args, **kwargs):
        model = kwargs["model"] if "model" in kwargs else (args[0] if args else None)
        target = AaSPAudioClassificationPipeline if is_aasp_model(model) else cls.stock_class
        # `target` is not a subclass of `cls`, so Python will not call `__init__` a second time.
        return target(*args, **kwargs)


def register_pipeline() -> None:
    """Route `pipeline("audio-classification", ...)` to `AaSPAudioClassificationPipeline` for AaSP models.

    Only the "impl" of the built-in task entry is swapped for `AudioClassificationDispatcher` (its model classes,
    default model and type stay), and non-AaSP models still get the stock class. Idempotent; see
    `unregister_pipeline`. Also records the "aasp-audio-classification" remote task on the class, so that
    `pipe.save_pretrained(dir)` writes `custom_pipelines` and copies this file for `trust_remote_code` users.
    """
    entry = PIPELINE_REGISTRY.supported_tasks[STOCK_TASK]
    if entry["impl"] is not AudioClassificationDispatcher:
        AudioClassificationDispatcher.stock_class = _resolve_class(entry["impl"])
        entry["impl"] = AudioClassificationDispatcher
    AaSPAudioClassificationPipeline._registered_impl = {
        REMOTE_TASK: {
            "impl": AaSPAudioClassificationPipeline,
            "pt": (AutoModelForAudioClassification,),
            "type": "audio",
        }
    }


def unregister_pipeline() -> None:
    """Undo `register_pipeline()`: the built-in task gets its stock class back."""
    entry = PIPELINE_REGISTRY.supported_tasks[STOCK_TASK]
    if entry["impl"] is AudioClassificationDispatcher:
        entry["impl"] = AudioClassificationDispatcher.stock_class


def write_remote_pipeline(save_directory: str | os.PathLike) -> None:
    """Make a saved AaSP checkpoint usable as `pipeline(model=dir, trust_remote_code=True)` without this package:
    copies this file (and the feature extractor file it imports) into `save_directory` and adds the
    "aasp-audio-classification" entry to `config.json`'s `custom_pipelines`. Call it after `save_pretrained`."""
    config_path = os.path.join(save_directory, "config.json")
    if not os.path.isfile(config_path):
        raise ValueError(
            f"{save_directory} holds no config.json; call model.save_pretrained({str(save_directory)!r}) first."
        )
    with open(config_path, encoding="utf-8") as file:
        config = json.load(file)
    config.setdefault("custom_pipelines", {})[REMOTE_TASK] = {
        "impl": f"{__name__.split('.')[-1]}.{AaSPAudioClassificationPipeline.__name__}",
        "pt": ["AutoModelForAudioClassification"],
        "type": "audio",
    }
    with open(config_path, "w", encoding="utf-8") as file:
        file.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
    custom_object_save(AaSPAudioClassificationPipeline, save_directory)


def _resolve_class(impl: Any) -> type:
    if isinstance(impl, str):
        module_path, class_name = impl.rsplit(".", 1)
        return getattr(importlib.import_module(module_path), class_name)
    return impl


__all__ = ["AaSPAudioClassificationPipeline", "register_pipeline", "unregister_pipeline", "write_remote_pipeline"]
