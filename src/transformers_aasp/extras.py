# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Optional dependencies: which extra brings which module, and a clear error when one is missing.

The model (config, feature extractor, modeling, pipeline) needs only torch, transformers and numpy. Training,
evaluation, data loading and reporting need the `[train]` extra; the embedded corpus also needs `[demo]`.
"""

import importlib.util


# module name -> distribution, per extra (pyproject.toml lists the same distributions)
EXTRA_MODULES = {
    "train": {
        "datasets": "datasets",
        "soundfile": "soundfile",
        "torchaudio": "torchaudio",
        "accelerate": "accelerate",
        "sklearn": "scikit-learn",
        "scipy": "scipy",
        "yaml": "pyyaml",
    },
    "demo": {"pretty_midi": "pretty_midi", "matplotlib": "matplotlib"},
}
EXTRA_INCLUDES = {"train": ("train",), "demo": ("train", "demo")}


def missing_distributions(extra: str) -> list[str]:
    """The distributions of `extra` ("train" or "demo", which includes "train") that are not installed."""
    modules = {module: dist for part in EXTRA_INCLUDES[extra] for module, dist in EXTRA_MODULES[part].items()}
    return sorted({dist for module, dist in modules.items() if importlib.util.find_spec(module) is None})


def require_extra(extra: str, what: str) -> None:
    """Raises ImportError naming the missing distributions and the install command when `extra` is incomplete."""
    missing = missing_distributions(extra)
    if missing:
        raise ImportError(
            f"{what} needs the [{extra}] extra; missing: {', '.join(missing)}. "
            f"Install it with: pip install 'transformers-aasp[{extra}]'"
        )
