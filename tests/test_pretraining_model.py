"""AaSPForPreTraining: masking, no leakage through AaPE, EMA teacher, losses, and export to encoder checkpoints."""

import math

import pytest
import torch

from transformers_aasp import AaSPConfig, AaSPForAudioClassification, AaSPForPreTraining, AaSPModel
from transformers_aasp.modeling_aasp import (
    PRETRAINING_LOSS_TERMS,
    PRETRAINING_MONITORING_TERMS,
    AaSPAliasingFeatures,
    AaSPPatchFusion,
    inverse_block_mask,
    multi_positive_info_nce,
)


def tiny(**overrides):
    return AaSPConfig.tiny(**overrides)


def make_selection(patch_valid, seed=0, ratio=0.8, block=5, mask=inverse_block_mask):
    return mask(patch_valid, 5, ratio, block, generator=torch.Generator().manual_seed(seed))


def alias_mixed_in(model):
    """`model` with its Patch Fusion reading the aliasing features (their weights start at zero), so that AaPE's wide
    receptive fields really reach the tokens."""
    for module in model.modules():
        if isinstance(module, AaSPPatchFusion):
            torch.nn.init.normal_(module.weight, std=0.02)
    return model


def assert_partition(selection, patch_valid, ratio=0.8):
    """The selection's visible and masked patches split each view's valid patches, n_keep of them visible."""
    n_valid = patch_valid.sum(1)
    n_keep = torch.round((1 - ratio) * n_valid.float()).long()
    assert selection.visible_valid.sum(1).tolist() == n_keep.tolist()
    assert selection.masked_valid.sum(1).tolist() == (n_valid - n_keep).tolist()
    for row in range(len(patch_valid)):
        visible = set(selection.visible[row][selection.visible_valid[row]].tolist())
        masked = set(selection.masked[row][selection.masked_valid[row]].tolist())
        valid = set(torch.nonzero(patch_valid[row]).flatten().tolist())
        assert visible.isdisjoint(masked) and visible | masked == valid
        assert selection.visible_grid[row].nonzero().flatten().tolist() == sorted(visible)


def test_inverse_block_mask_partitions_the_valid_patches():
    grid_t = 38
    patch_valid = torch.ones(6, 5 * grid_t, dtype=torch.bool)
    patch_valid[3:, 5 * 20 :] = False  # not the right shape of padding, but any invalid set must be respected
    assert_partition(make_selection(patch_valid), patch_valid)


def block_statistics(visible_grid: torch.Tensor, grid_t: int) -> tuple[float, float]:
    """(fraction of visible patches with a visible time neighbour, mean number of time columns holding a visible
    patch) on a (V, 5 * grid_t) visible grid."""
    grid = visible_grid.reshape(-1, 5, grid_t).float()
    neighbours = torch.nn.functional.pad(grid[..., 1:], (0, 1)) + torch.nn.functional.pad(grid[..., :-1], (1, 0))
    with_neighbour = ((neighbours > 0) & (grid > 0)).sum() / grid.sum()
    columns = (grid.sum(1) > 0).sum(1).float().mean()
    return with_neighbour.item(), columns.item()


def test_fixed_count_masking_keeps_visible_patches_in_compact_blocks():
    """data2vec 2.0 / EAT procedure on the 5 x 38 grid of a 6 s crop: 38 visible patches from 2 whole 5 x 5 blocks,
    trimmed: most visible patches have a visible time neighbour, and they occupy few time columns."""
    patch_valid = torch.ones(256, 5 * 38, dtype=torch.bool)
    with_neighbour, columns = block_statistics(make_selection(patch_valid, seed=3).visible_grid, 38)
    assert with_neighbour > 0.85 and columns < 11


@pytest.mark.parametrize("alias_features", ["band_energy", "projection"])
def test_changing_masked_input_leaves_visible_tokens_and_predictor_inputs_unchanged(alias_features):
    """No information from masked patches reaches the student (docs/method.md, pre-training), also through the
    spectral peak that anchors the betas (band-energy features)."""
    torch.manual_seed(0)
    model = alias_mixed_in(AaSPForPreTraining(tiny(alias_features=alias_features))).eval()
    frames = 128
    spectrogram = torch.randn(2, frames, 80)
    lengths = torch.full((2,), frames)
    patch_valid = torch.ones(2, 5 * 8, dtype=torch.bool)
    selection = make_selection(patch_valid, seed=1)
    hidden_region = ~selection.visible_grid.reshape(2, 5, 8)
    noise_mask = hidden_region.repeat_interleave(16, 1).repeat_interleave(16, 2).transpose(1, 2)  # (B, T, F)
    perturbed = spectrogram + 10.0 * torch.randn_like(spectrogram) * noise_mask

    outputs, valid = model.encode_masked_views(spectrogram, lengths, selection)
    tokens = outputs.last_hidden_state
    tokens_perturbed = model.encode_masked_views(perturbed, lengths, selection)[0].last_hidden_state
    visible_tokens = tokens[valid]
    torch.testing.assert_close(tokens_perturbed[valid], visible_tokens, rtol=0, atol=1e-5)
    predictions = model.predictor(tokens, valid, selection.masked, 8)
    predictions_perturbed = model.predictor(tokens_perturbed, valid, selection.masked, 8)
    torch.testing.assert_close(predictions_perturbed, predictions, rtol=0, atol=1e-5)

    # the same perturbation does reach visible tokens if AaPE sees the whole input: restricting AaPE is what
    # prevents leakage through the high-pass and SBLU taps
    leaky, _ = model.aasp.embeddings(spectrogram, lengths, selection.visible, selection.visible_valid)
    leaky_perturbed, _ = model.aasp.embeddings(perturbed, lengths, selection.visible, selection.visible_valid)
    assert (leaky - leaky_perturbed).abs().max() > 1e-3


@pytest.mark.parametrize("alias_features", ["band_energy", "projection"])
def test_visible_alias_features_equal_those_of_their_run_as_a_whole_clip(alias_features):
    """A visible patch's F_alias is what it would be if its run of visible columns were the clip (float error only;
    with band-energy features the spectral peak too is read from the run alone); zeroing the masked patches instead
    leaves large edge artefacts."""
    torch.manual_seed(0)
    config = tiny(alias_features=alias_features)
    features = AaSPAliasingFeatures(config).double()
    if alias_features == "projection":
        torch.nn.init.normal_(features.pointwise_weight, std=0.5)
    grid_t, frames = 10, 160
    spectrogram = torch.randn(1, frames, 80, dtype=torch.float64)
    lengths = torch.tensor([frames])
    visible = torch.zeros(1, 5, grid_t, dtype=torch.bool)
    visible[0, 2, 3:6] = True  # row 2: columns 3-5 visible, the rest of the row masked
    visible[0, 0, :] = True  # row 0 fully visible (its run is the whole clip)
    alpha = torch.full((1, 5 * grid_t, config.num_subbands, config.num_kernels), 0.2, dtype=torch.float64)
    beta = torch.linspace(0.3, 3.0, config.num_kernels, dtype=torch.float64).expand_as(alpha).clone()
    in_view = features(spectrogram, lengths, alpha, beta, visible_grid=visible.reshape(1, -1)).reshape(
        1, 5, grid_t, -1
    )

    run = spectrogram[:, 3 * 16 : 6 * 16]
    as_clip = features(run, torch.tensor([48]), alpha[:, :15], beta[:, :15]).reshape(1, 5, 3, -1)
    torch.testing.assert_close(in_view[0, 2, 3:6], as_clip[0, 2], rtol=1e-9, atol=1e-9)
    whole = features(spectrogram, lengths, alpha, beta).reshape(1, 5, grid_t, -1)
    torch.testing.assert_close(in_view[0, 0], whole[0, 0], rtol=1e-9, atol=1e-9)

    zeroed = spectrogram * visible[:, :, None, :, None].expand(1, 5, 16, grid_t, 16).reshape(1, 80, frames).mT
    artefacts = features(zeroed, lengths, alpha, beta).reshape(1, 5, grid_t, -1)[0, 2, 3:6]
    assert (artefacts - as_clip[0, 2]).abs().max() > 0.1


def test_pretraining_accepts_crops_that_are_not_a_multiple_of_the_patch_with_padding():
    """600 frames (not a multiple of 16) and a padded clip: the teacher sees the padded frame mask."""
    torch.manual_seed(0)
    mask = torch.ones(2, 600, dtype=torch.long)
    mask[1, 350:] = 0
    out = AaSPForPreTraining(tiny()).eval()(torch.randn(2, 600, 80), attention_mask=mask)
    assert torch.isfinite(out.loss)


def test_ema_schedule_and_update_arithmetic():
    config = tiny(ema_decay_start=0.9, ema_decay_end=0.99, ema_anneal_steps=100)
    model = AaSPForPreTraining(config)
    assert model.ema_decay(0) == pytest.approx(0.9)
    assert model.ema_decay(50) == pytest.approx(0.945)
    assert model.ema_decay(100) == pytest.approx(0.99) and model.ema_decay(10**6) == pytest.approx(0.99)
    teacher_before = {n: p.clone() for n, p in model.teacher.named_parameters()}
    with torch.no_grad():
        for p in model.aasp.parameters():
            p.add_(1.0)
    decay = model.update_teacher(50)
    assert decay == pytest.approx(0.945)
    student = dict(model.aasp.named_parameters())
    for name, teacher_param in model.teacher.named_parameters():
        expected = 0.945 * teacher_before[name] + 0.055 * student[name]
        torch.testing.assert_close(teacher_param, expected, rtol=1e-6, atol=1e-6)
        assert not teacher_param.requires_grad


def test_teacher_starts_equal_to_student_and_gets_no_gradient():
    model = AaSPForPreTraining(tiny())
    for (name, t), (_, s) in zip(model.teacher.named_parameters(), model.aasp.named_parameters(), strict=True):
        assert torch.equal(t, s), name
    out = model(torch.randn(2, 96, 80))
    out.loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.aasp.embeddings.patch_embeddings.fusion.weight.grad is not None
    assert model.predictor.mask_token.grad is not None


def test_forward_returns_finite_loss_terms_that_add_up():
    torch.manual_seed(0)
    config = tiny()
    model = AaSPForPreTraining(config)
    mask = torch.ones(3, 160, dtype=torch.long)
    mask[2, 100:] = 0
    out = model(torch.randn(3, 160, 80), attention_mask=mask)
    for name in (*PRETRAINING_LOSS_TERMS, *PRETRAINING_MONITORING_TERMS):
        assert torch.isfinite(out[name]) and out[name].dim() == 0, name
    expected = (
        out.masked_patch_loss
        + config.global_loss_weight * out.global_loss
        + config.contrastive_loss_weight * (out.contrastive_loss)
    )
    torch.testing.assert_close(out.loss.detach(), expected)
    assert 0.0 <= out.contrastive_accuracy <= 1.0
    assert out.target_variance > 0.0 and out.prediction_variance > 0.0


def test_target_variance_alarm_detects_a_collapsed_teacher():
    """The alarm is computed before normalisation: a teacher whose layers output a constant gives variance 0."""
    spectrogram = torch.randn(2, 64, 80)
    _, _, healthy = AaSPForPreTraining(tiny()).teacher_targets(spectrogram, None)
    collapsed_model = AaSPForPreTraining(tiny())
    # registered before the first forward, so they run before transformers' output-capturing hooks
    for layer in collapsed_model.teacher.layers:
        layer.register_forward_hook(lambda module, args, output: torch.ones_like(output))
    collapsed_targets, _, collapsed = collapsed_model.teacher_targets(spectrogram, None)
    assert healthy > 0.01
    assert collapsed < 1e-10
    # the normalised targets would not have raised the alarm: they stay finite and tell nothing
    assert torch.isfinite(collapsed_targets).all()


def test_info_nce_on_a_hand_computed_case():
    # two clips, two clones each; clones identical, clips orthogonal
    embeddings = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    loss, accuracy = multi_positive_info_nce(embeddings, torch.tensor([0, 0, 1, 1]), temperature=0.5)
    # each anchor: positive logit 2, two negatives with logit 0 -> -log(e^2 / (e^2 + 2))
    assert loss.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 2)), rel=1e-6)
    assert accuracy.item() == 1.0


def test_a_few_steps_lower_the_losses_on_a_fixed_batch():
    """With the teacher held fixed the targets are stationary, so the student and predictor must fit them."""
    torch.manual_seed(0)
    model = AaSPForPreTraining(tiny(num_mask_clones=2))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    batch = torch.randn(4, 64, 80)
    frame, global_ = [], []
    for step in range(16):
        torch.manual_seed(step)  # same masks for every run of this test
        out = model(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        frame.append(out.masked_patch_loss.item())
        global_.append(out.global_loss.item())
    # measured: frame loss 1.00 -> 0.89 and global loss 0.022 -> 0.003 over 16 steps
    assert sum(frame[-3:]) < 0.93 * sum(frame[:3])
    assert sum(global_[-3:]) < 0.5 * sum(global_[:3])


def test_save_pretrained_loads_as_encoder_and_classifier_without_missing_weights(tmp_path):
    torch.manual_seed(0)
    model = AaSPForPreTraining(tiny())
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.5)  # make teacher and student distinguishable
    model.save_pretrained(tmp_path / "pretraining")
    encoder, info = AaSPModel.from_pretrained(tmp_path / "pretraining", output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    for (name, loaded), (_, student) in zip(encoder.named_parameters(), model.aasp.named_parameters(), strict=True):
        assert torch.equal(loaded, student), name
    _, info = AaSPForAudioClassification.from_pretrained(
        tmp_path / "pretraining", num_labels=3, output_loading_info=True
    )
    assert {k for k in info["missing_keys"] if not k.startswith("classifier.")} == set()
    reloaded = AaSPForPreTraining.from_pretrained(tmp_path / "pretraining")
    for (name, loaded), (_, teacher) in zip(
        reloaded.teacher.named_parameters(), model.teacher.named_parameters(), strict=True
    ):
        assert torch.equal(loaded, teacher), name

    model.export_encoder(tmp_path / "teacher", weights="teacher")
    exported = AaSPModel.from_pretrained(tmp_path / "teacher")
    assert torch.equal(exported.embeddings.cls_token, model.teacher.embeddings.cls_token)
    with pytest.raises(ValueError, match=r"weights must be one of \('student', 'teacher'\), got 'ema'"):
        model.export_encoder(tmp_path / "x", weights="ema")


def test_noise_input_decides_the_masks():
    """Explicit noise (as ViTMAE's `noise`) makes the pre-training forward a function of its inputs; other noise
    gives other masks, hence another loss; the generator path stays the default."""
    torch.manual_seed(0)
    config = tiny()
    model = AaSPForPreTraining(config).eval()
    values = torch.randn(2, 64, 80)
    shape = (2, config.num_mask_clones, 2, config.patch_grid(64).num_patches)
    noise = torch.rand(shape)
    first = model(values, noise=noise)
    assert torch.equal(model(values, noise=noise).loss, first.loss)
    assert not torch.equal(model(values, noise=torch.rand(shape)).loss, first.loss)
    with pytest.raises(ValueError, match=r"noise must have shape \(batch, num_mask_clones, 2, num_patches\)"):
        model(values, noise=torch.rand(2, 2, 20))
    # the same noise through inverse_block_mask directly gives the selection the model used
    patch_valid = torch.ones(2 * config.num_mask_clones, 20, dtype=torch.bool)
    selection = inverse_block_mask(
        patch_valid, 5, config.mask_ratio, config.mask_block_size, noise=noise.flatten(0, 1)
    )
    again = inverse_block_mask(patch_valid, 5, config.mask_ratio, config.mask_block_size, noise=noise.flatten(0, 1))
    assert torch.equal(selection.visible_grid, again.visible_grid)
    assert selection.visible_valid.sum(1).tolist() == [4] * 8  # round(0.2 * 20)
