"""Audio-classification pipeline for AaSP checkpoints: unlike transformers' `AudioClassificationPipeline` it accepts
torchcodec `AudioDecoder`s (what `datasets` 5 returns for an `Audio` column) and multi-channel arrays, downmixes by
averaging the channels and resamples with `torchaudio.functional.resample`.

With the package, `import transformers_aasp` calls `register_pipeline()`, so `pipeline("audio-classification",
model=<AaSP checkpoint>)` builds it (other models still get the stock pipeline). Without it, every AaSP
`save_pretrained` copies this file next to the weights and names it in `config.json` (`custom_pipelines`), so
`pipeline(..., trust_remote_code=True)` builds it from the checkpoint's copy; that runs the checkpoint's Python
files, so use it only for checkpoints whose code you trust. As remote code, this file imports only torch, numpy,
transformers and single-dot modules.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForAudioClassification
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.pipelines import PIPELINE_REGISTRY, AudioClassificationPipeline
from transformers.utils import is_torchcodec_available, logging

from .feature_extraction_aasp import is_audio_decoder, to_mono_waveform
from .tta import average_shifted_views, shift_offsets


logger = logging.get_logger(__name__)

AASP_MODEL_TYPE = "aasp"
TASK = "audio-classification"
URL_PREFIXES = ("http://", "https://")
DEFAULT_CHUNK_LENGTH_S = 10.0  # window of a model whose config records no clip length: AudioSet's clip length
WINDOWS_PER_FORWARD = 8  # windows of a long recording stacked into one forward


def local_audio_path(inputs: Any) -> str | None:
    """The file path named by `inputs` (a `str` that is not a URL, or any `os.PathLike`), or None for other inputs.
    Raises FileNotFoundError for a missing path and ValueError for one that is not a regular file (a FIFO, a device,
    a directory, or a symlink to one), before anything opens it."""
    if isinstance(inputs, os.PathLike):
        inputs = os.fspath(inputs)
        if isinstance(inputs, bytes):
            inputs = os.fsdecode(inputs)
    elif not isinstance(inputs, str) or inputs.startswith(URL_PREFIXES):
        return None
    try:
        mode = os.stat(inputs).st_mode  # follows symlinks: a link to a FIFO is refused like the FIFO
    except FileNotFoundError:
        raise FileNotFoundError(f"Audio file {inputs!r} does not exist.") from None
    if not stat.S_ISREG(mode):
        raise ValueError(
            f"{inputs!r} is not a regular file (it is a FIFO, device, socket or directory); pass an audio file, "
            "or read the stream yourself and pass the samples as an array."
        )
    return inputs


class AaSPAudioClassificationPipeline(AudioClassificationPipeline):
    """`AudioClassificationPipeline` that also accepts multi-channel and decoded `datasets` 5 audio.

    Inputs (one per call, or a list / dataset of them; `batch_size=` pads to the longest and masks):
        - a local file path, `str` or `os.PathLike` (decoded by torchcodec at its own rate, downmixed, resampled);
          a path that is not a regular file (a FIFO, a device) is refused before it is opened; URLs, raw bytes, and
          paths when torchcodec is missing go through ffmpeg as in the stock pipeline;
        - a 1-D array / tensor, or a 2-D one (**one** multi-channel clip), at the feature extractor's rate (16 kHz):
          a bare array carries no rate, as in transformers' audio pipelines;
        - a dict `{"array" | "raw": (samples,) or (channels, samples), "sampling_rate": int}` at any rate;
        - a torchcodec `AudioDecoder` (a `datasets` 5 `Audio` item) at any rate.
    Output: `[{"label": str, "score": float}, ...]` sorted by score, `top_k` entries (default 5).

    Long recordings are scored in windows: `chunk_length_s` (default `config.clip_seconds`, the clip length the
    classifier was fine-tuned on, else `DEFAULT_CHUNK_LENGTH_S`; 0 scores the whole recording in one forward) and
    `stride_length_s` (seconds of overlap on the left and right of each window, a number or a (left, right) pair;
    default 0) set windows of `chunk_length_s` every `chunk_length_s - left - right` seconds (the hop), the last one
    ending at the recording's end. The result is the mean of the windows' logits, then the usual softmax (sigmoid
    for multi-label); a recording no longer than one window is one forward. Windows are cut from the recording's
    log-mel frames and run `WINDOWS_PER_FORWARD` at a time: time and memory grow linearly with length.

    `shift_views` (1 to the time patch size; default `config.classifier_shift_views`): the logits are averaged over
    that many time-shifted views of the clip (`tta.average_shifted_views`). The config and the feature extractor
    must agree on mel bins and frame rate, or building the pipeline raises a ValueError.
    """

    # set by `register_pipeline`: the entry `save_pretrained` records under custom_pipelines
    _registered_impl: dict[str, dict[str, Any]]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        check = getattr(self.model.config, "check_feature_extractor", None)
        if check is not None and self.feature_extractor is not None:
            check(self.feature_extractor)

    def _sanitize_parameters(
        self,
        top_k=None,
        function_to_apply=None,
        shift_views: int | None = None,
        chunk_length_s: float | None = None,
        stride_length_s: float | tuple[float, float] | None = None,
        **kwargs,
    ):
        preprocess_params, forward_params, postprocess_params = super()._sanitize_parameters(
            top_k=top_k, function_to_apply=function_to_apply, **kwargs
        )
        if shift_views is not None:
            shift_offsets(shift_views, self.model.config.time_patch_size)  # refuses a count it cannot run
            forward_params["shift_views"] = shift_views
        if chunk_length_s is not None or stride_length_s is not None:
            forward_params["window"] = self._window_frames(chunk_length_s, stride_length_s)  # checked here
        return preprocess_params, forward_params, postprocess_params

    def preprocess(self, inputs: Any) -> dict[str, torch.Tensor]:
        return super().preprocess(self._padded_to_one_window(self._as_mono_dict(inputs)))

    def _padded_to_one_window(self, inputs: Any) -> Any:
        """The clip rule of the training scripts (`transformers_aasp.audio.fit_clip`): a clip shorter than one
        analysis window (`n_fft` samples after resampling, 25 ms) is zero-padded to it, with a warning."""
        if not isinstance(inputs, Mapping) or self.feature_extractor is None:
            return inputs
        window = getattr(self.feature_extractor, "n_fft", 0)
        needed = -(-window * inputs["sampling_rate"] // self.feature_extractor.sampling_rate)  # at the input rate
        if len(inputs["array"]) >= needed:
            return inputs
        logger.warning(
            f"A clip of {len(inputs['array'])} samples at {inputs['sampling_rate']} Hz is shorter than one analysis "
            f"window ({window} samples at {self.feature_extractor.sampling_rate} Hz); zero-padded to it."
        )
        return {**inputs, "array": np.pad(inputs["array"], (0, needed - len(inputs["array"])))}

    def _forward(
        self,
        model_inputs: dict[str, torch.Tensor],
        shift_views: int | None = None,
        window: tuple[int, int] | None = None,
    ):
        """(B, num_labels) logits of the (B, T, F) `input_values` with their (B, T) mask, averaged over
        `shift_views` shifted views; a clip longer than the window's (length, hop) in frames (default: from
        `chunk_length_s`) gets the mean of its windows' logits."""
        num_views = getattr(self.model.config, "classifier_shift_views", 1) if shift_views is None else shift_views
        window_frames, hop_frames = self._window_frames(None, None) if window is None else window
        values, mask = model_inputs["input_values"], model_inputs.get("attention_mask")
        lengths = [values.shape[1]] * len(values) if mask is None else mask.sum(1).tolist()
        if window_frames == 0 or max(lengths) <= window_frames:
            return SequenceClassifierOutput(logits=average_shifted_views(self.model, values, mask, num_views))
        logits = [
            windowed_logits(self.model, clip[:length], window_frames, hop_frames, num_views)
            for clip, length in zip(values, lengths, strict=True)
        ]
        return SequenceClassifierOutput(logits=torch.stack(logits))

    def _window_frames(self, chunk_length_s: float | None, stride_length_s) -> tuple[int, int]:
        """(window length, hop) in log-mel frames for `chunk_length_s` and `stride_length_s` (see the class
        docstring); (0, 0) when `chunk_length_s` is 0. Raises a ValueError for a negative length, or a stride that
        leaves no hop."""
        config = self.model.config
        default = getattr(config, "clip_seconds", None) or DEFAULT_CHUNK_LENGTH_S
        seconds = default if chunk_length_s is None else chunk_length_s
        strides = stride_length_s if isinstance(stride_length_s, (tuple, list)) else [stride_length_s or 0.0] * 2
        if not seconds >= 0 or len(strides) != 2 or not all(stride >= 0 for stride in strides):
            raise ValueError(
                f"chunk_length_s must be >= 0 and stride_length_s a number or (left, right) pair >= 0, got "
                f"chunk_length_s={chunk_length_s!r}, stride_length_s={stride_length_s!r}."
            )
        if seconds == 0:
            return 0, 0
        # frames per second of the config, which the feature extractor matches (checked when the pipeline is built)
        window_frames = (
            round(seconds * config.frame_rate) + 1
        )  # the frames of a whole clip of that length (centred STFT)
        hop_frames = round((seconds - sum(strides)) * config.frame_rate)
        if hop_frames < 1:
            raise ValueError(
                f"stride_length_s {stride_length_s!r} leaves no hop in windows of chunk_length_s={seconds}: "
                "the left and right strides together must be shorter than the window."
            )
        return window_frames, hop_frames

    def _as_mono_dict(self, inputs: Any) -> Any:
        """Turn audio into `{"array": (samples,) float32, "sampling_rate": int}`; the parent class then resamples it
        with `torchaudio.functional.resample`. URLs and bytes pass through (ffmpeg decodes them)."""
        path = local_audio_path(inputs)
        if path is not None:
            if not is_torchcodec_available():
                return path
            from torchcodec.decoders import AudioDecoder

            inputs = AudioDecoder(path)
        if isinstance(inputs, (str, bytes)):
            return inputs
        if is_audio_decoder(inputs):
            samples = inputs.get_all_samples()
            waveform = to_mono_waveform(samples.data, channel_axis=0)  # torchcodec: (channels, samples)
            return {"array": waveform.numpy(), "sampling_rate": int(samples.sample_rate)}
        if isinstance(inputs, Mapping):
            array = inputs.get("array", inputs.get("raw"))
            if array is None or "sampling_rate" not in inputs:
                raise ValueError(
                    "A dict input needs an 'array' (or 'raw') key with the waveform and a 'sampling_rate' key, got "
                    f"keys {sorted(inputs)}."
                )
            return {"array": to_mono_waveform(array).numpy(), "sampling_rate": int(inputs["sampling_rate"])}
        if isinstance(inputs, (np.ndarray, torch.Tensor)):
            if self.feature_extractor is None:
                raise ValueError("A bare waveform is read at the feature extractor's rate, but the pipeline has none.")
            return {"array": to_mono_waveform(inputs).numpy(), "sampling_rate": self.feature_extractor.sampling_rate}
        raise TypeError(
            f"Unsupported input of type {type(inputs).__name__}: pass a file path (str or os.PathLike), bytes, a "
            "numpy array or torch tensor, a dict with 'array' and 'sampling_rate', or a torchcodec AudioDecoder."
        )


def window_starts(num_frames: int, window_frames: int, hop_frames: int) -> list[int]:
    """First frames of the windows over a clip of `num_frames` >= `window_frames` frames: every `hop_frames`, plus a
    last window that ends at the clip's end when the hops do not reach it."""
    starts = list(range(0, num_frames - window_frames + 1, hop_frames))
    if starts[-1] + window_frames < num_frames:
        starts.append(num_frames - window_frames)
    return starts


def windowed_logits(model, frames: torch.Tensor, window_frames: int, hop_frames: int, num_views: int) -> torch.Tensor:
    """(num_labels,) mean of the logits of the windows over one clip's (T, F) frames (`window_starts`), each averaged
    over `num_views` shifted views; `WINDOWS_PER_FORWARD` windows per forward bound the memory. A clip no longer
    than a window is one window."""
    window_frames = min(window_frames, len(frames))
    starts = window_starts(len(frames), window_frames, hop_frames)
    groups = [starts[first : first + WINDOWS_PER_FORWARD] for first in range(0, len(starts), WINDOWS_PER_FORWARD)]
    # a generator: one group of windows in memory at a time
    windows = (torch.stack([frames[start : start + window_frames] for start in group]) for group in groups)
    return torch.cat([average_shifted_views(model, group, None, num_views) for group in windows]).mean(0)


class AudioClassificationDispatcher(AudioClassificationPipeline):
    """Registered for the "audio-classification" task: instantiating it returns an `AaSPAudioClassificationPipeline`
    for AaSP models and the stock pipeline (`stock_class`) for every other model."""

    stock_class: type[AudioClassificationPipeline] = AudioClassificationPipeline

    def __new__(cls, *args, **kwargs):
        model = kwargs["model"] if "model" in kwargs else (args[0] if args else None)
        # an AaSP model from this package or loaded as remote code
        is_aasp = getattr(getattr(model, "config", None), "model_type", None) == AASP_MODEL_TYPE
        target = AaSPAudioClassificationPipeline if is_aasp else cls.stock_class
        # `target` is not a subclass of `cls`, so Python will not call `__init__` a second time.
        return target(*args, **kwargs)


def _register_task(pipeline_class: type, entry: dict) -> None:
    """`PIPELINE_REGISTRY.register_pipeline` for `TASK` with the model classes, default and type of `entry`; its
    "Overwriting pipeline" warning is expected here, so it is silenced."""
    registry_logger = logging.get_logger("transformers.pipelines.base")
    level = registry_logger.level
    registry_logger.setLevel(logging.ERROR)
    try:
        PIPELINE_REGISTRY.register_pipeline(
            TASK,
            pipeline_class=pipeline_class,
            pt_model=tuple(entry.get("pt", ())) or AutoModelForAudioClassification,
            default=entry.get("default"),
            type=entry.get("type", "audio"),
        )
    finally:
        registry_logger.setLevel(level)


def register_pipeline() -> None:
    """Make `pipeline("audio-classification", ...)` build `AaSPAudioClassificationPipeline` for AaSP models: registers
    `AudioClassificationDispatcher` with the stock entry's model classes, default and type. Idempotent."""
    _, entry, _ = PIPELINE_REGISTRY.check_task(TASK)
    if entry["impl"] is not AudioClassificationDispatcher:
        impl = entry["impl"]  # a class, or a "module.Class" path that the registry resolves late
        if isinstance(impl, str):
            module_path, class_name = impl.rsplit(".", 1)
            impl = getattr(importlib.import_module(module_path), class_name)
        AudioClassificationDispatcher.stock_class = impl
        _register_task(AudioClassificationDispatcher, entry)
    # what `pipe.save_pretrained(dir)` records under custom_pipelines (the model's save writes the same entry)
    AaSPAudioClassificationPipeline._registered_impl = {
        TASK: {"impl": AaSPAudioClassificationPipeline, "pt": (AutoModelForAudioClassification,), "type": "audio"}
    }


def unregister_pipeline() -> None:
    """Undo `register_pipeline()`: the task gets its stock class back."""
    _, entry, _ = PIPELINE_REGISTRY.check_task(TASK)
    if entry["impl"] is AudioClassificationDispatcher:
        _register_task(AudioClassificationDispatcher.stock_class, entry)


__all__ = ["AaSPAudioClassificationPipeline", "local_audio_path", "register_pipeline", "unregister_pipeline"]
