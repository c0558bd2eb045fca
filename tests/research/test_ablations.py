# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""research.ablations: every arm builds, runs and keeps the parameter names and the computation it had as config
options, and the "default" arm is the package model.

tests/fixtures/ablation_arms.json was recorded from the model code before the variants left the config (commit
403e61a, each arm built as `AaSPConfig.tiny(**old_config)`): per arm, the encoder's state-dict names and shapes, and
the outputs of the encoder, the classifier and the pre-training model on fixed inputs, with every weight set by
`deterministic_weights` (a function of the tensor's name and shape only, so that the old and new models of an arm get
the same weights whatever order they create them in). Tolerance: float32 on CPU, values O(1) to O(1e3) summed over
about 1e4 terms; 1e-4 absolute on single values and 1e-3 on sums is far above rounding and far below the effect of
any variant (the closest pair of arms differs by 2e-2 on the student's embeddings).
"""

import json
import zlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from research.ablations import ARMS, arm_class, arm_config, build_model, from_pretrained
from research.ablations.variants import bernoulli_block_mask, hide_masked_patches
from transformers_aasp import AaSPConfig, AaSPForAudioClassification, AaSPForPreTraining, AaSPModel


FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "ablation_arms.json").read_text())


def deterministic_weights(model):
    """Set every floating tensor of the state dict to 0.2 sin(0.61 i + phase(name)), i the flat index."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                phase = zlib.crc32(name.encode()) % 1000 / 100.0
                values = torch.sin(torch.arange(tensor.numel(), dtype=torch.float64) * 0.61 + phase) * 0.2
                tensor.copy_(values.reshape(tensor.shape))
    return model.eval()


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two clips of 70 frames x 80 mel bins; the second has 45 real frames."""
    values = torch.randn(2, 70, 80, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 70, dtype=torch.long)
    mask[1, 45:] = 0
    return values, mask


def test_every_arm_of_the_fixture_is_registered():
    assert set(FIXTURE) <= set(ARMS)


@pytest.mark.parametrize("arm", list(FIXTURE))
def test_an_arm_keeps_its_parameter_names_and_its_computation(arm):
    expected = FIXTURE[arm]
    config = arm_config(arm, num_labels=3)
    values, mask = inputs()
    encoder = deterministic_weights(build_model(arm, AaSPModel, config))
    assert {name: list(tensor.shape) for name, tensor in encoder.state_dict().items()} == expected[
        "encoder_state_dict"
    ]
    classifier = deterministic_weights(build_model(arm, AaSPForAudioClassification, config))
    head = {name: list(t.shape) for name, t in classifier.state_dict().items() if name.startswith("classifier.")}
    assert head == expected["classifier_head"]
    pretraining = deterministic_weights(build_model(arm, AaSPForPreTraining, config))
    noise = torch.rand(
        2, config.num_mask_clones, 2, config.patch_grid(70).num_patches, generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        hidden = encoder(values, attention_mask=mask).last_hidden_state
        logits = classifier(values, attention_mask=mask).logits
        outputs = pretraining(values, attention_mask=mask, noise=noise, output_hidden_states=True)
    torch.testing.assert_close(
        hidden[0, :3, :4], torch.tensor(expected["last_hidden_state[0, :3, :4]"]), atol=1e-4, rtol=0
    )
    assert hidden.double().sum().item() == pytest.approx(expected["last_hidden_state sum"], abs=1e-3)
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), atol=1e-4, rtol=0)
    assert outputs.hidden_states[0].double().sum().item() == pytest.approx(
        expected["student hidden_states[0] sum"], abs=1e-3
    )
    for name, value in expected["pretraining losses"].items():
        assert getattr(outputs, name).item() == pytest.approx(value, abs=1e-4)


@pytest.mark.parametrize("model_class", [AaSPModel, AaSPForAudioClassification, AaSPForPreTraining])
def test_the_default_arm_is_the_package_model_bit_for_bit(model_class):
    assert arm_class("default", model_class) is model_class
    config = AaSPConfig.tiny(num_labels=3)
    torch.manual_seed(0)
    package = model_class(config)
    torch.manual_seed(0)
    arm = build_model("default", model_class, arm_config("default", num_labels=3))
    assert type(arm) is model_class
    assert package.state_dict().keys() == arm.state_dict().keys()
    assert all(torch.equal(package.state_dict()[name], tensor) for name, tensor in arm.state_dict().items())


def test_an_arm_trains_one_pretraining_step():
    config = arm_config("all_options_h4")
    model = build_model("all_options_h4", AaSPForPreTraining, config).train()
    values, mask = inputs()
    outputs = model(values, attention_mask=mask, mask_generator=torch.Generator().manual_seed(0))
    outputs.loss.backward()
    gate = model.aasp.embeddings.patch_embeddings.gated_fusion.gate
    assert torch.isfinite(outputs.loss) and gate.grad is not None and gate.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert torch.equal(model.teacher.embeddings.patch_embeddings.gated_fusion.gate, gate.detach())


def test_a_saved_arm_is_refused_by_the_package_and_reloaded_by_research(tmp_path):
    torch.manual_seed(0)
    model = build_model("aape", AaSPModel, arm_config("aape")).eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["ablation_arm"] == "aape"
    with pytest.raises(ValueError, match=r"saved by the research arm .aape.*research\.ablations\.from_pretrained"):
        AaSPModel.from_pretrained(tmp_path)
    loaded = from_pretrained(AaSPModel, tmp_path).eval()
    assert type(loaded) is arm_class("aape", AaSPModel)
    values, mask = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(values, mask).last_hidden_state, model(values, mask).last_hidden_state)
    # the encoder of an arm that changes only pre-training is the package's encoder, saved without a mark
    plain_v1 = build_model("plain_v1", AaSPModel, arm_config("plain_v1"))
    assert type(plain_v1) is AaSPModel and not hasattr(plain_v1.config, "ablation_arm")


def test_a_normal_initialised_fusion_reads_the_aliasing_features_from_the_start():
    hidden_size = 64
    package = AaSPModel(AaSPConfig.tiny()).embeddings.patch_embeddings.fusion.weight
    arm = build_model("fusion_normal_init", AaSPModel, arm_config("fusion_normal_init"))
    fusion = arm.embeddings.patch_embeddings.fusion.weight
    assert torch.count_nonzero(package[:, hidden_size:]) == 0
    assert torch.count_nonzero(fusion[:, hidden_size:]) == fusion[:, hidden_size:].numel()
    assert fusion.std().item() == pytest.approx(0.02, rel=0.1)  # initializer_range


def test_an_arm_built_with_a_config_missing_its_fields_is_refused():
    with pytest.raises(ValueError, match=r"Arm 'aape_flatten' needs .*'alias_features': 'projection'"):
        build_model("aape_flatten", AaSPModel, AaSPConfig.tiny())


def test_gated_fusion_trains_the_lambda_encoder_from_the_first_step():
    """The gated residual gives the Lambda Encoder's zero-initialised head a gradient at initialisation."""
    model = build_model("all_options_h4", AaSPModel, arm_config("all_options_h4"))
    model(torch.randn(2, 64, 80)).last_hidden_state.pow(2).mean().backward()
    patch_embeddings = model.embeddings.patch_embeddings
    assert patch_embeddings.lambda_encoder.head.weight.grad.abs().sum() > 0
    assert patch_embeddings.gated_fusion.gate.grad.abs().sum() > 0


def test_gated_fusion_with_a_closed_gate_is_exactly_the_plain_stem_and_keeps_patch_level():
    aape = build_model("all_options_h4", AaSPModel, arm_config("all_options_h4")).eval()
    plain = AaSPModel(AaSPConfig.tiny(use_aape=False)).eval()
    plain.load_state_dict(aape.state_dict(), strict=False)
    with torch.no_grad():
        aape.embeddings.patch_embeddings.gated_fusion.gate.zero_()
    spectrogram = torch.randn(2, 64, 80)
    lengths = torch.full((2,), 64)
    tokens = aape.embeddings.patch_embeddings(spectrogram, lengths)
    torch.testing.assert_close(tokens, plain.embeddings.patch_embeddings(spectrogram, lengths), rtol=0, atol=0)
    # the plain stem is linear: the token of a patch at twice the level moves (concat fusion's LN(X_std) would not)
    projection = aape.embeddings.patch_embeddings.projection
    doubled = aape.embeddings.patch_embeddings(2 * spectrogram, lengths)
    torch.testing.assert_close(doubled - projection.bias, 2 * (tokens - projection.bias), rtol=1e-5, atol=1e-5)


def test_bernoulli_masks_partition_the_valid_patches_but_scatter_them():
    """The first masking procedure keeps n_keep patches like the package's, in fewer, looser blocks: measured on 256
    views of the 5 x 38 grid, 0.67 of visible patches have a visible time neighbour over 18 time columns (the
    package's procedure: 0.89 over 10)."""
    patch_valid = torch.ones(256, 5 * 38, dtype=torch.bool)
    patch_valid[128:, 5 * 20 :] = False
    selection = bernoulli_block_mask(patch_valid, 5, 0.8, 5, generator=torch.Generator().manual_seed(3))
    n_keep = torch.round(0.2 * patch_valid.sum(1).float()).long()
    assert selection.visible_valid.sum(1).tolist() == n_keep.tolist()
    assert torch.equal(selection.visible_grid | (patch_valid & ~selection.visible_grid), patch_valid)
    grid = selection.visible_grid[:128].reshape(-1, 5, 38).float()
    neighbours = F.pad(grid[..., 1:], (0, 1)) + F.pad(grid[..., :-1], (1, 0))
    assert (((neighbours > 0) & (grid > 0)).sum() / grid.sum()).item() < 0.75
    assert (grid.sum(1) > 0).sum(1).float().mean().item() > 15


def test_hide_masked_patches_zeroes_exactly_the_hidden_patches():
    spectrogram = torch.randn(1, 32, 80) + 5.0
    visible_grid = torch.zeros(1, 10, dtype=torch.bool)
    visible_grid[0, 3] = True  # row 1 (bins 16-31), column 1 (frames 16-31)
    hidden = hide_masked_patches(spectrogram, visible_grid, AaSPConfig.tiny())
    expected = torch.zeros_like(spectrogram)
    expected[0, 16:32, 16:32] = spectrogram[0, 16:32, 16:32]
    assert torch.equal(hidden, expected)


def test_ffn_targets_are_the_normalised_average_of_the_ffn_outputs():
    torch.manual_seed(0)
    model = build_model("plain_ffn", AaSPForPreTraining, arm_config("plain_ffn")).eval()
    spectrogram = torch.randn(2, 64, 80)
    captured = []
    for layer in model.teacher.layers:
        layer.mlp.register_forward_hook(lambda module, args, output: captured.append(output[:, 1:]))
    targets, _, _ = model.teacher_targets(spectrogram, None)
    normalised = [F.instance_norm(out.transpose(1, 2), eps=1e-5).transpose(1, 2) for out in captured]
    torch.testing.assert_close(targets, F.layer_norm(sum(normalised) / 4, (64,)), rtol=1e-4, atol=1e-4)
    package = AaSPForPreTraining(AaSPConfig.tiny(use_aape=False)).eval()
    package.load_state_dict(model.state_dict())
    assert (package.teacher_targets(spectrogram, None)[0] - targets).abs().mean() > 0.1
