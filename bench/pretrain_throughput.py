#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-training step throughput of AaSPForPreTraining, its FLOPs, MFU and the projected AudioSet-2M cost.

    python -m bench.pretrain_throughput                                   # tiny config, CPU, fp32, batch 8
    python -m bench.pretrain_throughput --config base --dtype bf16 --batch_size 48 --device cuda   # on a GPU

A step is what examples/pretrain.py does per optimizer step: forward (teacher on the full crop, student on M masked
views, predictor, three losses), backward, AdamW step, EMA teacher update. Inputs are random (B, 608, 80) crops
with no padding (AudioSet clips are 10 s, longer than the crop), so data loading is not part of the figure.
AaPE on and off are timed in the same process, alternating, median of the repeats; a third side runs the AaPE
model with the SBLU contraction swapped (in this process only) for the batched matmul proposed in BENCHMARKS.md.

FLOPs: counted with torch.utils.flop_counter.FlopCounterMode over one real forward+backward (matmuls, attention,
convolutions; elementwise work is not counted, so MFU is slightly underestimated).
MFU = counted FLOPs per step / step time / peak FLOP/s of the device (--peak_tflops; 989 for an H100 SXM in dense
bf16). On a CPU the peak is not known, so only achieved GFLOP/s are reported.

Projection (printed and stored, never measured here unless this runs on the GPU it describes):
    GPU-hours = clips per epoch x epochs x FLOPs per clip-step / (MFU x peak FLOP/s) / 3600
with AudioSet-2M = 2,000,000 clips, 10 epochs, base config, M = 8 clones, and MFU = the measured one on a GPU or the
35 % target otherwise; a second projection uses an RTX 3090's 71 dense bf16 TFLOP/s at 35 % MFU, to compare with
EAT in the same GPU-hours. EAT's reference: 10 epochs in about 230 GPU-hours on RTX 3090s (4 GPUs x 5.8 h/epoch).
"""

from __future__ import annotations

import argparse
from contextlib import nullcontext

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.common import interleaved_medians, load_average, write_results


CROP_FRAMES = 608
AUDIOSET_2M_CLIPS = 2_000_000
EPOCHS = 10
EAT_GPU_HOURS = 230.0
MFU_TARGET = 0.35
H100_BF16_DENSE_TFLOPS = 989.0
RTX3090_BF16_DENSE_TFLOPS = (
    71.0  # tensor cores, FP32 accumulate (GA102 whitepaper): EAT's GPU, for like-for-like hours
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("tiny", "base"), default="tiny")
    parser.add_argument("--batch_size", type=int, default=8, help="Clips per step (each gives M masked views).")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="bf16 = autocast, as in pretrain.")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--peak_tflops",
        type=float,
        default=H100_BF16_DENSE_TFLOPS,
        help="Peak dense TFLOP/s of the GPU for MFU (ignored on CPU).",
    )
    parser.add_argument("--skip_projection", action="store_true", help="Do not count base-config FLOPs per clip.")
    return parser.parse_args()


def build_config(name: str, **overrides):
    from transformers_aasp import AaSPConfig

    return AaSPConfig.tiny(**overrides) if name == "tiny" else AaSPConfig(**overrides)


class PretrainStep:
    """One optimizer step of AaSP pre-training on a fixed random batch (B, 608, 80)."""

    def __init__(self, config, batch_size: int, device: str, dtype: str):
        from transformers_aasp import AaSPForPreTraining

        torch.manual_seed(0)
        self.model = AaSPForPreTraining(config).to(device).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0.05)
        self.inputs = torch.randn(batch_size, CROP_FRAMES, config.num_mel_bins, device=device)
        self.autocast = (
            torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
            if dtype == "bf16"
            else nullcontext()
        )
        self.updates = 0

    def forward_backward(self):
        with self.autocast:
            loss = self.model(self.inputs).loss
        loss.backward()

    def __call__(self):
        self.forward_backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.model.update_teacher(self.updates)
        self.updates += 1


def count_flops(step: PretrainStep) -> int:
    """Matmul / attention / convolution FLOPs of one forward+backward."""
    counter = FlopCounterMode(display=False)
    with counter:
        step.forward_backward()
    step.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_sblu(windows, kernel_re, kernel_im):
    """The SBLU contraction of `modeling_aasp.apply_sblu` as one contiguous batched matmul (same result; see
    bench/aape_overhead.py): the optimisation proposed for the model code, timed here without editing it."""
    frames = windows.unfold(-1, kernel_re.shape[-1], 1).contiguous()  # (B, K, S, p_t, taps)
    kernels = torch.cat([kernel_re, kernel_im], dim=-2).to(frames.dtype)  # (B, K, S, 2H, taps)
    return torch.matmul(kernels, frames.transpose(-1, -2))  # (B, K, S, 2H, p_t)


class WithProposedSBLU:
    """Runs a step with `modeling_aasp.apply_sblu` swapped for `matmul_sblu`, restoring it afterwards."""

    def __init__(self, step: PretrainStep):
        self.step, self.model = step, step.model

    def __call__(self):
        from transformers_aasp import modeling_aasp

        original, modeling_aasp.apply_sblu = modeling_aasp.apply_sblu, matmul_sblu
        try:
            self.step()
        finally:
            modeling_aasp.apply_sblu = original

    def forward_backward(self):
        self.step.forward_backward()

    @property
    def optimizer(self):
        return self.step.optimizer


def measure(args) -> dict:
    steps = {
        name: PretrainStep(build_config(args.config, use_aape=use_aape), args.batch_size, args.device, args.dtype)
        for name, use_aape in (("aape", True), ("no_aape", False))
    }
    steps["aape_proposed_sblu"] = WithProposedSBLU(steps["aape"])
    timings = interleaved_medians(steps, warmup=args.warmup, repeats=args.repeats, device=args.device)
    clones = steps["aape"].model.config.num_mask_clones
    result = {
        "config": args.config,
        "batch_size": args.batch_size,
        "num_mask_clones": clones,
        "dtype": args.dtype,
        "device": args.device,
    }
    for name, step in steps.items():
        flops = count_flops(step)
        seconds = timings[name]["median_s"]
        result[name] = {
            **timings[name],
            "clips_per_s": args.batch_size / seconds,
            "masked_views_per_s": args.batch_size * clones / seconds,
            "flops_per_step": flops,
            "achieved_tflops": flops / seconds / 1e12,
        }
        if args.device == "cuda":
            result[name]["mfu"] = flops / seconds / (args.peak_tflops * 1e12)
        print(
            f"{args.config} {name:8s} batch {args.batch_size} (M={clones}) on {args.device} {args.dtype}: "
            f"{seconds:.3f} s/step, {result[name]['clips_per_s']:.2f} clips/s, "
            f"{result[name]['achieved_tflops'] * 1e3:.1f} GFLOP/s counted"
            + (f", MFU {100 * result[name]['mfu']:.1f} %" if "mfu" in result[name] else "")
            + f", load {load_average()}",
            flush=True,
        )
    result["slowdown_aape_over_no_aape"] = timings["aape"]["median_s"] / timings["no_aape"]["median_s"]
    result["slowdown_aape_proposed_sblu_over_no_aape"] = (
        timings["aape_proposed_sblu"]["median_s"] / timings["no_aape"]["median_s"]
    )
    return result


def base_flops_per_clip() -> int:
    """Counted FLOPs of one base-config (ViT-B, M = 8) forward+backward per clip, from a batch of one on the CPU."""
    step = PretrainStep(build_config("base"), batch_size=1, device="cpu", dtype="fp32")
    return count_flops(step)


def projection(flops_per_clip: int, measured_mfu: float | None, peak_tflops: float) -> dict:
    """GPU-hours for 10 AudioSet-2M epochs at a given MFU, against EAT's 230 GPU-hours."""
    mfu = measured_mfu if measured_mfu is not None else MFU_TARGET
    total_flops = AUDIOSET_2M_CLIPS * EPOCHS * flops_per_clip
    gpu_hours = total_flops / (mfu * peak_tflops * 1e12) / 3600
    arithmetic = (
        f"{AUDIOSET_2M_CLIPS:,} clips x {EPOCHS} epochs x {flops_per_clip / 1e9:.1f} GFLOP/clip = "
        f"{total_flops:.3e} FLOP; / ({100 * mfu:.0f} % MFU x {peak_tflops:g} TFLOP/s) = "
        f"{gpu_hours:.1f} GPU-hours"
    )
    print(
        f"Projection ({'measured' if measured_mfu is not None else 'NOT measured: assumed'} MFU): {arithmetic} "
        f"vs EAT {EAT_GPU_HOURS:g} GPU-hours on RTX 3090s",
        flush=True,
    )
    return {
        "flops_per_clip_step": flops_per_clip,
        "clips": AUDIOSET_2M_CLIPS,
        "epochs": EPOCHS,
        "mfu": mfu,
        "mfu_measured": measured_mfu is not None,
        "peak_tflops": peak_tflops,
        "gpu_hours": gpu_hours,
        "eat_gpu_hours": EAT_GPU_HOURS,
        "arithmetic": arithmetic,
    }


def main() -> None:
    args = parse_args()
    payload = {"load_avg_start": load_average(), "throughput": measure(args)}
    if not args.skip_projection:
        flops = (
            payload["throughput"]["aape"]["flops_per_step"] // args.batch_size
            if args.config == "base"
            else base_flops_per_clip()
        )
        measured = payload["throughput"]["aape"].get("mfu") if args.config == "base" else None
        payload["projection_audioset_2m"] = projection(flops, measured, args.peak_tflops)
        payload["projection_audioset_2m_rtx3090"] = projection(flops, None, RTX3090_BF16_DENSE_TFLOPS)
    name = f"pretrain_throughput_{args.config}_{args.device.split(':')[0]}"
    print(f"-> {write_results(name, payload)}")


if __name__ == "__main__":
    main()
