# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""What a fine-tuning run uploads to the Hub during training: the checkpoint with the code its auto_map names."""

import json
from concurrent.futures import Future
from pathlib import Path

import hub_layouts
import pytest
from example_scripts import QUICK_FINETUNE_OPTIONS, load_example
from huggingface_hub import HfApi, RepoUrl


CODE_FILES = {"modeling_aasp.py", "configuration_aasp.py", "feature_extraction_aasp.py", "pipeline_aasp.py", "tta.py"}


@pytest.mark.integration
def test_mid_training_pushes_carry_the_code_files(tmp_path, monkeypatch):
    uploads = []

    def create_repo(api, repo_id, **kwargs):
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(api, *, repo_id, folder_path, **kwargs):
        folder = Path(folder_path)
        config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
        files = {path.name for path in folder.iterdir() if path.is_file()}
        uploads.append({"files": files, "auto_map": config.get("auto_map", {})})
        done = Future()  # the Trainer pushes checkpoints with run_as_future=True and waits on the future
        done.set_result(None)
        return done

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    esc50 = hub_layouts.build_esc50(tmp_path / "hub")
    checkpoint = hub_layouts.save_tiny_aasp_checkpoint(tmp_path / "checkpoint")
    load_example("finetune").main(
        [
            *("--model_name_or_path", str(checkpoint), "--output_dir", str(tmp_path / "run")),
            *("--task", "esc50", "--dataset_name", str(esc50), "--fold", "1", *QUICK_FINETUNE_OPTIONS),
            *("--push_to_hub", "--hub_model_id", "org/aasp-esc50", "--hub_strategy", "every_save"),
            *("--save_strategy", "steps", "--save_steps", "1"),
        ]
    )
    assert len(uploads) >= 2  # the checkpoint of step 1 during training, then the final model with its card
    for upload in uploads:
        assert CODE_FILES | {"config.json", "model.safetensors"} <= upload["files"]
        for target in upload["auto_map"].values():
            assert f"{target.split('.')[0]}.py" in upload["files"]
