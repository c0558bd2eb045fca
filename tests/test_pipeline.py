"""`pipeline("audio-classification")` with AaSP checkpoints (AaSPAudioClassificationPipeline)."""

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
from hub_layouts import save_tiny_aasp_classifier
from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification, pipeline
from transformers.pipelines import AudioClassificationPipeline
from without_package import run_without_package

import transformers_aasp  # noqa: F401  (registers the Auto classes and the pipeline)
from transformers_aasp import AaSPFeatureExtractor, AaSPForAudioClassification
from transformers_aasp.pipeline_aasp import AaSPAudioClassificationPipeline, register_pipeline, unregister_pipeline
from transformers_aasp.tta import average_shifted_views


SR = 16000
LABELS = {0: "dog", 1: "rain", 2: "siren"}
# Same samples through the same float32 model: only the order of float32 operations can differ between two
# routes to the model (e.g. a different padded length in the feature extractor), far below 1e-5 on probabilities.
SCORE_ATOL = 1e-5


def noise(num_samples, seed=0, scale=0.1):
    return (np.random.default_rng(seed).standard_normal(num_samples) * scale).astype(np.float32)


def scores(result):
    return {entry["label"]: entry["score"] for entry in result}


def assert_same_scores(result, expected, atol=SCORE_ATOL):
    assert [entry["label"] for entry in result] == [entry["label"] for entry in expected]
    np.testing.assert_allclose([e["score"] for e in result], [e["score"] for e in expected], rtol=0, atol=atol)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_aasp_classifier(tmp_path_factory.mktemp("aasp_classifier"), LABELS)


@pytest.fixture(scope="module")
def classifier(checkpoint):
    return pipeline("audio-classification", model=checkpoint)


@pytest.fixture(scope="module")
def four_view_checkpoint(checkpoint, tmp_path_factory):
    """The `checkpoint` classifier saved again with the inference hint `config.classifier_shift_views = 4`."""
    model = AaSPForAudioClassification.from_pretrained(checkpoint)
    model.config.classifier_shift_views = 4
    directory = tmp_path_factory.mktemp("aasp_four_views")
    model.save_pretrained(directory)
    AaSPFeatureExtractor.from_pretrained(checkpoint).save_pretrained(directory)
    return str(directory)


def shifted_view_scores(checkpoint, clip, num_views) -> dict[str, float]:
    """The probabilities of `average_shifted_views` over `num_views` views, computed without the pipeline."""
    model = AaSPForAudioClassification.from_pretrained(checkpoint).eval()
    features = AaSPFeatureExtractor.from_pretrained(checkpoint)(clip, sampling_rate=SR, return_tensors="pt")
    with torch.no_grad():
        probabilities = average_shifted_views(model, features["input_values"], features["attention_mask"], num_views)
    return {LABELS[i]: p.item() for i, p in enumerate(probabilities.softmax(-1)[0])}


def test_pipeline_factory_builds_the_aasp_pipeline(classifier, checkpoint):
    # the checkpoint names its remote pipeline for machines without the package; with the package imported no
    # trust_remote_code is needed, and the package's own class is used even when remote code is allowed
    assert "audio-classification" in json.loads(Path(checkpoint, "config.json").read_text())["custom_pipelines"]
    assert type(classifier) is AaSPAudioClassificationPipeline
    assert isinstance(classifier.feature_extractor, AaSPFeatureExtractor)
    assert classifier.feature_extractor.mean == -6.0
    trusted = pipeline("audio-classification", model=checkpoint, trust_remote_code=True)
    assert type(trusted) is AaSPAudioClassificationPipeline


@pytest.mark.parametrize(
    "extractor, message",
    [
        (AaSPFeatureExtractor(num_mel_bins=64), "gives 64 mel bins per frame but the model expects num_mel_bins=80"),
        (AaSPFeatureExtractor(hop_length=320), r"gives 50 frames per second \(sampling_rate 16000 / hop_length 320\)"),
    ],
)
def test_a_feature_extractor_that_disagrees_with_the_model_is_refused(checkpoint, extractor, message):
    with pytest.raises(ValueError, match=message):
        pipeline("audio-classification", model=checkpoint, feature_extractor=extractor)


def test_other_models_keep_the_stock_pipeline():
    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_mel_bins=16,
        max_length=24,
        patch_size=4,
        num_labels=2,
    )
    extractor = ASTFeatureExtractor(num_mel_bins=16, max_length=24)
    stock = pipeline("audio-classification", model=ASTForAudioClassification(config), feature_extractor=extractor)
    assert type(stock) is AudioClassificationPipeline


def test_unregister_restores_the_stock_class(checkpoint):
    try:
        unregister_pipeline()
        assert type(pipeline("audio-classification", model=checkpoint)) is AudioClassificationPipeline
    finally:
        register_pipeline()
    assert type(pipeline("audio-classification", model=checkpoint)) is AaSPAudioClassificationPipeline


def test_numpy_input_output_structure_and_scores(classifier, checkpoint):
    clip = noise(16000)
    result = classifier(clip)
    assert [set(entry) for entry in result] == [{"label", "score"}] * 3
    assert {entry["label"] for entry in result} == set(LABELS.values())
    assert [entry["score"] for entry in result] == sorted((entry["score"] for entry in result), reverse=True)
    assert sum(entry["score"] for entry in result) == pytest.approx(1.0, abs=1e-6)  # softmax, float32
    top = classifier(clip, top_k=2)
    assert len(top) == 2 and top == result[:2]

    model = AaSPForAudioClassification.from_pretrained(checkpoint).eval()
    features = AaSPFeatureExtractor.from_pretrained(checkpoint)(clip, sampling_rate=SR, return_tensors="pt")
    with torch.no_grad():
        probabilities = model(**features).logits.softmax(-1)[0]
    expected = {LABELS[i]: p.item() for i, p in enumerate(probabilities)}
    assert scores(result) == pytest.approx(expected, abs=1e-6)  # the very same computation


def test_torch_int16_and_stereo_arrays(classifier):
    clip = noise(12000)
    expected = classifier(clip)
    assert_same_scores(classifier(torch.from_numpy(clip)), expected)
    other = noise(12000, 1)
    mono = (clip + other) / 2
    assert_same_scores(classifier(np.stack([clip, other])), classifier(mono))
    assert_same_scores(classifier(np.stack([clip, other], axis=1)), classifier(mono))
    assert_same_scores(
        classifier({"array": torch.stack([torch.from_numpy(clip), torch.from_numpy(other)]), "sampling_rate": SR}),
        classifier(mono),
    )
    pcm = (clip * 32768).round().astype(np.int16)
    assert_same_scores(classifier(pcm), classifier(pcm.astype(np.float32) / 32768))


def test_44k_input_is_resampled_with_torchaudio(classifier, tmp_path):
    clip_44k = noise(44100, 3)
    resampled = torchaudio.functional.resample(torch.from_numpy(clip_44k), 44100, SR).numpy()
    expected = classifier(resampled)
    assert_same_scores(classifier({"array": clip_44k, "sampling_rate": 44100}), expected)
    assert_same_scores(classifier({"raw": clip_44k, "sampling_rate": 44100}), expected)  # transformers' key
    path = str(tmp_path / "clip_44k.wav")
    sf.write(path, np.stack([clip_44k, clip_44k], axis=1), 44100, subtype="FLOAT")  # stereo, identical channels
    assert_same_scores(classifier(path), expected)


def test_pathlike_paths_are_file_paths(classifier, tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, noise(16000, 6), SR, subtype="FLOAT")
    assert_same_scores(classifier(path), classifier(str(path)))
    assert_same_scores(classifier(path), classifier(noise(16000, 6)))


def test_paths_that_are_not_regular_files_are_refused_before_opening(classifier, tmp_path):
    """A FIFO would block the reader forever; it, a link to it, a directory and a device are refused at once."""
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)
    link = tmp_path / "link.wav"
    link.symlink_to(fifo)
    for path in (fifo, str(link), tmp_path, "/dev/null"):
        with pytest.raises(ValueError, match="is not a regular file"):
            classifier(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.wav' does not exist"):
        classifier(str(tmp_path / "missing.wav"))


@pytest.mark.parametrize("extension, subtype", [("wav", "FLOAT"), ("flac", "PCM_16")])
def test_lossless_files_match_the_array(classifier, tmp_path, extension, subtype):
    clip = (noise(16000) * 32768).round().astype(np.int16).astype(np.float32) / 32768  # exact in 16-bit PCM
    path = str(tmp_path / f"clip.{extension}")
    sf.write(path, clip, SR, subtype=subtype)
    assert_same_scores(classifier(path), classifier(clip))


def test_lossy_files(classifier, tmp_path):
    clip = noise(16000) + 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / SR).astype(np.float32)
    ogg = str(tmp_path / "clip.ogg")
    sf.write(ogg, np.stack([clip, clip], axis=1), 44100, format="OGG", subtype="VORBIS")
    wav = str(tmp_path / "clip.wav")
    sf.write(wav, clip, 22050)
    mp3 = str(tmp_path / "clip.mp3")
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", wav, "-ac", "2", mp3], check=True)
    for path in (ogg, mp3):
        result = classifier(path)
        assert {entry["label"] for entry in result} == set(LABELS.values())
        assert sum(entry["score"] for entry in result) == pytest.approx(1.0, abs=1e-6)


def test_datasets_audio_column_items(classifier, tmp_path):
    from datasets import Audio, Dataset

    mono, stereo = noise(16000), np.stack([noise(20000, 1), noise(20000, 2)], axis=1)
    paths = [str(tmp_path / "mono.wav"), str(tmp_path / "stereo_44k.wav")]
    sf.write(paths[0], mono, SR, subtype="FLOAT")
    sf.write(paths[1], stereo, 44100, subtype="FLOAT")
    dataset = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio())
    assert_same_scores(classifier(dataset[0]["audio"]), classifier(mono))
    expected = classifier({"array": stereo.mean(1), "sampling_rate": 44100})
    assert_same_scores(classifier(dataset[1]["audio"]), expected)
    resampled = Dataset.from_dict({"audio": paths}).cast_column("audio", Audio(sampling_rate=SR))
    result = classifier(resampled[1]["audio"])  # decoded and resampled by datasets (ffmpeg), close but not equal
    assert {entry["label"] for entry in result} == set(LABELS.values())


def test_batch_size_two_matches_one_by_one(classifier):
    clips = [noise(16000), noise(7000, 1), noise(23000, 2)]
    batched = classifier(clips, batch_size=2)
    assert len(batched) == 3
    for clip, result in zip(clips, batched, strict=True):
        # The padded batch is masked frame by frame, so each clip's scores equal its unpadded run.
        assert_same_scores(result, classifier(clip), atol=1e-4)


def test_shift_views_default_to_the_saved_hint_and_a_call_argument_overrides_it(four_view_checkpoint, classifier):
    clip = noise(20000, 9)
    hinted = pipeline("audio-classification", model=four_view_checkpoint)
    assert scores(hinted(clip)) == pytest.approx(shifted_view_scores(four_view_checkpoint, clip, 4), abs=1e-6)
    single = shifted_view_scores(four_view_checkpoint, clip, 1)
    assert scores(hinted(clip, shift_views=1)) == pytest.approx(single, abs=1e-6)
    assert scores(hinted(clip)) != pytest.approx(single, abs=1e-4)  # four views are not the single view
    assert_same_scores(classifier(clip), hinted(clip, shift_views=1))  # same weights, hint 1 by default
    assert_same_scores(classifier(clip, shift_views=4), hinted(clip))
    built_with = pipeline("audio-classification", model=four_view_checkpoint, shift_views=2)
    assert scores(built_with(clip)) == pytest.approx(shifted_view_scores(four_view_checkpoint, clip, 2), abs=1e-6)


def test_shift_views_batched_match_one_by_one(four_view_checkpoint):
    hinted = pipeline("audio-classification", model=four_view_checkpoint)
    clips = [noise(16000), noise(7000, 1), noise(23000, 2)]
    for clip, result in zip(clips, hinted(clips, batch_size=2), strict=True):
        assert_same_scores(result, hinted(clip), atol=1e-4)


@pytest.mark.parametrize("views", [0, 17, 2.5])
def test_a_shift_views_count_the_model_cannot_run_is_refused(classifier, views):
    with pytest.raises(
        ValueError, match=rf"shift_views must be an integer from 1 to time_patch_size \(16\), got {views}"
    ):
        classifier(noise(16000), shift_views=views)


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        ({"audio": np.zeros(16000)}, ValueError, r"A dict input needs an 'array' \(or 'raw'\) key"),
        ({"raw": np.zeros(16000)}, ValueError, r"and a 'sampling_rate' key"),  # a dict always says its rate
        (np.zeros((9, 16000), np.float32), ValueError, "a multi-channel clip may have at most 8 channels"),
        (np.zeros(16000, np.int32), ValueError, "has dtype int32; only int16 PCM or floating point"),
        (12, TypeError, "Unsupported input of type int"),
    ],
)
def test_bad_inputs(classifier, inputs, error, message):
    with pytest.raises(error, match=message):
        classifier(inputs)


@pytest.mark.parametrize("samples, rate", [(100, SR), (500, 44100)])
def test_a_clip_shorter_than_one_window_is_zero_padded_to_it_as_in_training(classifier, samples, rate, caplog):
    clip = noise(samples)
    with caplog.at_level("WARNING", logger="transformers_aasp"):
        result = classifier({"raw": clip, "sampling_rate": rate})
    assert f"A clip of {samples} samples at {rate} Hz is shorter than one analysis window" in caplog.text
    needed = -(-400 * rate // SR)  # 400 samples at 16 kHz, counted at the input's rate
    padded = classifier({"raw": np.pad(clip, (0, needed - samples)), "sampling_rate": rate})
    assert scores(result) == pytest.approx(scores(padded), abs=1e-6)


def test_pipeline_save_pretrained_records_the_remote_pipeline(classifier, tmp_path):
    classifier.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "audio-classification": {
            "impl": "pipeline_aasp.AaSPAudioClassificationPipeline",
            "pt": ["AutoModelForAudioClassification"],
            "type": "audio",
        }
    }
    saved = set(os.listdir(tmp_path))
    assert {"pipeline_aasp.py", "tta.py", "feature_extraction_aasp.py", "preprocessor_config.json"} <= saved


REMOTE_SCRIPT = textwrap.dedent(
    """
    import json
    from pathlib import Path
    import numpy as np
    from datasets import Audio, Dataset
    from transformers import pipeline

    checkpoint, wav = sys.argv[1], sys.argv[2]
    report = {"package_importable": PACKAGE_IMPORTABLE}
    try:
        pipeline("audio-classification", model=checkpoint)
    except ValueError as error:
        report["refused_without_trust"] = str(error)
    classifier = pipeline("audio-classification", model=checkpoint, trust_remote_code=True)
    stereo = np.load(sys.argv[3])
    item = Dataset.from_dict({"audio": [wav]}).cast_column("audio", Audio())[0]["audio"]
    report.update(
        {"class": type(classifier).__name__, "module": type(classifier).__module__, "task": classifier.task,
         "stereo_array": classifier(stereo), "path": classifier(wav), "pathlib": classifier(Path(wav)),
         "datasets_item": classifier(item)}
    )
    print(json.dumps(report))
    """
)


@pytest.mark.integration
def test_remote_code_pipeline_without_the_package(classifier, checkpoint, tmp_path):
    """`pipeline("audio-classification", model=dir, trust_remote_code=True)` on a machine without the package
    builds this package's pipeline from the checkpoint's code: stereo arrays, paths and datasets items work."""
    remote = tmp_path / "remote_checkpoint"
    shutil.copytree(checkpoint, remote)  # saved by the plain model.save_pretrained of the fixture
    wav = str(tmp_path / "stereo_44k.wav")
    stereo_file = np.stack([noise(30000, 4), noise(30000, 5)], axis=1)
    sf.write(wav, stereo_file, 44100, subtype="FLOAT")
    stereo_array = np.stack([noise(20000, 7), noise(20000, 8)])  # (channels, samples) at 16 kHz
    np.save(tmp_path / "stereo.npy", stereo_array)

    report = run_without_package(REMOTE_SCRIPT, [str(remote), wav, str(tmp_path / "stereo.npy")], tmp_path)

    assert report["package_importable"] is False
    assert "trust_remote_code=True" in report["refused_without_trust"]
    assert report["class"] == "AaSPAudioClassificationPipeline"
    assert report["module"].startswith("transformers_modules.")
    assert report["task"] == "audio-classification"
    assert_same_scores(report["stereo_array"], classifier(stereo_array.mean(0)))
    expected_file = classifier({"array": stereo_file.mean(1), "sampling_rate": 44100})
    for key in ("path", "pathlib", "datasets_item"):
        assert_same_scores(report[key], expected_file)


FOUR_VIEW_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=sys.argv[1], trust_remote_code=True)
    clip = np.load(sys.argv[2])
    report = {"package_importable": PACKAGE_IMPORTABLE, "module": type(classifier).__module__}
    report.update(hinted=classifier(clip), single=classifier(clip, shift_views=1))
    print(json.dumps(report))
    """
)


def test_remote_code_pipeline_applies_the_saved_shift_views(four_view_checkpoint, tmp_path):
    """Without the package, the checkpoint's own code averages the views its config names, and takes the argument."""
    clip = noise(20000, 9)
    np.save(tmp_path / "clip.npy", clip)
    report = run_without_package(FOUR_VIEW_SCRIPT, [four_view_checkpoint, str(tmp_path / "clip.npy")], tmp_path)
    assert report["package_importable"] is False and report["module"].startswith("transformers_modules.")
    assert scores(report["hinted"]) == pytest.approx(
        shifted_view_scores(four_view_checkpoint, clip, 4), abs=SCORE_ATOL
    )
    assert scores(report["single"]) == pytest.approx(
        shifted_view_scores(four_view_checkpoint, clip, 1), abs=SCORE_ATOL
    )
