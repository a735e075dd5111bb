"""MLflow's tracking store on gitml runs (entry point `mlflow.tracking_store`, scheme `gitml`)."""

from __future__ import annotations

from mlflow.store.tracking.abstract_store import AbstractStore

from gitml.mlflow_plugin.uri import parse_uri
from gitml.store.repository import open_repository


class GitmlTrackingStore(AbstractStore):
    """Experiments and runs of one git repository, named by a `gitml:` URI."""

    def __init__(self, store_uri: str, artifact_uri: str | None = None) -> None:
        super().__init__()
        self.uri = parse_uri(store_uri)
        self.repo = open_repository(self.uri.folder())
