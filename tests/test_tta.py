# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Shifted-view averaging (`transformers_aasp.tta`) and the pure classifier forward it replaces inside the model."""

import re

import pytest
import torch
from transformers import AutoConfig

from research.ablations import arm_config, build_model
from transformers_aasp import AaSPConfig, AaSPForAudioClassification
from transformers_aasp.tta import average_shifted_views, shift_offsets, shifted_views


BINS = 80
# float32 on CPU: stacking V views into one batch of a different size may reorder sums (about 1e-6 on O(1) logits)
RTOL, ATOL = 1e-4, 2e-5


def tiny(**overrides) -> AaSPConfig:
    return AaSPConfig.tiny(**overrides)


def trained_looking_classifier(**overrides) -> AaSPForAudioClassification:
    """A classifier whose alias path and attention scores are live (not their zero initialisation), in eval mode."""
    config = arm_config("fusion_normal_init", num_labels=3, classifier_pooling="attention", **overrides)
    model = build_model("fusion_normal_init", AaSPForAudioClassification, config)
    torch.nn.init.normal_(model.classifier.attention_pooling.score.weight, std=1.0)
    return model.eval()


@pytest.fixture
def inputs():
    """Three clips of 100, 70 and 33 real frames, right-padded to 100."""
    values = torch.randn(3, 100, BINS, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 100, dtype=torch.long)
    mask[1, 70:] = 0
    mask[2, 33:] = 0
    return values, mask


def test_shift_offsets_split_the_patch_width_evenly_and_refuse_other_counts():
    assert shift_offsets(1, 16) == [0]
    assert shift_offsets(4, 16) == [0, 4, 8, 12]
    assert shift_offsets(3, 16) == [0, 5, 10]
    assert shift_offsets(16, 16) == list(range(16))
    for bad in (0, 17, 2.0, True):
        message = rf"shift_views must be an integer from 1 to time_patch_size \(16\), got {re.escape(repr(bad))}\."
        with pytest.raises(ValueError, match=message):
            shift_offsets(bad, 16)


@torch.no_grad()
def test_averaged_logits_are_the_mean_of_the_clips_started_later(inputs):
    values, mask = inputs
    model = trained_looking_classifier()
    averaged = average_shifted_views(model, values, mask, num_views=4)
    assert averaged.shape == (3, 3)
    # clip 0 (100 real frames) and clip 1 (70) take every shift; clip 2 (33 frames) at most 33 - 16 = 17, so all too
    views = [model(values[:, k:], mask[:, k:]).logits for k in (0, 4, 8, 12)]
    torch.testing.assert_close(averaged, torch.stack(views).mean(0), rtol=RTOL, atol=ATOL)
    assert not torch.allclose(averaged, views[0], atol=1e-3)  # the shifted views do change the output
    torch.testing.assert_close(average_shifted_views(model, values, mask, num_views=1), views[0], rtol=0, atol=0)


@torch.no_grad()
def test_a_clip_too_short_for_a_shift_keeps_one_patch_of_frames():
    values = torch.randn(1, 20, BINS, generator=torch.Generator().manual_seed(1))
    model = trained_looking_classifier()
    # 20 frames: shifts 0 / 4 / 8 / 12 become 0 / 4 / 4 / 4, leaving 20 / 16 / 16 / 16 frames
    expected = (model(values).logits + 3 * model(values[:, 4:]).logits) / 4
    torch.testing.assert_close(average_shifted_views(model, values, None, 4), expected, rtol=RTOL, atol=ATOL)
    one_patch = torch.randn(1, 10, BINS)
    assert average_shifted_views(model, one_patch, None, 4).shape == (1, 3)


@torch.no_grad()
def test_a_clip_gets_the_same_averaged_logits_alone_or_padded_in_a_batch(inputs):
    values, mask = inputs
    values = values.masked_fill(~mask.bool()[..., None], float("nan"))  # whatever the padding holds
    model = trained_looking_classifier()
    batched = average_shifted_views(model, values, mask, 4)
    assert torch.isfinite(batched).all()
    alone = average_shifted_views(model, values[1:2, :70], None, 4)
    torch.testing.assert_close(alone, batched[1:2], rtol=RTOL, atol=ATOL)


def test_shifted_views_are_stacked_view_major_with_their_masks(inputs):
    values, mask = inputs
    views, view_mask = shifted_views(values, mask, [0, 8], time_patch_size=16)
    assert views.shape == (6, 100, BINS) and view_mask.shape == (6, 100)
    torch.testing.assert_close(views[:3], values.masked_fill(~mask.bool()[..., None], 0.0), rtol=0, atol=0)
    assert view_mask[3:].sum(1).tolist() == [92, 62, 25]  # 100 / 70 / 33 real frames, 8 dropped from each
    torch.testing.assert_close(views[4, :62], values[1, 8:70], rtol=0, atol=0)


def test_a_mask_that_is_not_right_padded_is_refused_before_shifting(inputs):
    values, mask = inputs
    with pytest.raises(ValueError, match="right-padded"):
        average_shifted_views(trained_looking_classifier(), values, mask.flip(-1), 4)


@torch.no_grad()
def test_forward_is_one_pass_whatever_the_views_hint_and_the_mode(inputs):
    values, mask = inputs
    hinted = trained_looking_classifier(classifier_shift_views=4)
    plain = trained_looking_classifier()
    plain.load_state_dict(hinted.state_dict())
    labels = torch.tensor([0, 2, 1])
    out = hinted(values, mask, labels=labels, output_hidden_states=True)
    reference = plain(values, mask, output_hidden_states=True)
    torch.testing.assert_close(out.logits, reference.logits, rtol=0, atol=0)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))
    assert [h.shape for h in out.hidden_states] == [h.shape for h in reference.hidden_states]  # (B, 1 + N, D)
    assert hinted.config.hidden_dropout_prob == hinted.config.attention_probs_dropout_prob == 0.0
    torch.testing.assert_close(hinted.train()(values, mask).logits, out.logits, rtol=0, atol=0)


# The eval-mode logits of this seeded model with classifier_shift_views=4, recorded from the model forward that
# averaged the views itself (before averaging moved to `tta`), on the inputs of tests/test_modeling_golden.py; the
# fine-tunes scored since must score the same. Tolerance as in that file.
RECORDED_FOUR_VIEW_LOGITS = [[0.106235, 0.220099, 0.344744], [0.116970, 0.197439, 0.330158]]


@torch.no_grad()
def test_four_views_give_the_logits_the_averaging_forward_gave():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(2, 70, BINS, generator=generator)
    mask = torch.ones(2, 70, dtype=torch.long)
    mask[1, 45:] = 0
    torch.manual_seed(0)
    model = AaSPForAudioClassification(tiny(num_labels=3, classifier_shift_views=4)).eval()
    averaged = average_shifted_views(model, values, mask, model.config.classifier_shift_views)
    torch.testing.assert_close(averaged, torch.tensor(RECORDED_FOUR_VIEW_LOGITS), rtol=0, atol=1e-4)


def test_the_views_hint_travels_with_the_saved_config(tmp_path):
    AaSPForAudioClassification(tiny(num_labels=3, classifier_shift_views=4)).save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).classifier_shift_views == 4
    saved_without = {k: v for k, v in tiny().to_dict().items() if k != "classifier_shift_views"}
    assert AaSPConfig.from_dict(saved_without).classifier_shift_views == 1
