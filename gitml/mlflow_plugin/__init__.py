"""gitml as MLflow's backend: the plugins MLflow finds by the URI scheme `gitml:`.

`uri` holds the grammar and imports no mlflow; the store modules import mlflow and
are loaded only by MLflow itself (through the entry points in pyproject.toml) or
by callers that have mlflow installed (`gitml[mlflow]`). See docs/mlflow.md.
"""

from __future__ import annotations
