# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Optimizer helpers shared by pre-training and fine-tuning: which parameters get weight decay."""

import torch
from torch import nn


# Parameters whose full name contains one of these never get weight decay: norms, biases, tokens, position tables
# and the fixed-Lambda SBLU parameters (decay would pull alpha and beta towards arbitrary values).
NO_DECAY_NAME_PARTS = ("norm", "bias", "token", "position", "pos_embed", "lambda_raw")
# Parameters whose own name (the last part of the full name) is one of these never get weight decay: fusion gates.
NO_DECAY_PARAMETER_NAMES = ("gate",)


def is_weight_decay_exempt(name: str, parameter: torch.Tensor) -> bool:
    """True for 1-D parameters and for parameters named after `NO_DECAY_NAME_PARTS` / `NO_DECAY_PARAMETER_NAMES`."""
    if parameter.ndim < 2 or name.rsplit(".", 1)[-1] in NO_DECAY_PARAMETER_NAMES:
        return True
    return any(part in name.lower() for part in NO_DECAY_NAME_PARTS)


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer parameter groups of the trainable parameters: decayed, then exempt (weight_decay 0)."""
    decay, exempt = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (exempt if is_weight_decay_exempt(name, parameter) else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]


__all__ = [
    "NO_DECAY_NAME_PARTS",
    "NO_DECAY_PARAMETER_NAMES",
    "is_weight_decay_exempt",
    "weight_decay_groups",
]
