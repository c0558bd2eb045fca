#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Draw the AaSP figures for any AaSP checkpoint (PNG, matplotlib Agg backend).

    python examples/make_figures.py --checkpoint outputs/demo/pretrain/final --output_dir outputs/demo/figures \
        --metrics outputs/demo/pretrain/metrics.jsonl

Writes into --output_dir:
    figure4_sblu_parameters.png   the paper's Figure 4: log-mel spectrogram of a clip (--audio, default a modulation
                                  probe clip) with per-time-patch box plots of the estimated SBLU alpha and beta (Hz)
    figure2_window_gradients.png  the paper's Figure 2: |K(omega)| and |d|K|/d beta| for the three SBLU windows
    training_curves.png           every loss term of a pre-training run (only with --metrics)
See docs/demo.md for how to read them.
"""

from dataclasses import dataclass, field

from transformers_aasp.reporting.figures import make_figures
from transformers_aasp.training.arguments import parse_arguments, run_main, setup_logging


@dataclass
class FigureArguments:
    checkpoint: str = field(metadata={"help": "AaSP checkpoint folder (encoder, classifier or pre-training)."})
    output_dir: str = field(metadata={"help": "Folder the PNG files are written to."})
    metrics: str | None = field(default=None, metadata={"help": "metrics.jsonl of a pre-training run (curves)."})
    audio: str | None = field(default=None, metadata={"help": "Sound file for Figure 4 (default: a probe clip)."})
    alphas: list[float] | None = field(
        default=None,
        metadata={
            "help": "SBLU decays per frame, one row of Figure 2 each (default: the initial SBLU decay and the "
            "decay whose window falls to 1 %% at the kernel's edge).",
            "nargs": "+",
        },
    )


def main(argv: list[str] | None = None) -> dict:
    """Runs the command line `argv` (default: sys.argv); returns {figure name: path}."""
    (args,) = parse_arguments((FigureArguments,), argv)
    setup_logging("warning")
    written = make_figures(
        args.checkpoint,
        args.output_dir,
        metrics=args.metrics,
        audio=args.audio,
        alphas=tuple(args.alphas) if args.alphas else None,
    )
    for name, path in written.items():
        print(f"{name}: {path}")
    return written


if __name__ == "__main__":
    run_main(main)
