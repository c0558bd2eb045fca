#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""v2's stability analysis: how much does a clip embedding change when the input moves by 1..15 frames?

    python -m research.shift_stability                    # encoders from research/aliasing_evidence.py
    python -m research.shift_stability --work_dir outputs/evidence --variants aape no_aape random_init

For every test clip of the embedded tasks, the reference is the first `--clip_seconds` of the clip and the shifted
input is the same length starting k x 160 samples (k frames) later, k = 0..16 (16 = one whole patch, a reference
point). The embedding is the one linear evaluation uses (mean over time columns of `time_column_features`); the CLS
(`pooler_output`) is reported too. Score per k: cosine similarity between the two embeddings, averaged over clips,
then mean and spread over the pre-training seeds of each variant.

Outputs: research/results/shift_stability.json and research/results/shift_stability.png.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from bench.common import SAMPLING_RATE, load_average, write_results


RESULTS_DIR = Path(__file__).resolve().parent / "results"  # this script's results


HOP = 160
TASKS = ("modulation", "instrument", "keyword")
SHIFTS = tuple(range(0, 17))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="outputs/evidence", help="--work_dir of aliasing_evidence.py.")
    parser.add_argument("--variants", nargs="+", default=["aape", "no_aape", "random_init"])
    parser.add_argument("--clip_seconds", type=float, default=1.8, help="Length of both inputs (clips are >= 2 s).")
    parser.add_argument("--clips_per_task", type=int, default=16, help="Test clips per embedded task.")
    parser.add_argument("--batch_size", type=int, default=48)
    return parser.parse_args()


def encoder_dirs(work_dir: str, variant: str) -> list[Path]:
    """Exported encoders of one variant, one per seed (pre-trained: <variant>-s<seed>/final)."""
    found = []
    for folder in sorted(Path(work_dir).glob(f"{variant}-s*")):
        candidate = folder / "final" if (folder / "final").is_dir() else folder
        if (candidate / "model.safetensors").is_file():
            found.append(candidate)
    return found


def test_clips(args) -> list[np.ndarray]:
    """Test clips long enough for the largest shift: (samples,) float32 each."""
    from aasp_corpora.synthetic import load_embedded_task

    needed = int(args.clip_seconds * SAMPLING_RATE) + max(SHIFTS) * HOP
    clips = []
    for task in TASKS:
        test = load_embedded_task(task)["test"]
        kept = 0
        for row in test:
            waveform = np.asarray(
                row["audio"]["array"]
                if isinstance(row["audio"], dict)
                else row["audio"].get_all_samples().data.mean(0).numpy(),
                dtype=np.float32,
            )
            if len(waveform) >= needed:
                clips.append(waveform)
                kept += 1
            if kept == args.clips_per_task:
                break
    return clips


@torch.no_grad()
def embed(model, feature_extractor, waveforms: list[np.ndarray], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, G_f * D) mean frame features and (N, D) CLS embeddings."""
    means, cls = [], []
    for start in range(0, len(waveforms), batch_size):
        batch = feature_extractor(
            waveforms[start : start + batch_size], sampling_rate=SAMPLING_RATE, return_tensors="pt"
        )
        out = model(**batch)
        valid = out.time_column_attention_mask.unsqueeze(-1).to(out.time_column_features.dtype)
        means.append((out.time_column_features * valid).sum(1) / valid.sum(1).clamp(min=1))
        cls.append(out.pooler_output)
    return torch.cat(means), torch.cat(cls)


def similarity_curve(encoder_dir: Path, clips: list[np.ndarray], args) -> dict:
    """Mean cosine similarity (over clips) between the reference and each shifted input, per shift."""
    from transformers_aasp import AaSPFeatureExtractor, AaSPModel

    model = AaSPModel.from_pretrained(encoder_dir).eval()
    feature_extractor = AaSPFeatureExtractor.from_pretrained(encoder_dir)
    length = int(args.clip_seconds * SAMPLING_RATE)
    reference = embed(model, feature_extractor, [clip[:length] for clip in clips], args.batch_size)
    curve = {"mean_frames": [], "cls": []}
    for shift in SHIFTS:
        shifted = embed(
            model, feature_extractor, [clip[shift * HOP : shift * HOP + length] for clip in clips], args.batch_size
        )
        for key, ref, moved in zip(("mean_frames", "cls"), reference, shifted, strict=True):
            curve[key].append(float(torch.nn.functional.cosine_similarity(ref, moved, dim=-1).mean()))
    return curve


def summarize(curves: list[dict]) -> dict:
    """Per embedding kind and shift: mean and sample std over seeds."""
    summary = {}
    for key in ("mean_frames", "cls"):
        per_shift = list(zip(*(curve[key] for curve in curves), strict=True))
        summary[key] = {
            "mean": [statistics.fmean(v) for v in per_shift],
            "std": [statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_shift],
        }
    return summary


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    for axis, key, title in zip(
        axes, ("mean_frames", "cls"), ("mean of frame features", "CLS (pooler_output)"), strict=True
    ):
        for variant, per_kind in summary.items():
            mean, std = np.array(per_kind[key]["mean"]), np.array(per_kind[key]["std"])
            axis.plot(SHIFTS, mean, marker="o", markersize=3, label=f"{variant} (n={per_kind['num_seeds']})")
            axis.fill_between(SHIFTS, mean - std, mean + std, alpha=0.2)
        axis.axvline(16, color="grey", linestyle=":", linewidth=1)
        axis.set_title(f"Clip embedding: {title}")
        axis.set_xlabel("input shift (frames, 10 ms each; 16 = one patch)")
        axis.set_ylabel("cosine similarity to unshifted")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    clips = test_clips(args)
    print(f"{len(clips)} test clips, {args.clip_seconds:g} s each, shifts {SHIFTS[0]}..{SHIFTS[-1]} frames")
    results, summary = {}, {}
    for variant in args.variants:
        dirs = encoder_dirs(args.work_dir, variant)
        if not dirs:
            print(f"{variant}: no encoder under {args.work_dir}; skipped")
            continue
        curves = [similarity_curve(folder, clips, args) for folder in dirs]
        results[variant] = {"encoders": [str(folder) for folder in dirs], "curves": curves}
        summary[variant] = {**summarize(curves), "num_seeds": len(curves)}
        mean = summary[variant]["mean_frames"]["mean"]
        print(
            f"{variant:12s} cosine (mean frames) at shift 1/4/8/15/16: "
            + " / ".join(f"{mean[k]:.4f}" for k in (1, 4, 8, 15, 16))
            + f"  load {load_average()}",
            flush=True,
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    plot(summary, RESULTS_DIR / "shift_stability.png")
    path = write_results(
        "shift_stability",
        {
            "shifts_frames": list(SHIFTS),
            "clip_seconds": args.clip_seconds,
            "num_clips": len(clips),
            "summary": summary,
            "runs": results,
        },
        RESULTS_DIR,
    )
    print(f"-> {path} and {RESULTS_DIR / 'shift_stability.png'}")


if __name__ == "__main__":
    main()
