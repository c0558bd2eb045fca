# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Research code beside the package: the model variants of the evidence scripts (`research.ablations`)."""
