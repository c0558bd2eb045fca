"""Checkpoints load on a machine without this package, through the code saved next to the weights (auto_map)."""

import json
import os
import textwrap

import numpy as np
import pytest
import torch
from without_package import run_without_package

from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPForAudioClassification, AaSPForPreTraining


NO_PACKAGE_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np, torch
    from transformers import (AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification,
                              AutoModelForPreTraining, pipeline)

    classifier_dir, pretraining_dir = sys.argv[1], sys.argv[2]
    report = {"package_importable": PACKAGE_IMPORTABLE}
    try:
        AutoModel.from_pretrained(classifier_dir, trust_remote_code=False)
    except ValueError as error:
        report["refused_without_trust"] = str(error)
    config = AutoConfig.from_pretrained(classifier_dir, trust_remote_code=True)
    extractor = AutoFeatureExtractor.from_pretrained(classifier_dir, trust_remote_code=True)
    model = AutoModelForAudioClassification.from_pretrained(classifier_dir, trust_remote_code=True).eval()
    encoder = AutoModel.from_pretrained(classifier_dir, trust_remote_code=True).eval()
    pretrained_encoder = AutoModel.from_pretrained(pretraining_dir, trust_remote_code=True).eval()
    pretraining = AutoModelForPreTraining.from_pretrained(pretraining_dir, trust_remote_code=True).eval()
    waveform = np.load(sys.argv[3])
    features = extractor(waveform, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = model(**features).logits
        pooled = encoder(**features).pooler_output
        pretrained_pooled = pretrained_encoder(**features).pooler_output
    report.update(
        config=type(config).__name__, extractor=type(extractor).__name__, model=type(model).__name__,
        encoder=type(encoder).__name__, pretrained_encoder=type(pretrained_encoder).__name__,
        pretraining=type(pretraining).__name__, module=type(model).__module__, logits=logits.tolist(),
        pooled=pooled[0, :8].tolist(), pretrained_pooled=pretrained_pooled[0, :8].tolist(),
    )
    print(json.dumps(report))
    """
)


@pytest.mark.integration
def test_checkpoints_load_with_trust_remote_code_and_without_the_package(tmp_path):
    torch.manual_seed(0)
    config = AaSPConfig.tiny(num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    classifier = AaSPForAudioClassification(config).eval()
    extractor = AaSPFeatureExtractor()
    classifier.save_pretrained(tmp_path / "classifier")
    extractor.save_pretrained(tmp_path / "classifier")
    pretraining = AaSPForPreTraining(AaSPConfig.tiny()).eval()
    pretraining.save_pretrained(tmp_path / "pretraining")
    extractor.save_pretrained(tmp_path / "pretraining")

    waveform = np.sin(np.linspace(0, 2000, 24000)).astype(np.float32) * 0.3
    np.save(tmp_path / "clip.npy", waveform)
    report = run_without_package(
        NO_PACKAGE_SCRIPT,
        [str(tmp_path / "classifier"), str(tmp_path / "pretraining"), str(tmp_path / "clip.npy")],
        tmp_path,
    )

    assert report["package_importable"] is False
    assert "trust_remote_code=True" in report["refused_without_trust"]
    assert (report["config"], report["extractor"], report["model"]) == (
        "AaSPConfig",
        "AaSPFeatureExtractor",
        "AaSPForAudioClassification",
    )
    assert report["encoder"] == "AaSPModel" and report["pretrained_encoder"] == "AaSPModel"
    assert report["pretraining"] == "AaSPForPreTraining"
    assert report["module"].startswith("transformers_modules.")

    features = extractor(waveform, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        expected_logits = classifier(**features).logits
        expected_pooled = classifier.aasp(**features).pooler_output[0, :8]
        expected_pretrained = pretraining.aasp(**features).pooler_output[0, :8]
    # same code, same weights, same CPU: identical up to float32 rounding
    torch.testing.assert_close(torch.tensor(report["logits"]), expected_logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(report["pooled"]), expected_pooled, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(report["pretrained_pooled"]), expected_pretrained, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_class", [AaSPForAudioClassification, AaSPForPreTraining])
def test_every_save_carries_the_pipeline_code_and_entry(tmp_path, model_class):
    """The classifier, the pre-training model and an exported encoder all name the pipeline in config.json and
    carry its file, so any of them serves `pipeline(..., trust_remote_code=True)` once fine-tuned or as is."""
    model = model_class(AaSPConfig.tiny(num_labels=2))
    model.save_pretrained(tmp_path / "saved")
    folders = [tmp_path / "saved"]
    if model_class is AaSPForPreTraining:
        model.export_encoder(tmp_path / "encoder")
        folders.append(tmp_path / "encoder")
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        assert config["custom_pipelines"] == {
            "audio-classification": {
                "impl": "pipeline_aasp.AaSPAudioClassificationPipeline",
                "pt": ["AutoModelForAudioClassification"],
                "type": "audio",
            }
        }
        files = set(os.listdir(folder))
        assert {
            "pipeline_aasp.py",
            "tta.py",
            "feature_extraction_aasp.py",
            "modeling_aasp.py",
            "configuration_aasp.py",
        } <= files


EXPORTED_ENCODER_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np, torch
    from transformers import (AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification,
                              AutoModelForPreTraining)

    final, pretraining_dir, clip = sys.argv[1], sys.argv[2], sys.argv[3]
    config = AutoConfig.from_pretrained(final, trust_remote_code=True)
    extractor = AutoFeatureExtractor.from_pretrained(final, trust_remote_code=True)
    encoder = AutoModel.from_pretrained(final, trust_remote_code=True).eval()
    classifier = AutoModelForAudioClassification.from_pretrained(final, trust_remote_code=True, num_labels=4).eval()
    from_pretraining = AutoModelForAudioClassification.from_pretrained(
        pretraining_dir, trust_remote_code=True, num_labels=4
    ).eval()
    pretraining = AutoModelForPreTraining.from_pretrained(pretraining_dir, trust_remote_code=True)
    features = extractor(np.load(clip), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        pooled = encoder(**features).pooler_output
        classifier_pooled = classifier.aasp(**features).pooler_output
        logits = classifier(**features).logits
        pretraining_pooled = from_pretraining.aasp(**features).pooler_output
    print(json.dumps({
        "package_importable": PACKAGE_IMPORTABLE,
        "classes": [type(x).__name__ for x in (config, extractor, encoder, classifier, from_pretraining, pretraining)],
        "logits_shape": list(logits.shape),
        "pooled": pooled[0].tolist(),
        "classifier_pooled": classifier_pooled[0].tolist(),
        "pretraining_pooled": pretraining_pooled[0].tolist(),
    }))
    """
)


def test_every_checkpoint_maps_the_auto_classes_that_load_it(tmp_path):
    pretraining = AaSPForPreTraining(AaSPConfig.tiny())
    pretraining.save_pretrained(tmp_path / "pretraining")
    pretraining.export_encoder(tmp_path / "final")
    AaSPForAudioClassification(AaSPConfig.tiny(num_labels=2)).save_pretrained(tmp_path / "classifier")
    every_checkpoint = {
        "AutoConfig": "configuration_aasp.AaSPConfig",
        "AutoModel": "modeling_aasp.AaSPModel",
        "AutoModelForAudioClassification": "modeling_aasp.AaSPForAudioClassification",
        "AutoFeatureExtractor": "feature_extraction_aasp.AaSPFeatureExtractor",
    }
    pretraining_only = {"AutoModelForPreTraining": "modeling_aasp.AaSPForPreTraining"}
    for folder, expected in [
        ("final", every_checkpoint),
        ("classifier", every_checkpoint),
        ("pretraining", {**every_checkpoint, **pretraining_only}),
    ]:
        assert json.loads((tmp_path / folder / "config.json").read_text())["auto_map"] == expected, folder


@pytest.mark.integration
def test_an_exported_encoder_fine_tunes_without_the_package(tmp_path):
    """`<output_dir>/final` of a pre-training run (encoder + feature extractor) and a pre-training checkpoint load
    into every Auto class, a new 4-class head included, in a process that cannot import transformers_aasp."""
    torch.manual_seed(0)
    pretraining = AaSPForPreTraining(AaSPConfig.tiny()).eval()
    pretraining.export_encoder(tmp_path / "final")  # what `Pretrainer.export` writes, with the feature extractor
    AaSPFeatureExtractor().save_pretrained(tmp_path / "final")
    pretraining.save_pretrained(tmp_path / "pretraining")
    AaSPFeatureExtractor().save_pretrained(tmp_path / "pretraining")
    waveform = (0.3 * np.sin(np.linspace(0, 3000, 20000))).astype(np.float32)
    np.save(tmp_path / "clip.npy", waveform)

    report = run_without_package(
        EXPORTED_ENCODER_SCRIPT,
        [str(tmp_path / "final"), str(tmp_path / "pretraining"), str(tmp_path / "clip.npy")],
        tmp_path,
    )

    assert report["package_importable"] is False
    assert report["classes"] == [
        "AaSPConfig",
        "AaSPFeatureExtractor",
        "AaSPModel",
        "AaSPForAudioClassification",
        "AaSPForAudioClassification",
        "AaSPForPreTraining",
    ]
    assert report["logits_shape"] == [1, 4]
    features = AaSPFeatureExtractor()(waveform, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        expected = pretraining.aasp(**features).pooler_output[0]
    # the encoder weights reach the new classifier unchanged: same code and CPU, equal up to float32 rounding
    for key in ("pooled", "classifier_pooled", "pretraining_pooled"):
        torch.testing.assert_close(torch.tensor(report[key]), expected, rtol=1e-5, atol=1e-6)
