"""AaSPConfig: validation of every field, the patch-grid helper, the extractor check and old configs."""

import json

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig

from transformers_aasp import AaSPConfig, AaSPFeatureExtractor
from transformers_aasp.configuration_aasp import FIRST_WAVE_OPTIONS


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_mel_bins=-80), "num_mel_bins must be positive, got -80"),
        (dict(num_mel_bins=0), "num_mel_bins must be positive, got 0"),
        (dict(time_patch_size=0), "time_patch_size must be positive, got 0"),
        (dict(layer_norm_eps=0.0), "layer_norm_eps must be positive, got 0.0"),
        (dict(layer_norm_eps=-1e-6), "layer_norm_eps must be positive"),
        (dict(hidden_dropout_prob=1.0), r"hidden_dropout_prob must be in \[0, 1\), got 1.0"),
        (dict(attention_probs_dropout_prob=-0.1), r"attention_probs_dropout_prob must be in \[0, 1\), got -0.1"),
        (dict(hidden_dropout_prob=float("nan")), "hidden_dropout_prob must be a finite number, got nan"),
        (dict(frame_rate=float("inf")), "frame_rate must be a finite number, got inf"),
        (dict(initializer_range=-0.02), "initializer_range must be >= 0"),
        (dict(max_time_patches=0), "max_time_patches must be positive, got 0"),
        (dict(lambda_hidden_size=0, lambda_num_heads=1), "lambda_hidden_size must be positive, got 0"),
        (dict(lambda_num_layers=-1), "lambda_num_layers must be >= 0, got -1"),
        (dict(predictor_num_layers=0), "predictor_num_layers must be positive, got 0"),
        (dict(contrastive_projection_size=0), "contrastive_projection_size must be positive, got 0"),
        (dict(global_loss_weight=-1.0), "global_loss_weight must be >= 0, got -1.0"),
        (dict(ema_anneal_steps=-5), "ema_anneal_steps must be >= 0, got -5"),
        (dict(sblu_half_length=-1), "sblu_half_length must be >= 0, got -1"),
        (dict(beta_anchor="argmax"), r"beta_anchor must be one of \('none', 'spectral_peak'\), got 'argmax'"),
        (dict(beta_anchor_spread=0.0), r"beta_anchor_spread must be in \(0, 1\], got 0.0"),
        (dict(beta_anchor_spread=1.5), r"beta_anchor_spread must be in \(0, 1\], got 1.5"),
    ],
)
def test_invalid_values_raise_at_construction(overrides, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        AaSPConfig.tiny(**overrides)


def test_patch_grid_and_time_column_rate():
    config = AaSPConfig()
    assert config.patch_grid(100) == (112, 5, 7, 35)
    assert config.patch_grid(608) == (608, 5, 38, 190)
    grid = config.patch_grid(1)
    assert (grid.padded_frames, grid.frequency_patches, grid.time_patches, grid.num_patches) == (16, 5, 1, 5)
    assert config.time_column_rate == 6.25  # 100 frames/s / 16 frames per column
    assert AaSPConfig(time_patch_size=8, frame_rate=50.0).time_column_rate == 6.25


def test_a_matching_feature_extractor_passes_the_check():
    AaSPConfig().check_feature_extractor(AaSPFeatureExtractor())


@pytest.mark.parametrize(
    "extractor, message",
    [
        (AaSPFeatureExtractor(num_mel_bins=128), "gives 128 mel bins per frame but the model expects num_mel_bins=80"),
        (AaSPFeatureExtractor(hop_length=80), "gives 200 frames per second .* configured with frame_rate=100"),
    ],
)
def test_a_disagreeing_feature_extractor_is_named(extractor, message):
    with pytest.raises(ValueError, match=message):
        AaSPConfig().check_feature_extractor(extractor)


def test_configs_saved_with_the_removed_max_length_still_load(tmp_path):
    config = AaSPConfig.tiny()
    config.save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    saved = json.loads(path.read_text())
    assert "max_length" not in saved
    path.write_text(json.dumps({**saved, "max_length": 608}))
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, AaSPConfig) and loaded.hidden_size == 64
    assert not hasattr(loaded, "max_length")


def test_saved_config_names_the_remote_pipeline_but_the_loaded_one_does_not(tmp_path):
    """config.json tells machines without the package which pipeline to build; with the package imported the
    entry is dropped at load, so `pipeline("audio-classification", model=dir)` needs no trust_remote_code."""
    AaSPConfig.tiny(custom_pipelines={"other-task": {"impl": "x.Y"}}).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["custom_pipelines"]["audio-classification"]["impl"] == "pipeline_aasp.AaSPAudioClassificationPipeline"
    assert saved["custom_pipelines"]["other-task"] == {"impl": "x.Y"}
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert loaded.custom_pipelines == {"other-task": {"impl": "x.Y"}}


def test_a_config_saved_before_the_learning_quality_options_loads_with_the_first_wave_behaviour(tmp_path, caplog):
    """A first-wave config.json has none of the newer option keys; its weights were trained with the first-wave
    behaviour, so loading it must not switch to the current defaults (which change the feature map and its size)."""
    current = AaSPConfig.tiny(num_kernels=4)
    saved = current.to_dict()
    for key in (*FIRST_WAVE_OPTIONS, "alias_energy_eps", "fusion_gate_init", "mask_overlap_adjust"):
        saved.pop(key, None)
    saved["max_length"] = 608  # first-wave configs also carry this removed field
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with caplog.at_level("WARNING"):
        loaded = AaSPConfig.from_pretrained(tmp_path)
    assert {key: getattr(loaded, key) for key in FIRST_WAVE_OPTIONS} == FIRST_WAVE_OPTIONS
    assert loaded.num_alias_features == loaded.num_subbands * loaded.sblu_out_channels * loaded.time_patch_size
    assert "predates the learning-quality options" in caplog.text
    # a config saved now keeps its own values
    current.save_pretrained(tmp_path / "now")
    reloaded = AaSPConfig.from_pretrained(tmp_path / "now")
    assert (reloaded.sblu_features, reloaded.sblu_carrier, reloaded.beta_anchor) == (
        "log_energy_grid",
        "linear",
        "spectral_peak",
    )


def test_a_config_saved_before_the_beta_anchor_became_the_default_loads_without_it(tmp_path, caplog):
    """A config.json saved with the learning-quality options but without `beta_anchor` was trained with beta as the
    Lambda Encoder's estimate: loading it must keep that, and the `sblu_features` it was saved with."""
    saved = AaSPConfig.tiny(sblu_features="log_energy").to_dict()
    for key in ("beta_anchor", "beta_anchor_spread"):
        saved.pop(key)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with caplog.at_level("WARNING"):
        loaded = AaSPConfig.from_pretrained(tmp_path)
    assert (loaded.beta_anchor, loaded.sblu_features) == ("none", "log_energy")
    assert "predates the beta anchor" in caplog.text
