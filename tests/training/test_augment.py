# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Training-time augmentation (`transformers_aasp.training.augment`): start shifts, mixup and SpecAugment."""

import numpy as np
import pytest
import torch

from transformers_aasp.training.augment import (
    AugmentationArguments,
    augment_batch,
    mix_batch,
    random_start_shift,
    spec_augment,
)


PATCH = 16


def test_start_shift_drops_up_to_n_frames_and_keeps_one_patch():
    values = torch.randn(64, 60, 80, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(64, 60, dtype=torch.long)
    mask[1::2, 20:] = 0  # odd clips: 20 real frames, so at most 20 - 16 = 4 frames can go
    torch.manual_seed(3)
    shifted = random_start_shift({"input_values": values, "attention_mask": mask}, 15, PATCH)
    lengths = shifted["attention_mask"].sum(1)
    drops = torch.where(torch.arange(64) % 2 == 0, 60, 20) - lengths
    assert shifted["input_values"].shape == values.shape and shifted["attention_mask"].shape == mask.shape
    assert drops[0::2].min() >= 0 and drops[0::2].max() <= 15 and len(drops[0::2].unique()) > 8  # uniform on 0..15
    assert drops[1::2].max() <= 4 and drops[1::2].min() >= 0
    for clip in range(64):
        drop, length = int(drops[clip]), int(lengths[clip])
        torch.testing.assert_close(shifted["input_values"][clip, :length], values[clip, drop : drop + length])
        assert torch.all(shifted["input_values"][clip, length:] == 0)
        assert torch.equal(shifted["attention_mask"][clip], (torch.arange(60) < length).long())
    unmasked = random_start_shift({"input_values": values}, 15, PATCH)  # a model without a mask (AST) gets none
    assert set(unmasked) == {"input_values"}


def test_a_start_shift_of_at_most_one_frame_is_honoured():
    values = torch.randn(200, 40, 80)
    torch.manual_seed(0)
    shifted, _ = augment_batch(
        {"input_values": values}, torch.eye(200), AugmentationArguments(max_start_shift_frames=1), PATCH
    )
    started_later = torch.all(shifted["input_values"][:, :39] == values[:, 1:], dim=(1, 2))
    unshifted = torch.all(shifted["input_values"] == values, dim=(1, 2))
    assert torch.all(started_later ^ unshifted)  # every clip is shifted by 0 or 1 frame...
    assert 60 < int(started_later.sum()) < 140  # ...half of them by 1


# `--random_shift_frames 16` drew each clip's shift with torch.randint(0, 16): recorded from that code with
# torch.manual_seed(0), six clips of 100 frames, the last with 20 real ones (so its shift is cut to 4), and the
# draw of torch's random source that followed. `--max_start_shift_frames 15` must take the same draws.
RECORDED_LENGTHS = [88, 85, 95, 100, 97, 16]
RECORDED_NEXT_DRAW = 0.4900934100151062


def test_max_start_shift_15_draws_the_shifts_random_shift_frames_16_drew():
    values = torch.zeros(6, 100, 80)
    mask = torch.ones(6, 100, dtype=torch.long)
    mask[5, 20:] = 0
    torch.manual_seed(0)
    shifted = random_start_shift({"input_values": values, "attention_mask": mask}, 15, PATCH)
    assert shifted["attention_mask"].sum(1).tolist() == RECORDED_LENGTHS
    assert torch.rand(1).item() == RECORDED_NEXT_DRAW


def test_augmentation_runs_mixup_then_the_shift_then_spec_augment():
    inputs = {"input_values": torch.randn(4, 48, 80), "attention_mask": torch.ones(4, 48, dtype=torch.long)}
    targets = torch.eye(4)
    options = AugmentationArguments(mixup_alpha=0.4, max_start_shift_frames=15, freq_mask_param=8, time_mask_param=8)
    np.random.seed(1)
    torch.manual_seed(1)
    augmented, mixed_targets = augment_batch(inputs, targets, options, PATCH)
    np.random.seed(1)
    torch.manual_seed(1)
    expected, expected_targets = mix_batch(inputs, targets, 0.4)
    expected.update(random_start_shift(expected, 15, PATCH))
    expected["input_values"] = spec_augment(expected["input_values"], 8, 8, num_masks=2)
    torch.testing.assert_close(augmented["input_values"], expected["input_values"], rtol=0, atol=0)
    assert torch.equal(augmented["attention_mask"], expected["attention_mask"])
    torch.testing.assert_close(mixed_targets, expected_targets, rtol=0, atol=0)
    untouched, same_targets = augment_batch(inputs, targets, AugmentationArguments(), PATCH)
    assert untouched["input_values"] is inputs["input_values"] and same_targets is targets  # all off by default


@pytest.mark.parametrize("name", ["mixup_alpha", "freq_mask_param", "time_mask_param", "max_start_shift_frames"])
def test_a_negative_augmentation_option_is_refused(name):
    with pytest.raises(ValueError, match=rf"--{name} must be >= 0 \(0 disables it\), got -1\."):
        AugmentationArguments(**{name: -1})


def test_mixup_is_the_documented_mix_for_a_seeded_draw():
    inputs = {"input_values": torch.randn(4, 3, 2), "attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]] * 2)}
    targets = torch.eye(4)
    mixed, mixed_targets = mix_batch(inputs, targets, alpha=0.4, rng=np.random.default_rng(7))
    draw = np.random.default_rng(7)  # the same stream: the weight first, then the permutation
    weight = float(draw.beta(0.4, 0.4))
    order = torch.as_tensor(draw.permutation(4))
    assert not torch.equal(order, torch.arange(4))  # this seed mixes clips with other clips
    expected = weight * inputs["input_values"] + (1 - weight) * inputs["input_values"][order]
    torch.testing.assert_close(mixed["input_values"], expected, rtol=0, atol=0)
    torch.testing.assert_close(mixed_targets, weight * targets + (1 - weight) * targets[order], rtol=0, atol=0)
    expected_mask = torch.maximum(inputs["attention_mask"], inputs["attention_mask"][order])
    assert torch.equal(mixed["attention_mask"], expected_mask)


def test_spec_augment_zeroes_whole_mel_bands_and_frame_runs():
    values = torch.randn(8, 60, 80) + 5.0  # no value of the input is 0
    torch.manual_seed(0)
    masked = spec_augment(values, freq_mask_param=10, time_mask_param=10, num_masks=2)
    assert masked.shape == values.shape
    zero = masked == 0
    kept = ~zero
    torch.testing.assert_close(masked[kept], values[kept], rtol=0, atol=0)
    band = zero.all(dim=1)  # (B, F): bins masked in every frame
    frames = zero.all(dim=2)  # (B, T): frames masked in every bin
    assert torch.equal(zero, band[:, None, :] | frames[:, :, None])  # every zero is in a masked band or run
    assert int(band.sum(1).max()) <= 2 * 9 and int(frames.sum(1).max()) <= 2 * 9
