# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pinned outputs of a seeded tiny model, for every model class, with and without AaPE.

Like the `expected_slice` tests of transformers' in-tree models: if a refactor changes the numbers a model computes,
its initial weights or the names and shapes of its saved weights, these tests fail. The values were recorded once
from the default path and must only change together with an explained change of the method.

Tolerance: float32 on CPU; the values are O(1) and a change of thread count or BLAS reorders sums of at most a few
thousand terms, which moves them by about 1e-6. 1e-4 (as transformers' AST integration test uses) is far below any
real change of the computation, which moves these values by 1e-2 or more.
"""

import json
from pathlib import Path

import pytest
import torch

from transformers_aasp import AaSPConfig, AaSPForAudioClassification, AaSPForPreTraining, AaSPModel


ATOL = 1e-4
STATE_DICT_FIXTURE = Path(__file__).parent / "fixtures" / "golden_tiny_state_dict.json"

EXPECTED = {
    True: {
        "last_hidden_state[0, :3, :4]": [
            [0.020148, -1.058409, -0.039214, -1.161497],
            [-1.194725, -0.797976, -1.632133, -1.132934],
            [-0.688479, -1.292259, -0.924439, -1.449964],
        ],
        "pooler_output[1, :4]": [0.347418, -1.146670, 0.033335, -1.596944],
        "logits": [[0.105620, 0.227795, 0.367584], [0.112994, 0.188817, 0.318215]],
        "pretraining losses": {
            "loss": 1.214664,
            "masked_patch_loss": 1.005586,
            "global_loss": 0.019253,
            "contrastive_loss": 1.898244,
            "target_variance": 0.075715,
        },
        "parameter sum": 1575.002347,
    },
    False: {
        "last_hidden_state[0, :3, :4]": [
            [-0.032613, -0.306320, -0.209552, -1.744151],
            [-0.662263, -0.880100, -1.094733, -0.594684],
            [-1.000638, -0.731485, -1.703358, -1.648766],
        ],
        "pooler_output[1, :4]": [-0.178112, -0.221676, 0.645114, -1.482116],
        "logits": [[0.022096, -0.253895, -0.034120], [0.008869, -0.214753, -0.111416]],
        "pretraining losses": {
            "loss": 1.205664,
            "masked_patch_loss": 1.006215,
            "global_loss": 0.024558,
            "contrastive_loss": 1.748922,
            "target_variance": 0.148250,
        },
        "parameter sum": 1349.971350,
    },
}


def golden_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two clips of 70 frames x 80 mel bins; the second has 45 real frames (right padding)."""
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(2, 70, 80, generator=generator)
    mask = torch.ones(2, 70, dtype=torch.long)
    mask[1, 45:] = 0
    return values, mask


def seeded(model_class, **overrides):
    torch.manual_seed(0)
    return model_class(AaSPConfig.tiny(**overrides)).eval()


def assert_close(actual: torch.Tensor, expected) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype), atol=ATOL, rtol=0)


@pytest.mark.parametrize("use_aape", [True, False], ids=["aape", "plain"])
def test_encoder_outputs_are_pinned(use_aape):
    values, mask = golden_inputs()
    with torch.no_grad():
        outputs = seeded(AaSPModel, use_aape=use_aape)(values, attention_mask=mask)
    expected = EXPECTED[use_aape]
    assert outputs.last_hidden_state.shape == (2, 1 + 5 * 5, 64)  # CLS + 5 frequency x 5 time patches
    assert outputs.time_column_features.shape == (2, 5, 5 * 64)
    assert_close(outputs.last_hidden_state[0, :3, :4], expected["last_hidden_state[0, :3, :4]"])
    assert_close(outputs.pooler_output[1, :4], expected["pooler_output[1, :4]"])


@pytest.mark.parametrize("use_aape", [True, False], ids=["aape", "plain"])
def test_classifier_logits_are_pinned(use_aape):
    values, mask = golden_inputs()
    with torch.no_grad():
        logits = seeded(AaSPForAudioClassification, use_aape=use_aape, num_labels=3)(
            values, attention_mask=mask
        ).logits
    assert_close(logits, EXPECTED[use_aape]["logits"])


@pytest.mark.parametrize("use_aape", [True, False], ids=["aape", "plain"])
def test_pretraining_losses_are_pinned(use_aape):
    values, mask = golden_inputs()
    model = seeded(AaSPForPreTraining, use_aape=use_aape)
    num_patches = model.config.patch_grid(values.shape[1]).num_patches
    noise = torch.rand(2, model.config.num_mask_clones, 2, num_patches, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = model(values, attention_mask=mask, noise=noise)
    for name, value in EXPECTED[use_aape]["pretraining losses"].items():
        assert_close(getattr(outputs, name), value)


@pytest.mark.parametrize("use_aape", [True, False], ids=["aape", "plain"])
def test_saved_weights_keep_their_names_shapes_and_initial_values(use_aape):
    """Checkpoints and the research arms load by parameter name: the names, shapes and seeded initial values of the
    pre-training model's state dict (student, teacher, predictor, heads) are pinned."""
    state_dict = seeded(AaSPForPreTraining, use_aape=use_aape).state_dict()
    expected_shapes = json.loads(STATE_DICT_FIXTURE.read_text())["aape" if use_aape else "plain"]
    assert {name: list(tensor.shape) for name, tensor in state_dict.items()} == expected_shapes
    total = sum(tensor.double().sum() for tensor in state_dict.values() if tensor.is_floating_point())
    # a float64 sum of about 3.8e5 float32 values: 1e-6 relative is far above its rounding and far below any change
    assert total.item() == pytest.approx(EXPECTED[use_aape]["parameter sum"], rel=1e-6)
