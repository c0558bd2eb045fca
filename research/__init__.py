# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Evidence scripts of the method and the model variants they compare (`research.ablations`), run from the
repository root as `python -m research.<name>`."""
