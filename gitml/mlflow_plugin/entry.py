"""What MLflow's entry points name (pyproject.toml): MLflow loads every plugin's entry
point when it is imported, so this module imports nothing, and the stores are imported
only when a `gitml:` URI is used. An environment that `gitml run` lends this package
to (docs/projects.md) may run a Python too old for the stores: then using `gitml:`
says so, and `import mlflow` itself still works.

Python 3.8 syntax: it is imported by whatever Python MLflow runs in.
"""


def tracking_store(store_uri, artifact_uri=None):
    """MLflow's tracking store for `store_uri` (`gitml.mlflow_plugin.tracking_store`)."""
    return _stores().tracking_store.GitmlTrackingStore(store_uri, artifact_uri)


def artifact_repository(artifact_uri, tracking_uri=None, registry_uri=None):
    """MLflow's artifact repository for `artifact_uri` (`gitml.mlflow_plugin.artifact_repo`)."""
    return _stores().artifact_repo.GitmlArtifactRepository(artifact_uri, tracking_uri, registry_uri)


def registry_store(store_uri=None, tracking_uri=None):
    """MLflow's model registry store for `store_uri` (`gitml.mlflow_plugin.registry_store`)."""
    return _stores().registry_store.GitmlModelRegistryStore(store_uri, tracking_uri)


def _stores():
    import sys

    if sys.version_info < (3, 11):  # noqa: UP036 (a lent environment may run an older one)
        from mlflow.exceptions import MlflowException

        version = ".".join(map(str, sys.version_info[:3]))
        raise MlflowException(
            "gitml's MLflow backend (gitml: URIs) needs Python 3.11 or newer, and this "
            f"is {version} ({sys.executable}); log with `import gitml` instead, or run "
            "under a newer Python"
        )
    import gitml.mlflow_plugin.artifact_repo
    import gitml.mlflow_plugin.registry_store
    import gitml.mlflow_plugin.tracking_store

    return gitml.mlflow_plugin
