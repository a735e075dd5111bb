"""MLflow's artifact repository on a gitml run's artifacts (entry point
`mlflow.artifact_repository`, scheme `gitml`)."""

from __future__ import annotations

from mlflow.store.artifact.artifact_repo import ArtifactRepository

from gitml.mlflow_plugin.uri import parse_uri


class GitmlArtifactRepository(ArtifactRepository):
    """The artifacts of one gitml run, named by `gitml:///ROOT/.gitml/runs/ID/artifacts`."""

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        self.location = parse_uri(artifact_uri)
