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

import argparse
import logging

import transformers

from transformers_aasp.reporting.figures import make_figures


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--checkpoint", required=True, help="AaSP checkpoint folder (encoder, classifier or pre-training)."
    )
    parser.add_argument("--output_dir", required=True, help="Folder the PNG files are written to.")
    parser.add_argument("--metrics", default=None, help="metrics.jsonl of a pre-training run (training curves).")
    parser.add_argument("--audio", default=None, help="Sound file for Figure 4 (default: a modulation probe clip).")
    parser.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=None,
        help="SBLU decays per frame, one row of Figure 2 each (default: the checkpoint's alpha_init "
        "and the decay whose window falls to 1 %% at the kernel's edge).",
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    transformers.utils.logging.set_verbosity_warning()
    written = make_figures(
        args.checkpoint,
        args.output_dir,
        metrics=args.metrics,
        audio=args.audio,
        alphas=tuple(args.alphas) if args.alphas else None,
    )
    for name, path in written.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
