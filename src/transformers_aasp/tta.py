# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Shifted-view averaging at inference: the logits of a clip averaged over V copies of it started a fraction of a
time patch later, so that the answer depends less on where the patch grid falls on the sound. Each view is one
ordinary forward of the model (whose `forward` never averages by itself).

Used by `AaSPAudioClassificationPipeline` (`shift_views`, by default `config.classifier_shift_views`) and the
fine-tuning test scoring. It travels with the model files as a checkpoint's remote code (torch and single-dot
imports only).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from .modeling_aasp import check_input_values, frame_lengths_from_mask


def shift_offsets(num_views: int, time_patch_size: int, name: str = "shift_views") -> list[int]:
    """Frames dropped at the start of each of `num_views` views: k * p_t // num_views for k < num_views; a ValueError
    (naming the option `name`) unless `num_views` is an integer from 1 to `time_patch_size`."""
    if isinstance(num_views, bool) or not isinstance(num_views, int) or not 1 <= num_views <= max(time_patch_size, 1):
        raise ValueError(
            f"{name} must be an integer from 1 to time_patch_size ({time_patch_size}), got {num_views!r}."
        )
    return [k * time_patch_size // num_views for k in range(num_views)]


def start_later(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, shifts: torch.Tensor, time_patch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, F) log-mel frames with their (B, T) 0/1 right-padded mask (None: all real) -> (B, T, F) frames, zero
    past each clip's new length, and their (B, T) long mask: each clip started `shifts[b]` >= 0 frames later, its
    first frames dropped, the rest moved to the start and the frames freed at the end masked; a clip keeps at least
    one time patch (its shift is at most length - p_t)."""
    batch, frames, _ = input_values.shape
    lengths = frame_lengths_from_mask(attention_mask, batch, frames, input_values.device)
    shifts = torch.minimum(shifts.to(lengths.device), (lengths - time_patch_size).clamp(min=0))
    source = torch.arange(frames, device=input_values.device)[None] + shifts[:, None]
    real = source < lengths[:, None]
    gathered = input_values.gather(1, source.clamp(max=frames - 1)[..., None].expand_as(input_values))
    return torch.where(real[..., None], gathered, torch.zeros((), dtype=gathered.dtype)), real.long()


def shifted_views(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, offsets: list[int], time_patch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, F) frames and (B, T) mask (or None) -> the (V * B, T, F) views and their (V * B, T) mask, view-major:
    rows k * B to (k + 1) * B hold the clips started `offsets[k]` frames later (`start_later`)."""
    num_views, batch = len(offsets), input_values.shape[0]
    shifts = torch.tensor(offsets, device=input_values.device).repeat_interleave(batch)
    repeated_mask = None if attention_mask is None else attention_mask.repeat(num_views, 1)
    return start_later(input_values.repeat(num_views, 1, 1), repeated_mask, shifts, time_patch_size)


def average_shifted_views(
    model: PreTrainedModel, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None, num_views: int = 1
) -> torch.Tensor:
    """(B, num_labels) classification logits of (B, T, F) frames with their (B, T) mask, averaged over `num_views`
    time-shifted views in one forward of the stacked views. `num_views` runs from 1 (one plain forward, any audio
    classifier) to the time patch size (an AaSP model: its `config.time_patch_size` sets the shifts)."""
    if num_views == 1:
        inputs = {"input_values": input_values}
        if attention_mask is not None:  # models without a frame mask (AST) take none
            inputs["attention_mask"] = attention_mask
        return model(**inputs).logits
    config = model.config
    offsets = shift_offsets(num_views, config.time_patch_size)
    check_input_values(input_values, config.num_mel_bins)
    views, view_mask = shifted_views(input_values, attention_mask, offsets, config.time_patch_size)
    return model(input_values=views, attention_mask=view_mask).logits.unflatten(0, (num_views, -1)).mean(0)


__all__ = ["average_shifted_views", "shift_offsets", "shifted_views", "start_later"]
