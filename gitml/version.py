"""gitml's version, for whatever records it (a model's MLmodel, the scoring server)."""

from __future__ import annotations

__version__ = "0.1.0"
