# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The card a fine-tuning run writes describes the model that was fine-tuned."""

import hub_layouts
import pytest
from example_scripts import QUICK_FINETUNE_OPTIONS, load_example
from huggingface_hub import metadata_load


@pytest.mark.integration
def test_fine_tuning_an_ast_checkpoint_writes_an_ast_card(tmp_path):
    esc50 = hub_layouts.build_esc50(tmp_path / "hub")
    ast = hub_layouts.save_tiny_ast_checkpoint(tmp_path / "ast")
    output = tmp_path / "run"
    load_example("finetune").main(
        [
            *("--model_name_or_path", str(ast), "--output_dir", str(output)),
            *("--task", "esc50", "--dataset_name", str(esc50), "--fold", "1", *QUICK_FINETUNE_OPTIONS),
        ]
    )
    meta = metadata_load(output / "README.md")
    card = (output / "README.md").read_text()
    assert meta["pipeline_tag"] == "audio-classification"
    assert "audio-spectrogram-transformer" in meta["tags"] and "aasp" not in meta["tags"]
    assert "AaSP" not in card and "arXiv:2512.03637" not in card and "import transformers_aasp" not in card
    assert str(tmp_path) not in card  # the local checkpoint and data are not named by their paths
