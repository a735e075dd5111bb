"""Tracking: a run's life from start to commit, its record, listing and reproduction.

ids, record (the format and its grammar), staging (a run in progress), run
(start), runner (a wrapped command), commit (staging → run commit), recovery
(after a crash), catalog (which runs exist), checkout (a run's code into the work
tree, nothing lost), reproduce (branch, rerun).

`gitml.tracking.MlflowClient` is `gitml.client.MlflowClient`, MLflow's spelling
`mlflow.tracking.MlflowClient` for scripts that `import gitml as mlflow`; it is
imported only when asked for (the one import this package makes upward, allowed by
name in pyproject.toml's layers contract).
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "MlflowClient":
        from gitml.client import MlflowClient

        return MlflowClient
    raise AttributeError(f"module 'gitml.tracking' has no attribute {name!r}")
