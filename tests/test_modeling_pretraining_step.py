# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The pre-training step as an accelerator runs it: no host-device synchronisation in the forward and backward, one
compiled graph, float32 where rounding matters, and mask noise drawn ahead of the step."""

import pytest
import torch

from bench.common import DispatchCensus
from transformers_aasp import AaSPConfig, AaSPForPreTraining, draw_mask_noise, validate_input_values
from transformers_aasp.functional_aasp import multi_positive_info_nce


FRAMES = 96


def tiny_batch(config: AaSPConfig, seed: int = 0):
    """Two clips of FRAMES frames, the second padded after 60, with their mask noise."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(2, FRAMES, config.num_mel_bins, generator=generator)
    mask = torch.ones(2, FRAMES, dtype=torch.long)
    mask[1, 60:] = 0
    return values, mask, draw_mask_noise(config, 2, FRAMES, generator)


def seeded_model(**overrides) -> AaSPForPreTraining:
    torch.manual_seed(0)
    return AaSPForPreTraining(AaSPConfig.tiny(hidden_dropout_prob=0.0, **overrides)).train()


@pytest.mark.parametrize("use_aape", [True, False], ids=["aape", "plain"])
def test_forward_and_backward_read_nothing_back_from_the_device(use_aape):
    """Every `.item()`, boolean index or data-dependent shape makes the host wait for the GPU; the step has none once
    the data side has validated the batch (`check_values=False`). The CPU census lists what a GPU would wait on."""
    model = seeded_model(use_aape=use_aape)
    values, mask, noise = tiny_batch(model.config)
    with DispatchCensus() as forward:
        outputs = model(values, attention_mask=mask, noise=noise, check_values=False)
    with DispatchCensus() as backward:
        outputs.loss.backward()
    assert forward.syncs == [] and backward.syncs == []
    assert forward.ops > 0 and backward.ops > 0  # the census saw the step
    # the value checks are the forward's only synchronisations, and change nothing on valid input
    with DispatchCensus() as checked:
        again = model(values, attention_mask=mask, noise=noise)
    assert {line.split(":")[0] for _, line in checked.syncs} == {"functional_aasp.py"}
    assert len(checked.syncs) == 2
    assert torch.equal(again.loss, outputs.loss)


def test_census_counts_the_synchronisations_it_is_meant_to():
    values = torch.tensor([1.0, -1.0, 2.0])
    with DispatchCensus() as census:
        float(values.sum())
        values[values > 0]
        values.nonzero()
    assert [name for name, _ in census.syncs] == ["aten._local_scalar_dense", "aten.index", "aten.nonzero"]
    assert all(line.startswith("test_modeling_pretraining_step.py:") for _, line in census.syncs)


def test_validate_input_values_raises_what_the_forward_raises():
    model = seeded_model()
    values, mask, noise = tiny_batch(model.config)
    validate_input_values(values, mask)  # valid: silent
    left_padded = mask.flip(1)
    with pytest.raises(ValueError, match="attention_mask of clip 1 is not right-padded"):
        validate_input_values(values, left_padded)
    with pytest.raises(ValueError, match="attention_mask of clip 1 is not right-padded"):
        model(values, attention_mask=left_padded, noise=noise)
    values[0, 3, 7] = float("nan")
    with pytest.raises(ValueError, match="input_values of clip 0 holds NaN or Inf"):
        validate_input_values(values, mask)
    values[0, 3, 7] = 0.0
    values[1, 80, 0] = float("inf")  # in clip 1's padding: replaced by zeros, not an error
    validate_input_values(values, mask)


def test_noise_drawn_ahead_gives_the_masks_the_generator_gives():
    """A data loader drawing `draw_mask_noise` from a seeded generator reproduces the forward's own draw from it."""
    model = seeded_model()
    values, mask, _ = tiny_batch(model.config)
    with torch.no_grad():
        drawn = model(values, attention_mask=mask, mask_generator=torch.Generator().manual_seed(7))
        ahead = model(
            values,
            attention_mask=mask,
            noise=draw_mask_noise(model.config, 2, FRAMES, torch.Generator().manual_seed(7)),
        )
    noise = draw_mask_noise(model.config, 2, FRAMES, torch.Generator().manual_seed(7))
    assert noise.shape == (2, model.config.num_mask_clones, 2, model.config.patch_grid(FRAMES).num_patches)
    for name in ("loss", "masked_patch_loss", "global_loss", "contrastive_loss", "prediction_variance"):
        assert torch.equal(getattr(drawn, name), getattr(ahead, name)), name


def test_the_whole_pretraining_forward_compiles_as_one_graph():
    """fullgraph=True raises at the first graph break. Backend "eager" runs what Dynamo traced with the eager
    kernels: it checks tracing (the part that breaks) in seconds, and gives the eager results (same kernels, same
    order: equal up to float32 reassociation by at most a few ulps)."""
    torch._dynamo.reset()
    model = seeded_model()
    values, mask, noise = tiny_batch(model.config)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    outputs = compiled(values, attention_mask=mask, noise=noise)
    outputs.loss.backward()
    reference = model(values, attention_mask=mask, noise=noise)
    for name in ("loss", "masked_patch_loss", "global_loss", "contrastive_loss", "contrastive_accuracy"):
        torch.testing.assert_close(getattr(outputs, name), getattr(reference, name), rtol=1e-6, atol=1e-6)
    assert model.predictor.mask_token.grad is not None


def test_contrastive_loss_is_computed_in_float32_under_bf16_autocast():
    """The logits are cosines / temperature: bf16 rounding (2^-9 relative) of a cosine is 0.02 of logit at the
    temperature 0.1. Under autocast the loss must equal the float32 one exactly (the same float32 operations)."""
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(16, 32, generator=generator), dim=-1)
    clip_ids = torch.arange(4).repeat_interleave(4)
    expected = multi_positive_info_nce(embeddings, clip_ids, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = multi_positive_info_nce(embeddings, clip_ids, 0.1)
    assert actual[0].dtype == torch.float32
    assert torch.equal(actual[0], expected[0]) and torch.equal(actual[1], expected[1])


def test_loss_terms_under_bf16_autocast_stay_close_to_float32():
    """Same batch, same noise, bf16 autocast against float32. The encoders' matmuls run in bf16 (rounding 2^-9 =
    0.2 % per operand), the targets, logits and loss reductions in float32, and the losses average hundreds of
    terms whose rounding errors cancel: measured relative differences 1e-5 to 7e-4. 1 % bounds them with margin and
    is below what a loss term reduced or a target rounded in bf16 changes; the float32 dtype is checked too."""
    model = seeded_model()
    values, mask, noise = tiny_batch(model.config)
    with torch.no_grad():
        reference = model(values, attention_mask=mask, noise=noise, check_values=False)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(values, attention_mask=mask, noise=noise, check_values=False)
    for name in ("loss", "masked_patch_loss", "global_loss", "contrastive_loss", "target_variance"):
        assert getattr(low, name).dtype == torch.float32, name
        torch.testing.assert_close(getattr(low, name), getattr(reference, name), rtol=0.01, atol=0.0, msg=name)
