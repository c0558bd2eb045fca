"""Long recordings through `pipeline("audio-classification")`: windows of the clip length, mean of their logits."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hub_layouts import save_tiny_aasp_classifier
from transformers import pipeline

import transformers_aasp  # noqa: F401  (registers the Auto classes and the pipeline)
from transformers_aasp import AaSPFeatureExtractor, AaSPForAudioClassification


SR = 16000
LABELS = {0: "dog", 1: "rain", 2: "siren"}


def noise(seconds, seed=0):
    return (np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_tiny_aasp_classifier(tmp_path_factory.mktemp("aasp_long"), LABELS)


@pytest.fixture(scope="module")
def classifier(checkpoint):
    return pipeline("audio-classification", model=checkpoint)


def window_mean_scores(checkpoint, clip, starts, window_frames):
    """Softmax of the mean logits of the windows [s, s + window_frames) of the clip's frames, without the pipeline."""
    model = AaSPForAudioClassification.from_pretrained(checkpoint).eval()
    values = AaSPFeatureExtractor.from_pretrained(checkpoint)(clip, sampling_rate=SR, return_tensors="pt")
    with torch.no_grad():
        logits = [model(input_values=values["input_values"][:, s : s + window_frames]).logits for s in starts]
    probabilities = torch.cat(logits).mean(0).softmax(-1)
    return {LABELS[i]: p.item() for i, p in enumerate(probabilities)}


def scores(result):
    return {entry["label"]: entry["score"] for entry in result}


def test_a_long_clip_is_the_mean_of_its_windows_logits(classifier, checkpoint):
    clip = noise(25)  # 2501 frames: windows of 1001 frames (a whole 10 s clip) at 0 and 1000, one ending at the end
    expected = window_mean_scores(checkpoint, clip, [0, 1000, 1500], 1001)
    # same frames through the same float32 model, batched differently: equal up to float32 rounding
    assert scores(classifier(clip, chunk_length_s=10)) == pytest.approx(expected, abs=1e-5)
    assert scores(classifier(clip)) == pytest.approx(expected, abs=1e-5)  # 10 s is the default window


def test_stride_length_s_sets_the_hop(classifier, checkpoint):
    clip = noise(7, 1)  # 701 frames; 4 s windows (401 frames), 1 s strides on each side: a hop of 2 s (200 frames)
    expected = window_mean_scores(checkpoint, clip, [0, 200, 300], 401)
    assert scores(classifier(clip, chunk_length_s=4, stride_length_s=1)) == pytest.approx(expected, abs=1e-5)
    assert scores(classifier(clip, chunk_length_s=4, stride_length_s=(0.5, 1.5))) == pytest.approx(expected, abs=1e-5)


def test_chunk_length_zero_and_short_clips_are_one_forward(classifier, checkpoint):
    long_clip, short_clip = noise(12, 2), noise(3, 3)
    assert scores(classifier(long_clip, chunk_length_s=0)) == pytest.approx(
        window_mean_scores(checkpoint, long_clip, [0], 1201), abs=1e-5
    )
    assert scores(classifier(short_clip)) == pytest.approx(
        window_mean_scores(checkpoint, short_clip, [0], 301), abs=1e-5
    )


def test_the_saved_clip_length_is_the_default_window(checkpoint, tmp_path):
    model = AaSPForAudioClassification.from_pretrained(checkpoint)
    model.config.clip_seconds = 2.0  # what fine-tuning records: the clip length it trained on
    model.save_pretrained(tmp_path)
    AaSPFeatureExtractor.from_pretrained(checkpoint).save_pretrained(tmp_path)
    clip = noise(5, 4)  # 501 frames: 201-frame windows (a 2 s clip) at 0, 200 and one ending at the end (300)
    expected = window_mean_scores(str(tmp_path), clip, [0, 200, 300], 201)
    assert scores(pipeline("audio-classification", model=str(tmp_path))(clip)) == pytest.approx(expected, abs=1e-5)


def test_batched_long_and_short_clips_match_one_by_one(classifier):
    clips = [noise(14, 5), noise(2, 6), noise(23, 7)]
    for clip, result in zip(clips, classifier(clips, batch_size=3, chunk_length_s=5), strict=True):
        assert scores(result) == pytest.approx(scores(classifier(clip, chunk_length_s=5)), abs=1e-4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"chunk_length_s": -1}, "chunk_length_s must be >= 0"),
        ({"chunk_length_s": 4, "stride_length_s": -0.5}, "chunk_length_s must be >= 0"),
        ({"chunk_length_s": 4, "stride_length_s": 2}, "leaves no hop"),
    ],
)
def test_window_options_that_cannot_run_are_refused(classifier, options, message):
    with pytest.raises(ValueError, match=message):
        classifier(noise(1), **options)


# Peak resident memory added by scoring a 10-minute recording, measured in a fresh process after a warm-up call:
# peak RSS (VmHWM, reset through /proc/self/clear_refs; getrusage's maxrss would carry the parent's peak over exec)
# minus RSS before. The recording itself is 38 MB of float32 samples and 24 MB of log-mel frames; the STFT of the
# whole recording holds a few copies of (201 bins x 60001 frames) floats (~50 MB each); windows run 8 at a time, so
# the model's activations do not grow with the length: about 240 MB in all on the tiny model.
MEMORY_BOUND_MB = 600
MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import transformers_aasp
    from transformers import pipeline

    def status_mb(field):
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
        return int(line.split()[1]) / 1024

    classifier = pipeline("audio-classification", model=sys.argv[1])
    rng = np.random.default_rng(0)
    recording = rng.standard_normal(16000 * 600).astype(np.float32) * 0.1
    classifier(recording[: 16000 * 10])  # warm-up: one window
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = status_mb("VmRSS")
    result = classifier(recording)
    print(json.dumps({"growth_mb": status_mb("VmHWM") - before, "labels": len(result)}))
    """
)


@pytest.mark.integration
def test_a_ten_minute_recording_stays_within_the_memory_bound(checkpoint):
    run = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, checkpoint], capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["labels"] == 3
    assert report["growth_mb"] < MEMORY_BOUND_MB
