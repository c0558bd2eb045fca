# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Training-time augmentation of a fine-tuning batch of log-mel frames: mixup, random start shifts (so training sees
every phase of the patch grid, shifted as the evaluation's views are) and SpecAugment. Evaluation never augments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchaudio

from ..tta import start_later
from .arguments import option


@dataclass
class AugmentationArguments:
    """The augmentation options of the fine-tuning recipe (every one off by default)."""

    mixup_alpha: float = option(0.0, "Mixup Beta(alpha, alpha); 0 disables mixup.")
    freq_mask_param: int = option(0, "SpecAugment: max mel bins per frequency mask.")
    time_mask_param: int = option(0, "SpecAugment: max frames per time mask.")
    num_masks: int = option(2, "SpecAugment: masks of each kind per clip.")
    max_start_shift_frames: int = option(
        0,
        "Start each training clip a uniform random 0 to N frames later (its first frames dropped, the "
        "freed end masked; a clip keeps at least one time patch). N = time patch size - 1 covers every phase of "
        "the patch grid; 0 disables.",
    )

    def __post_init__(self):
        for name in ("mixup_alpha", "freq_mask_param", "time_mask_param", "max_start_shift_frames"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0 (0 disables it), got {getattr(self, name)}.")
        if self.num_masks < 0:
            raise ValueError(f"--num_masks must be >= 0, got {self.num_masks}.")


def augment_batch(
    inputs: dict, targets: torch.Tensor, options: AugmentationArguments, time_patch_size: int
) -> tuple[dict, torch.Tensor]:
    """Mixup, then the random start shift, then SpecAugment, each when its option is on, of `inputs` (`input_values`
    (B, T, F), optional `attention_mask` (B, T)) and (B, K) one- or multi-hot `targets`: both augmented, same shapes.
    A shifted clip keeps `time_patch_size` frames (1: no time patches)."""
    inputs = dict(inputs)
    if options.mixup_alpha > 0:
        inputs, targets = mix_batch(inputs, targets, options.mixup_alpha)
    if options.max_start_shift_frames > 0:
        inputs.update(random_start_shift(inputs, options.max_start_shift_frames, time_patch_size))
    if options.freq_mask_param > 0 or options.time_mask_param > 0:
        inputs["input_values"] = spec_augment(
            inputs["input_values"], options.freq_mask_param, options.time_mask_param, options.num_masks
        )
    return inputs, targets


def random_start_shift(inputs: dict, max_shift_frames: int, time_patch_size: int) -> dict:
    """`input_values` (B, T, F) and `attention_mask` (B, T) of the clips started a uniform random 0 to
    `max_shift_frames` frames later (one draw per clip from torch's random source; `tta.start_later`: a clip keeps
    at least one time patch). Inputs without an `attention_mask` (AST) get none: the freed frames stay zero."""
    values = inputs["input_values"]
    shifts = torch.randint(0, max_shift_frames + 1, (values.shape[0],), device=values.device)
    shifted, mask = start_later(values, inputs.get("attention_mask"), shifts, time_patch_size)
    if "attention_mask" not in inputs:
        return {"input_values": shifted}
    return {"input_values": shifted, "attention_mask": mask}


def mix_batch(inputs: dict, targets: torch.Tensor, alpha: float, rng: np.random.Generator | None = None):
    """Mixup with one weight w ~ Beta(alpha, alpha) per batch and a permutation `order` of the batch: (inputs with
    `input_values` (B, T, F) = w x + (1 - w) x[order] and `attention_mask` (B, T) = max(m, m[order]), (B, K) targets
    w y + (1 - w) y[order]). `rng` defaults to numpy's global source, which the Trainer seeds and checkpoints."""
    source = np.random if rng is None else rng
    weight = float(source.beta(alpha, alpha))
    order = torch.as_tensor(source.permutation(targets.shape[0]), device=targets.device)
    mixed = dict(inputs)
    mixed["input_values"] = weight * inputs["input_values"] + (1 - weight) * inputs["input_values"][order]
    if inputs.get("attention_mask") is not None:
        mixed["attention_mask"] = torch.maximum(inputs["attention_mask"], inputs["attention_mask"][order])
    return mixed, weight * targets + (1 - weight) * targets[order]


def spec_augment(input_values: torch.Tensor, freq_mask_param: int, time_mask_param: int, num_masks: int):
    """(B, T, F) -> (B, T, F) with `num_masks` random frequency and time masks per clip (value 0 = the data mean)."""
    spectrogram = input_values.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
    for _ in range(num_masks):
        if freq_mask_param > 0:
            spectrogram = torchaudio.transforms.FrequencyMasking(freq_mask_param, iid_masks=True)(spectrogram)
        if time_mask_param > 0:
            spectrogram = torchaudio.transforms.TimeMasking(time_mask_param, iid_masks=True)(spectrogram)
    return spectrogram.squeeze(1).transpose(1, 2)


__all__ = ["AugmentationArguments", "augment_batch", "mix_batch", "random_start_shift", "spec_augment"]
