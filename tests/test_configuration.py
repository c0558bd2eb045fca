"""AaSPConfig: validation of every field, the patch-grid helper, the extractor check, the paper preset, and the
options that left the config (accepted at the value the model computes, refused otherwise)."""

import json
import math
import re
from pathlib import Path

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig

from transformers_aasp import AaSPConfig, AaSPFeatureExtractor


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
        (dict(lambda_hidden_size=0, lambda_num_heads=1), "lambda_hidden_size must be positive, got 0"),
        (dict(lambda_num_layers=-1), "lambda_num_layers must be >= 0, got -1"),
        (dict(predictor_num_layers=0), "predictor_num_layers must be positive, got 0"),
        (dict(contrastive_projection_size=0), "contrastive_projection_size must be positive, got 0"),
        (dict(global_loss_weight=-1.0), "global_loss_weight must be >= 0, got -1.0"),
        (dict(ema_anneal_steps=-5), "ema_anneal_steps must be >= 0, got -5"),
        (dict(sblu_half_length=-1), "sblu_half_length must be >= 0, got -1"),
        (
            dict(alias_features="flatten"),
            r"alias_features must be one of \('band_energy', 'projection'\), got 'flatten'",
        ),
        (dict(classifier_pooling="cls+mean"), r"classifier_pooling must be one of \('cls', 'mean', 'attention'\)"),
        (dict(num_mask_clones=0), "num_mask_clones must be positive, got 0"),
        (dict(num_subbands=3), r"frequency_patch_size \(16\) is not divisible by num_subbands \(3\)"),
        (dict(lambda_num_heads=3), r"lambda_hidden_size \(32\) is not divisible by lambda_num_heads \(3\)"),
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


def test_saved_config_names_the_remote_pipeline_but_the_loaded_one_does_not(tmp_path):
    """config.json tells machines without the package which pipeline to build; with the package imported the
    entry is dropped at load, so `pipeline("audio-classification", model=dir)` needs no trust_remote_code."""
    AaSPConfig.tiny(custom_pipelines={"other-task": {"impl": "x.Y"}}).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["custom_pipelines"]["audio-classification"]["impl"] == "pipeline_aasp.AaSPAudioClassificationPipeline"
    assert saved["custom_pipelines"]["other-task"] == {"impl": "x.Y"}
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert loaded.custom_pipelines == {"other-task": {"impl": "x.Y"}}


OLD_CONFIG = Path(__file__).parent / "fixtures" / "config_403e61a_tiny.json"


def test_a_config_saved_with_the_removed_options_at_their_values_loads_as_the_same_config(tmp_path, caplog):
    """tests/fixtures/config_403e61a_tiny.json is `AaSPConfig.tiny()` as saved before the variants left the config (61
    fields): every removed option holds the value the model computes, so it loads, silently, as `tiny()`."""
    saved = json.loads(OLD_CONFIG.read_text())
    assert {"beta_anchor", "sblu_features", "target_type", "num_target_layers", "beta_min"} <= saved.keys()
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with caplog.at_level("WARNING"):
        loaded = AaSPConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == AaSPConfig.tiny().to_dict()
    assert caplog.text == ""


@pytest.mark.parametrize(
    "option, value, computed",
    [
        ("beta_anchor", "none", "'spectral_peak'"),
        ("sblu_features", "log_energy", "'log_energy_grid'"),
        ("fusion_type", "gated_residual", "'concat'"),
        ("mask_seed_mode", "bernoulli", "'fixed_count'"),
        ("target_type", "ffn_output", "'block_output'"),
        ("position_embedding_type", "learned", "'sincos'"),
        ("num_target_layers", 2, "4"),
        ("beta_min", 0.5, str(math.pi / 16)),
    ],
)
def test_a_removed_option_with_another_value_is_refused_by_name(tmp_path, option, value, computed):
    message = rf"{option}={value!r} is not an option of AaSPConfig: the model always uses {re.escape(computed)}"
    message += ".*research/ablations"
    with pytest.raises(ValueError, match=message):
        AaSPConfig.tiny(**{option: value})
    saved = json.loads(OLD_CONFIG.read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, option: value}))
    with pytest.raises(ValueError, match=message):
        AaSPConfig.from_pretrained(tmp_path)


def test_the_paper_preset_selects_the_papers_aliasing_features():
    paper = AaSPConfig.paper()
    assert paper.alias_features == "projection" and AaSPConfig().alias_features == "band_energy"
    assert paper.to_dict() == {**AaSPConfig().to_dict(), "alias_features": "projection"}
    assert AaSPConfig.paper(hidden_size=64, num_attention_heads=4).hidden_size == 64
    # S * H' * p_t features: 4 subbands x 8 projected channels x 16 frames
    assert (paper.num_alias_features, AaSPConfig().num_alias_features) == (4 * 8 * 16, 4 * 8)


def test_an_old_config_of_the_papers_path_loads_only_with_the_paper_preset(tmp_path):
    """The paper's path was three options (no anchor, the "abs" carrier, flattened projections); with
    alias_features="projection" they are what the model computes, without it they are refused with the preset named."""
    paper_path = {"beta_anchor": "none", "sblu_carrier": "abs", "sblu_features": "flatten"}
    assert AaSPConfig.tiny(alias_features="projection", **paper_path).alias_features == "projection"
    saved = json.loads(OLD_CONFIG.read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, **paper_path}))
    with pytest.raises(ValueError, match=r"beta_anchor='none' .* the paper's path is AaSPConfig\.paper\(\)"):
        AaSPConfig.from_pretrained(tmp_path)
