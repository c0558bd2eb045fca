#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Speed and memory of AaSP against transformers' AST, the model a user would otherwise pick.

    python -m bench.speed                               # both parts
    python -m bench.speed --part features --num_clips 64
    python -m bench.speed --part encoder --batch_size 8 --repeats 5   # defaults: batch 4, 3 repeats

Part "features": AaSPFeatureExtractor vs ASTFeatureExtractor on the same 64 clips of 10 s (one call each, as a user
calls them), clips/s and the ratio. Target: AaSP >= 3x faster on CPU. On a CUDA machine it also tries AaSP's
log-mel on the device.

Part "encoder": AaSPModel(AaSPConfig()) (ViT-B, 80 mel, 16x16 patches, AaPE on) vs ASTModel(ASTConfig())
(1024 frames x 128 mel, stride 10: 1212 patches) on features of the same 10 s clips, inference (eval, no_grad),
batches alternating between the models, median of the repeats. Features are computed once beforehand; only the
encoder forward is timed. Target: AaSP >= 3x the clips/s of AST. Peak memory: each side in a fresh subprocess,
after a one-clip warm-up forward (loads kernels and libraries) and a reset of the peak, peak RSS (VmHWM) after the
forward minus RSS just before it (model and inputs already resident); on
CUDA, torch.cuda.max_memory_allocated minus the allocation before the forward.
"""

from __future__ import annotations

import argparse
import json

import torch

from bench.common import (
    SAMPLING_RATE,
    interleaved_medians,
    load_average,
    peak_rss_mib,
    ratio,
    reset_peak_rss,
    rss_mib,
    run_json_subprocess,
    synthetic_clips,
    write_results,
)


CLIP_SECONDS = 10.0
FEATURE_TARGET = 3.0
ENCODER_TARGET = 3.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "features", "encoder"), default="all")
    parser.add_argument("--num_clips", type=int, default=64, help="Clips of 10 s for the feature extractors.")
    parser.add_argument("--batch_size", type=int, default=4, help="Clips per encoder forward.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory_child", choices=("aasp", "ast"), help=argparse.SUPPRESS)
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------------------------
# Models and inputs shared by the timing and the memory child
# ---------------------------------------------------------------------------------------------------------------
def build_encoder(name: str, device: str):
    """ViT-B AaSP (AaPE on) or transformers' default AST, randomly initialised, eval mode."""
    if name == "aasp":
        from transformers_aasp import AaSPConfig, AaSPModel

        model = AaSPModel(AaSPConfig())
    else:
        from transformers import ASTConfig, ASTModel

        model = ASTModel(ASTConfig())
    return model.eval().to(device)


def encoder_inputs(name: str, clips: list, device: str) -> dict:
    """What each model's own feature extractor gives for `clips` (AaSP: (B, 1008, 80) + mask; AST: (B, 1024, 128))."""
    if name == "aasp":
        from transformers_aasp import AaSPFeatureExtractor

        batch = AaSPFeatureExtractor()(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    else:
        from transformers import ASTFeatureExtractor

        batch = ASTFeatureExtractor()(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    return {key: value.to(device) for key, value in batch.items()}


# ---------------------------------------------------------------------------------------------------------------
# Part 1: feature extraction
# ---------------------------------------------------------------------------------------------------------------
def benchmark_features(args) -> dict:
    from transformers import ASTFeatureExtractor

    from transformers_aasp import AaSPFeatureExtractor

    clips = synthetic_clips(args.num_clips, CLIP_SECONDS)
    aasp_fe, ast_fe = AaSPFeatureExtractor(), ASTFeatureExtractor()
    timings = interleaved_medians(
        {
            "aasp": lambda: aasp_fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt"),
            "ast": lambda: ast_fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt"),
        },
        warmup=args.warmup,
        repeats=args.repeats,
    )
    result = {name: {**timing, "clips_per_s": args.num_clips / timing["median_s"]} for name, timing in timings.items()}
    result["speedup_aasp_over_ast"] = ratio(timings["ast"]["median_s"], timings["aasp"]["median_s"])
    result["target"] = FEATURE_TARGET
    result["num_clips"], result["clip_seconds"] = args.num_clips, CLIP_SECONDS
    if torch.cuda.is_available():
        result["aasp_cuda"] = device_log_mel(aasp_fe, clips, args)
    print(
        f"Feature extraction, {args.num_clips} clips of {CLIP_SECONDS:g} s: AaSP {result['aasp']['clips_per_s']:.1f} "
        f"clips/s, AST {result['ast']['clips_per_s']:.1f} clips/s, ratio {result['speedup_aasp_over_ast']:.2f}x "
        f"(target >= {FEATURE_TARGET:g}x), load {load_average()}"
    )
    return result


def device_log_mel(feature_extractor, clips: list, args) -> dict:
    """AaSP's extractor computing on the GPU (`device="cuda"`), called as a user would; the error if it fails."""
    extract = lambda: feature_extractor(clips, sampling_rate=16000, return_tensors="pt", device="cuda")  # noqa: E731
    try:
        timing = interleaved_medians({"aasp_cuda": extract}, warmup=args.warmup, repeats=args.repeats, device="cuda")[
            "aasp_cuda"
        ]
    except (RuntimeError, TypeError) as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {**timing, "clips_per_s": len(clips) / timing["median_s"]}


# ---------------------------------------------------------------------------------------------------------------
# Part 2: encoder inference
# ---------------------------------------------------------------------------------------------------------------
def forward_pass(model, inputs: dict):
    with torch.inference_mode():
        return model(**inputs)


def time_encoders(args) -> dict:
    """Interleaved forward timings of both encoders on the same clips; the models are freed when it returns."""
    clips = synthetic_clips(args.batch_size, CLIP_SECONDS, seed=1)
    sides = {
        name: (build_encoder(name, args.device), encoder_inputs(name, clips, args.device)) for name in ("aasp", "ast")
    }
    timings = interleaved_medians(
        {name: (lambda side=side: forward_pass(*side)) for name, side in sides.items()},
        warmup=args.warmup,
        repeats=args.repeats,
        device=args.device,
    )
    result = {}
    for name, (model, inputs) in sides.items():
        tokens = forward_pass(model, inputs).last_hidden_state.shape[1]
        result[name] = {
            **timings[name],
            "clips_per_s": args.batch_size / timings[name]["median_s"],
            "input_shape": list(inputs["input_values"].shape),
            "sequence_length": int(tokens),
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        }
    return result


def benchmark_encoder(args) -> dict:
    result = time_encoders(args)  # its models are gone before the memory children start
    for name in ("aasp", "ast"):
        result[name]["memory"] = run_json_subprocess(
            [
                "-m",
                "bench.speed",
                "--memory_child",
                name,
                "--batch_size",
                str(args.batch_size),
                "--device",
                args.device,
            ]
        )
    result["speedup_aasp_over_ast"] = ratio(result["ast"]["median_s"], result["aasp"]["median_s"])
    result["memory_ratio_ast_over_aasp"] = ratio(
        result["ast"]["memory"].get("forward_peak_mib", float("nan")),
        result["aasp"]["memory"].get("forward_peak_mib", float("nan")),
    )
    result["target"] = ENCODER_TARGET
    result["batch_size"], result["device"] = args.batch_size, args.device
    print(
        f"Encoder inference, batch {args.batch_size} x {CLIP_SECONDS:g} s on {args.device}: "
        f"AaSP {result['aasp']['clips_per_s']:.2f} clips/s ({result['aasp']['sequence_length']} tokens), "
        f"AST {result['ast']['clips_per_s']:.2f} clips/s ({result['ast']['sequence_length']} tokens), "
        f"ratio {result['speedup_aasp_over_ast']:.2f}x (target >= {ENCODER_TARGET:g}x); forward peak memory "
        f"AaSP {result['aasp']['memory'].get('forward_peak_mib')} MiB, AST {result['ast']['memory'].get('forward_peak_mib')}"
        f" MiB; load {load_average()}"
    )
    return result


def memory_child(args) -> None:
    """Fresh process: build one side, run one forward, print its peak memory as a JSON line."""
    torch.manual_seed(0)
    model = build_encoder(args.memory_child, args.device)
    inputs = encoder_inputs(args.memory_child, synthetic_clips(args.batch_size, CLIP_SECONDS, seed=1), args.device)
    with torch.inference_mode():  # one-clip warm-up: loads kernels and libraries, so that their memory is not counted
        model(**{key: value[:1] for key, value in inputs.items()})
    if args.device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    rss_before = rss_mib()
    with torch.inference_mode():
        model(**inputs)
    if args.device == "cuda":
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
        method = "torch.cuda.max_memory_allocated delta"
    else:
        peak = peak_rss_mib() - rss_before
        method = "VmHWM after forward - VmRSS before it (fresh process, one-clip warm-up, peak reset before)"
    print(
        json.dumps(
            {
                "forward_peak_mib": round(peak, 1),
                "rss_before_mib": round(rss_before, 1),
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "method": method,
            }
        )
    )


def main() -> None:
    args = parse_args()
    if args.memory_child:
        memory_child(args)
        return
    payload = {"load_avg_start": load_average()}
    if args.part in ("all", "features"):
        payload["features"] = benchmark_features(args)
    if args.part in ("all", "encoder"):
        payload["encoder"] = benchmark_encoder(args)
    name = "speed" if args.part == "all" else f"speed_{args.part}"
    print(f"-> {write_results(name, payload)}")


if __name__ == "__main__":
    main()
