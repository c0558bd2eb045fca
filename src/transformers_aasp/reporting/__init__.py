# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.

from ..extras import require_extra


require_extra("train", "transformers_aasp.reporting")
