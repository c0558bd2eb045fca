"""AaSPConfig, AaSPModel and AaSPForAudioClassification under the checks transformers applies to in-tree models."""

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from transformers_aasp import AaSPConfig, AaSPForAudioClassification, AaSPForPreTraining, AaSPModel
from transformers_aasp.modeling_aasp import AaSPPatchFusion, masked_mean


BATCH, FRAMES, BINS = 3, 100, 80


def tiny(**overrides):
    return AaSPConfig.tiny(**overrides)


def alias_mixed_in(model):
    """`model` with its Patch Fusion reading the aliasing features (their weights start at zero), so that the AaPE
    branch (high-pass and SBLU across patch edges) really counts in the outputs."""
    for module in model.modules():
        if isinstance(module, AaSPPatchFusion):
            torch.nn.init.normal_(module.weight, std=0.02)
    return model


def expected_grid(frames, config):
    """Patch grid from the geometry formula: frames are padded up to a multiple of the time patch size."""
    grid_t = -(-frames // config.time_patch_size)
    return config.num_mel_bins // config.frequency_patch_size, grid_t


@pytest.fixture
def inputs():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(BATCH, FRAMES, BINS, generator=generator)
    mask = torch.ones(BATCH, FRAMES, dtype=torch.long)
    mask[1, 70:] = 0
    mask[2, 33:] = 0
    return values, mask


# ----- configuration -----


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            dict(hidden_size=96, num_attention_heads=5),
            r"hidden_size \(96\) is not divisible by num_attention_heads \(5\)",
        ),
        (dict(num_mel_bins=81), r"num_mel_bins \(81\) is not divisible by frequency_patch_size \(16\)"),
        (dict(num_subbands=3), r"frequency_patch_size \(16\) is not divisible by num_subbands \(3\)"),
        (dict(alias_features="flatten"), "alias_features must be one of"),
        (dict(classifier_pooling="max"), "classifier_pooling must be one of"),
        (
            dict(classifier_shift_views=0),
            r"classifier_shift_views must be an integer from 1 to time_patch_size \(16\)",
        ),
        (dict(classifier_shift_views=17), r"classifier_shift_views must be an integer from 1 to time_patch_size"),
        (dict(mask_ratio=1.0), r"mask_ratio must be in \(0, 1\)"),
        (dict(ema_decay_start=0.9999, ema_decay_end=0.999), "EMA decays must satisfy"),
    ],
)
def test_invalid_config_raises_at_construction(overrides, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        tiny(**overrides)


def test_config_field_types_are_enforced():
    with pytest.raises(StrictDataclassFieldValidationError, match="hidden_size"):
        AaSPConfig(hidden_size="768")


def test_config_round_trip_and_auto_config(tmp_path):
    config = tiny(alias_features="projection", num_labels=4)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AaSPConfig)
    assert loaded.alias_features == "projection" and loaded.num_labels == 4 and loaded.hidden_size == 64
    assert abs(loaded.beta_min - 3.141592653589793 / 16) < 1e-12


# ----- encoder outputs -----


def test_output_shapes_follow_the_patch_grid(inputs):
    values, mask = inputs
    config = tiny()
    model = AaSPModel(config).eval()
    out = model(values, attention_mask=mask)
    grid_f, grid_t = expected_grid(FRAMES, config)
    assert out.last_hidden_state.shape == (BATCH, 1 + grid_f * grid_t, config.hidden_size)
    assert out.pooler_output.shape == (BATCH, config.hidden_size)
    assert out.time_column_features.shape == (BATCH, grid_t, grid_f * config.hidden_size)
    assert out.time_column_attention_mask.tolist() == [[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4]
    torch.testing.assert_close(out.time_column_timestamps, (torch.arange(grid_t) * 16 + 8) / 100.0)
    # time-column features are the patch tokens of each time column, frequency rows concatenated
    torch.testing.assert_close(out.time_column_features[:, 2, :64], out.last_hidden_state[:, 1 + 2])
    torch.testing.assert_close(out.time_column_features[:, 2, 64:128], out.last_hidden_state[:, 1 + grid_t + 2])


def test_bad_input_shapes_raise(inputs):
    values, mask = inputs
    model = AaSPModel(tiny()).eval()
    with pytest.raises(ValueError, match=r"input_values must have shape \(batch, frames, 80\), got \(3, 100, 64\)"):
        model(values[..., :64])
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(batch, frames\) = \(3, 100\)"):
        model(values, attention_mask=mask[:, :50])


def test_hidden_states_and_attentions_with_eager(inputs):
    values, mask = inputs
    config = tiny()
    model = AaSPModel(config).eval()
    model.set_attn_implementation("eager")
    out = model(values, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    tokens = out.last_hidden_state.shape[1]
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    assert all(h.shape == (BATCH, tokens, config.hidden_size) for h in out.hidden_states)
    assert len(out.attentions) == config.num_hidden_layers  # encoder layers only, not the Lambda Encoder
    assert out.attentions[0].shape == (BATCH, config.num_attention_heads, tokens, tokens)
    # padded patches receive no attention
    grid_t = 7
    padded_columns = [1 + f * grid_t + t for f in range(5) for t in (5, 6)]
    assert out.attentions[0][1][..., padded_columns].abs().max() == 0


def test_return_dict_false_gives_tuples(inputs):
    values, mask = inputs
    model = AaSPForAudioClassification(tiny(num_labels=3)).eval()
    labels = torch.tensor([0, 1, 2])
    as_tuple = model(values, attention_mask=mask, labels=labels, return_dict=False)
    as_dict = model(values, attention_mask=mask, labels=labels)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    torch.testing.assert_close(as_tuple[0], as_dict.loss)
    torch.testing.assert_close(as_tuple[1], as_dict.logits)


def test_sdpa_and_eager_agree(inputs):
    values, mask = inputs
    model = alias_mixed_in(AaSPModel(tiny())).eval()
    assert model.config._attn_implementation == "sdpa"
    sdpa = model(values, attention_mask=mask).last_hidden_state
    model.set_attn_implementation("eager")
    eager = model(values, attention_mask=mask).last_hidden_state
    # same math, different kernels: float32 rounding only (measured 1e-6)
    torch.testing.assert_close(sdpa, eager, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("use_aape", [True, False])
def test_batch_size_invariance(inputs, use_aape):
    """A clip gives the same output alone (padded only to the patch multiple) and padded inside a batch."""
    values, mask = inputs
    model = alias_mixed_in(AaSPModel(tiny(use_aape=use_aape))).eval()
    batched = model(values, attention_mask=mask)
    for index, length in ((1, 70), (2, 33)):
        alone = model(values[index : index + 1, :length], attention_mask=torch.ones(1, length, dtype=torch.long))
        columns = -(-length // 16)
        torch.testing.assert_close(alone.pooler_output, batched.pooler_output[index : index + 1], rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(
            alone.time_column_features, batched.time_column_features[index : index + 1, :columns], rtol=1e-4, atol=2e-5
        )


def test_any_clip_length_works_with_sincos_positions():
    model = AaSPModel(tiny()).eval()
    for frames in (16, 37, 608, 1500):
        out = model(torch.randn(1, frames, 80))
        assert out.time_column_features.shape[1] == -(-frames // 16)


def test_determinism_in_eval_mode(inputs):
    values, mask = inputs
    model = AaSPModel(tiny(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)).eval()
    first = model(values, attention_mask=mask).last_hidden_state
    second = model(values, attention_mask=mask).last_hidden_state
    assert torch.equal(first, second)


def test_use_aape_false_is_the_plain_vit_stem():
    plain = AaSPModel(tiny(use_aape=False))
    aape = AaSPModel(tiny())
    plain_stem = {n for n, _ in plain.embeddings.patch_embeddings.named_parameters()}
    assert plain_stem == {"projection.weight", "projection.bias"}
    # same encoder either way
    assert {n for n, _ in plain.layers.named_parameters()} == {n for n, _ in aape.layers.named_parameters()}


# ----- save / load -----


def test_save_load_round_trip_gives_identical_outputs(tmp_path, inputs):
    values, mask = inputs
    model = AaSPForAudioClassification(tiny(num_labels=5)).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is AaSPForAudioClassification
    torch.testing.assert_close(loaded(values, mask).logits, model(values, mask).logits, rtol=0, atol=0)
    # the encoder loads from the classifier checkpoint, and vice versa with a new head
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(
        encoder(values, mask).last_hidden_state, model.aasp(values, mask).last_hidden_state, rtol=0, atol=0
    )
    encoder.save_pretrained(tmp_path / "encoder")
    head = AaSPForAudioClassification.from_pretrained(tmp_path / "encoder", num_labels=7)
    assert head.classifier.dense.out_features == 7
    torch.testing.assert_close(head.aasp.embeddings.cls_token, model.aasp.embeddings.cls_token)


def test_checkpoint_carries_code_and_auto_map(tmp_path):
    AaSPForAudioClassification(tiny(num_labels=2)).save_pretrained(tmp_path)
    import json

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoConfig"] == "configuration_aasp.AaSPConfig"
    assert config["auto_map"]["AutoModelForAudioClassification"] == "modeling_aasp.AaSPForAudioClassification"
    assert config["auto_map"]["AutoModel"] == "modeling_aasp.AaSPModel"
    assert (tmp_path / "modeling_aasp.py").exists() and (tmp_path / "configuration_aasp.py").exists()


# ----- training features -----


def test_gradient_checkpointing_gives_same_gradients(inputs):
    values, mask = inputs
    torch.manual_seed(0)
    model = AaSPForAudioClassification(tiny(num_labels=3)).train()
    labels = torch.tensor([0, 1, 2])

    def grads():
        model.zero_grad()
        model(values, mask, labels=labels).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    reference = grads()
    model.activation_checkpointing_enable()
    assert model.aasp.layers[0].gradient_checkpointing
    checkpointed = grads()
    assert reference.keys() == checkpointed.keys()
    for name in reference:
        torch.testing.assert_close(checkpointed[name], reference[name], rtol=1e-4, atol=1e-6)


def test_single_and_multi_label_losses(inputs):
    values, mask = inputs
    single = AaSPForAudioClassification(tiny(num_labels=4)).eval()
    out = single(values, mask, labels=torch.tensor([0, 3, 1]))
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 3, 1])))
    multi = AaSPForAudioClassification(tiny(num_labels=4, problem_type="multi_label_classification")).eval()
    targets = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]])
    out = multi(values, mask, labels=targets)
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, targets))


@pytest.mark.parametrize(
    "pooling, width",
    [("cls", 64), ("mean", 64), ("attention", 64)],
)
def test_pooling_choices_are_padding_aware(inputs, pooling, width):
    values, mask = inputs
    model = alias_mixed_in(AaSPForAudioClassification(tiny(num_labels=2, classifier_pooling=pooling))).eval()
    if pooling == "attention":  # a trained score, not the zero one it starts with (which is the mean)
        torch.nn.init.normal_(model.classifier.attention_pooling.score.weight, std=1.0)
    assert model.classifier.dense.in_features == width
    batched = model(values, mask).logits
    alone = model(values[2:3, :33], torch.ones(1, 33, dtype=torch.long)).logits
    torch.testing.assert_close(alone, batched[2:3], rtol=1e-4, atol=2e-5)


def test_attention_pooling_starts_as_the_mean_and_never_weighs_padding(inputs):
    values, mask = inputs
    model = AaSPForAudioClassification(tiny(num_labels=2, classifier_pooling="attention")).eval()
    outputs = model.aasp(values, attention_mask=mask)
    patches, valid = outputs.last_hidden_state[:, 1:], outputs.patch_attention_mask
    torch.testing.assert_close(model.pool(outputs), masked_mean(patches, valid), rtol=1e-5, atol=1e-6)

    attention = model.classifier.attention_pooling
    torch.nn.init.normal_(attention.score.weight, std=1.0)
    weights = attention.token_weights(patches, valid)  # (B, N)
    assert weights.shape == valid.shape
    assert torch.all(weights[~valid.bool()] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(weights)))
    assert weights[2][valid[2].bool()].std() > 0  # no longer uniform
    torch.testing.assert_close(model.pool(outputs), torch.einsum("bn,bnd->bd", weights, patches))


def test_attention_pooling_of_a_classifier_loaded_from_an_encoder_starts_at_zero(tmp_path):
    AaSPModel(tiny()).save_pretrained(tmp_path)
    model = AaSPForAudioClassification.from_pretrained(tmp_path, num_labels=3, classifier_pooling="attention")
    score = model.classifier.attention_pooling.score
    assert torch.all(score.weight == 0) and torch.all(score.bias == 0)


def test_freeze_helpers():
    model = AaSPForAudioClassification(tiny(num_labels=2))
    model.freeze_feature_encoder()
    assert not any(p.requires_grad for p in model.aasp.embeddings.patch_embeddings.parameters())
    assert all(p.requires_grad for p in model.aasp.layers.parameters())
    model.freeze_base_model()
    assert not any(p.requires_grad for p in model.aasp.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())


def test_torch_compile_forward_matches_eager(inputs):
    values, mask = inputs
    model = AaSPModel(tiny()).eval()
    # aot_eager runs Dynamo graph capture and AOTAutograd like the default backend, without inductor's C++ codegen
    # (which takes minutes on a 2-core CI machine); a graph that captures here compiles with inductor too.
    compiled = torch.compile(model, backend="aot_eager")
    with torch.no_grad():
        expected = model(values, attention_mask=mask).last_hidden_state
        actual = compiled(values, attention_mask=mask).last_hidden_state
    # graph capture may reorder float32 ops: rounding-level differences only
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_torch_export_with_dynamic_batch_and_frames_matches_eager(inputs):
    """transformers' own export tests are not in its sdist (see README), so the model's export is checked here: one
    graph for any batch size and clip length, with the frame mask, gives the eager outputs."""
    values, mask = inputs
    model = alias_mixed_in(AaSPForAudioClassification(tiny(num_labels=3))).eval()
    any_size = {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO}
    exported = torch.export.export(
        model,
        (),
        kwargs={"input_values": values, "attention_mask": mask},
        dynamic_shapes={"input_values": any_size, "attention_mask": any_size},
        strict=False,
    ).module()
    shorter = right_padded_mask([40, 17], frames=48)  # another batch size and clip length, not a multiple of 16
    for batch in ((values, mask), (values[1:3, :48], shorter)):
        with torch.no_grad():
            expected = model(batch[0], attention_mask=batch[1]).logits
        # the exported graph runs the same float32 ops in the same order
        torch.testing.assert_close(exported(input_values=batch[0], attention_mask=batch[1]).logits, expected)


# ----- bad input: a clear error, never a silently wrong output -----


def right_padded_mask(lengths, frames=FRAMES):
    return (torch.arange(frames)[None] < torch.tensor(lengths)[:, None]).long()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.flip(-1), "attention_mask of clip 1 is not right-padded"),  # left padding
        (lambda m: m.index_put_((torch.tensor([2]), torch.tensor([10])), torch.tensor(0)), "clip 2 is not right"),
        (lambda m: m.index_fill_(0, torch.tensor([1]), 0), "gives clip 1 no real frame"),
        (lambda m: m.float() * 0.5, r"only 0 \(padding\) and 1 \(real frame\); clip 0 has 0\.5 at frame 0"),
        (lambda m: m * 2, r"only 0 \(padding\) and 1 \(real frame\); clip 0 has 2 at frame 0"),
        (lambda m: m.float().index_fill_(1, torch.tensor([3]), float("nan")), "clip 0 has nan at frame 3"),
    ],
)
def test_invalid_frame_attention_masks_are_refused(inputs, edit, message):
    values, mask = inputs
    model = AaSPModel(tiny()).eval()
    with pytest.raises(ValueError, match=message):
        model(values, attention_mask=edit(mask.clone()))


def test_bool_and_float_masks_of_zeros_and_ones_are_accepted(inputs):
    values, mask = inputs
    model = AaSPModel(tiny()).eval()
    expected = model(values, attention_mask=mask).last_hidden_state
    for same_mask in (mask.bool(), mask.float(), mask.int()):
        assert torch.equal(model(values, attention_mask=same_mask).last_hidden_state, expected)


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf"), 1e30])
def test_padding_content_never_reaches_the_outputs(inputs, poison):
    """Padded frames are replaced by zeros before any use: NaN, Inf or huge values in them change nothing."""
    values, mask = inputs
    model = alias_mixed_in(AaSPForAudioClassification(tiny(num_labels=3))).eval()
    clean = values.masked_fill(mask[..., None] == 0, 0.0)
    poisoned = values.masked_fill(mask[..., None] == 0, poison)
    expected = model(clean, attention_mask=mask, output_hidden_states=True)
    actual = model(poisoned, attention_mask=mask, output_hidden_states=True)
    assert torch.equal(actual.logits, expected.logits)
    for state, reference in zip(actual.hidden_states, expected.hidden_states, strict=True):
        assert torch.equal(state, reference)


def test_non_finite_values_in_real_frames_are_refused(inputs):
    values, mask = inputs
    model = AaSPModel(tiny()).eval()
    values = values.clone()
    values[2, 5, 7] = float("nan")  # clip 2 is real up to frame 33
    with pytest.raises(ValueError, match="input_values of clip 2 holds NaN or Inf in its real"):
        model(values, attention_mask=mask)
    values[2, 5, 7] = 0.0
    values[0, 99, 0] = float("inf")
    with pytest.raises(ValueError, match="input_values of clip 0 holds NaN or Inf"):
        model(values)  # no mask: every frame is real


@pytest.mark.parametrize(
    "shape, message",
    [((0, 100, 80), "an empty batch"), ((2, 0, 80), "clips of zero frames")],
)
def test_empty_inputs_give_a_clear_error(shape, message):
    model = AaSPModel(tiny()).eval()
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


def test_integer_input_values_are_refused():
    with pytest.raises(TypeError, match=r"floating-point log-mel values, got dtype torch\.int64"):
        AaSPModel(tiny()).eval()(torch.zeros(1, 32, 80, dtype=torch.long))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_are_cast_to_the_model_dtype(inputs, dtype):
    """An fp32 model takes fp16 / bf16 / fp64 frames: they are cast, so the output is the fp32 output of the same
    (rounded) values, exactly."""
    values, mask = inputs
    model = AaSPForAudioClassification(tiny(num_labels=3)).eval()
    cast = values.to(dtype)
    logits = model(cast, attention_mask=mask).logits
    assert logits.dtype == torch.float32
    assert torch.equal(logits, model(cast.float(), attention_mask=mask).logits)


# ----- the checks of transformers' common model tests, for the three model classes -----

MODEL_CLASSES = [AaSPModel, AaSPForAudioClassification, AaSPForPreTraining]


def common_inputs(model_class, config, batch=2, frames=48, seed=0):
    """Inputs for `model_class`; the pre-training model gets explicit mask `noise`, which makes it deterministic."""
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "input_values": torch.randn(batch, frames, config.num_mel_bins, generator=generator),
        "attention_mask": (torch.arange(frames)[None] < torch.tensor([frames, 30])[:, None]).long(),
    }
    if model_class is AaSPForAudioClassification:
        inputs["labels"] = torch.tensor([0, 1])
    if model_class is AaSPForPreTraining:
        num_patches = config.patch_grid(frames).num_patches
        inputs["noise"] = torch.rand(batch, config.num_mask_clones, 2, num_patches, generator=generator)
    return inputs


def flatten_outputs(output):
    if isinstance(output, (tuple, list)):
        return [tensor for item in output for tensor in flatten_outputs(item)]
    return [output]


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_tuple_and_dict_outputs_are_identical_and_hold_no_bool_tensor(model_class):
    """transformers' output-equivalence test subtracts the tuple from the dict output: no bool may appear."""
    torch.manual_seed(0)
    config = tiny(num_labels=2)
    model = model_class(config).eval()
    model.set_attn_implementation("eager")
    inputs = common_inputs(model_class, config)
    for extra in ({}, {"output_hidden_states": True}, {"output_attentions": True}):
        as_dict = model(**inputs, **extra)
        as_tuple = model(**inputs, **extra, return_dict=False)
        dict_tensors, tuple_tensors = flatten_outputs(as_dict.to_tuple()), flatten_outputs(as_tuple)
        assert len(dict_tensors) == len(tuple_tensors)
        for from_dict, from_tuple in zip(dict_tensors, tuple_tensors, strict=True):
            assert from_dict.dtype != torch.bool
            assert (from_dict - from_tuple).abs().max() == 0


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_hidden_states_and_attentions_of_every_class_keep_their_gradients(model_class):
    config = tiny(num_labels=2)
    model = model_class(config).train()
    model.set_attn_implementation("eager")
    inputs = common_inputs(model_class, config)
    outputs = model(**inputs, output_hidden_states=True, output_attentions=True)
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    assert len(outputs.attentions) == config.num_hidden_layers
    tokens = outputs.hidden_states[0].shape[1]
    assert outputs.hidden_states[0].shape[-1] == config.hidden_size
    assert outputs.attentions[0].shape[1:] == (config.num_attention_heads, tokens, tokens)
    if model_class is AaSPForPreTraining:
        # the student's masked views: batch * clones views of 1 + K tokens, K = round(0.2 * valid patches)
        assert outputs.hidden_states[0].shape[0] == 2 * config.num_mask_clones
        assert tokens == 1 + round((1 - config.mask_ratio) * config.patch_grid(48).num_patches)
    else:
        assert tokens == 1 + config.patch_grid(48).num_patches
    outputs.hidden_states[0].retain_grad()
    outputs.attentions[0].retain_grad()
    outputs[0].flatten()[0].backward()
    assert outputs.hidden_states[0].grad is not None and outputs.attentions[0].grad is not None


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_every_class_is_deterministic_in_eval_and_survives_save_and_load(model_class, tmp_path):
    torch.manual_seed(0)
    config = tiny(num_labels=2, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    model = model_class(config).eval()
    inputs = common_inputs(model_class, config)
    first = model(**inputs)[0]
    assert torch.equal(model(**inputs)[0], first)
    model.save_pretrained(tmp_path)
    reloaded = model_class.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded(**inputs)[0], first)
