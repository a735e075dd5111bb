"""MLflow's artifact repository on a gitml run's artifacts (entry point
`mlflow.artifact_repository`, scheme `gitml`).

A location is `gitml:///ROOT/.gitml/runs/ID/artifacts[/PATH]` (`gitml.mlflow_plugin.uri`).
Writing goes to the run's staging folder through the same checks as
`gitml.log_artifact` (size limit, secrets, `.git`, links); reading goes through the
run's reader, so a run in progress and a committed one read alike.
"""

from __future__ import annotations

import os
import posixpath
import warnings
from pathlib import Path

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from gitml.errors import ArtifactError, SecretLeftOutWarning
from gitml.mlflow_plugin.errors import mlflow_errors
from gitml.mlflow_plugin.uri import parse_uri
from gitml.store.layout import ARTIFACTS_DIR, META_FILE
from gitml.store.repository import open_repository
from gitml.tracking.artifacts import check_source, store_folder
from gitml.tracking.readers import open_run
from gitml.tracking.staging import Staging, check_artifact_name, runs_dir


class GitmlArtifactRepository(ArtifactRepository):
    """The artifacts of one gitml run, named by `gitml:///ROOT/.gitml/runs/ID/artifacts`."""

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        with mlflow_errors():
            self.location = parse_uri(artifact_uri)
            if self.location.run_id is None:
                raise ArtifactError(
                    f"{artifact_uri!r} names a repository, not a run's artifacts "
                    "(gitml:///ROOT/.gitml/runs/ID/artifacts)"
                )
            self.repo = open_repository(self.location.path)
        self.run_id: str = self.location.run_id

    def _name(self, *parts: str | None) -> str:
        """The artifact name of `parts` below this location; ArtifactError when it would
        leave the run's artifacts."""
        joined = posixpath.join(self.location.artifact_path, *[p for p in parts if p])
        return check_artifact_name(joined.strip("/")) if joined.strip("/") else ""

    def _staging(self) -> Staging:
        path = runs_dir(self.repo.state_dir) / self.run_id
        if not Path(path, META_FILE).is_file():
            with open_run(self.repo, self.run_id):
                pass  # RunNotFoundError when there is no such run
            raise ArtifactError(
                f"run {self.run_id} has ended, and an ended run is a commit, never changed; "
                "log the artifact to a new run"
            )
        return Staging(path)

    def _git_dirs(self) -> list[Path]:
        return [self.repo.git_dir.resolve(), self.repo.common_dir.resolve()]

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        with mlflow_errors():
            source = Path(local_file)
            if not source.is_file():
                raise ArtifactError(f"artifact {str(local_file)!r} is not a file")
            check_source(source, str(local_file), self._git_dirs(), None)
            self._staging().add_artifact_file(source, self._name(artifact_path, source.name))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        with mlflow_errors():
            folder = Path(local_dir)
            if not folder.is_dir():
                raise ArtifactError(f"artifact folder {str(local_dir)!r} is not a folder")
            resolved = check_source(folder, str(local_dir), self._git_dirs(), None)
            inside = [resolved] + ([self.repo.root.resolve()] if self.repo.root else [])
            prefix = self._name(artifact_path) or None
            left_out = store_folder(self._staging(), resolved, prefix, inside, str(local_dir))
        for name in left_out:
            warnings.warn(
                f"{name} looks like a secret and was left out of artifact {str(local_dir)!r}",
                SecretLeftOutWarning,
                stacklevel=2,
            )

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        with mlflow_errors():
            folder = self._name(path)
            with open_run(self.repo, self.run_id) as reader:
                entries = reader.record().artifacts
        base = self.location.artifact_path
        prefix = f"{folder}/" if folder else ""
        found: dict[str, FileInfo] = {}
        for entry in entries:
            if not entry.path.startswith(prefix):
                continue
            child, slash, _ = entry.path[len(prefix) :].partition("/")
            shown = posixpath.relpath(prefix + child, base) if base else prefix + child
            if slash:
                found.setdefault(shown, FileInfo(shown, True, None))
            else:
                found[shown] = FileInfo(shown, False, entry.size)
        return [found[name] for name in sorted(found)]

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        with mlflow_errors():
            name = self._name(remote_file_path)
            with open_run(self.repo, self.run_id) as reader:
                blocks = reader.file_blocks(f"{ARTIFACTS_DIR}/{name}") if name else None
                if blocks is None:
                    raise MlflowException(
                        f"gitml: run {self.run_id} has no artifact file {name!r}",
                        RESOURCE_DOES_NOT_EXIST,
                    )
                tmp = f"{local_path}.{os.getpid()}.part"
                with open(tmp, "wb") as handle:
                    for block in blocks:
                        handle.write(block)
                os.replace(tmp, local_path)

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        raise MlflowException(
            "gitml does not delete a run's artifacts: a run's record is kept whole",
            INVALID_PARAMETER_VALUE,
        )
