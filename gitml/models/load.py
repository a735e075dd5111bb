"""Loading a model by URI as an object with `.predict()`, whatever its flavor.

URIs: `runs:/<run>/<path>` (run id, id prefix or name), `models:/<name>/<version>`,
`models:/<name>/<stage>`, `models:/<name>@<stage>` (through the registry) and a plain
folder. A run's model is copied out once into a cache folder named by the content of its
files, so later loads read plain files.

Folders MLflow saved load too: the `loader_module` an MLmodel file names is looked up in
LOADERS, which maps gitml's own loaders and MLflow's (`mlflow.sklearn`, …) to the gitml
module that reads that flavor; any other name is refused before anything is imported.

Loading unpickles the model, which runs code the model's author chose: load only models
from runs and repositories you trust.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitml.errors import ModelError
from gitml.models.mlmodel import MLModel
from gitml.store.layout import MODELS_CACHE

if TYPE_CHECKING:
    from gitml.store.repository import Repository
    from gitml.tracking.record import RunSummary


class PyFuncModel:
    """A loaded model: `predict` checks the input against the signature, then calls the flavor."""

    def __init__(self, predictor, metadata: MLModel, folder: Path):
        from gitml.models.params import param_specs

        self._predictor = predictor
        self.metadata = metadata
        self.folder = folder
        self._param_specs = param_specs(metadata.signature)

    @property
    def signature(self) -> dict | None:
        return self.metadata.signature

    def predict(self, data: Any, params: dict | None = None) -> Any:
        """Predictions for a DataFrame, a numpy array, a list of records or a dict of columns.

        `params` reach the model as its signature declares them; others are dropped with a
        warning, as MLflow does (see `gitml.models.params`)."""
        accepted, ignored = self.accepted_params(params)
        if ignored:
            import warnings

            warnings.warn(ignored_params_note(ignored), UserWarning, stacklevel=2)
        return self.predict_checked(self.check_input(data), accepted)

    def check_input(self, data: Any) -> Any:
        """`data` as the model takes it, checked against the signature."""
        from gitml.models.inputs import to_model_input
        from gitml.models.signature import check_input

        return check_input(self.metadata.signature, to_model_input(data))

    def accepted_params(self, params: object) -> tuple[dict | None, list[str]]:
        """(the params the model's `predict` gets, the names of those it does not declare)."""
        from gitml.models.params import resolve_params

        return resolve_params(self._param_specs, params)

    def predict_checked(self, checked: Any, params: dict | None) -> Any:
        """Predictions for input `check_input` returned and params `accepted_params` did."""
        from gitml.models.inputs import NamedArray

        if isinstance(checked, NamedArray) and not self._predictor.takes_named_arrays:
            checked = checked.to_frame()
        return self._predictor.predict(checked, params)

    def unwrap(self) -> Any:
        """The underlying model object (estimator, module, or your PythonModel)."""
        return getattr(self._predictor, "model", self._predictor)

    def __repr__(self) -> str:
        flavors = ", ".join(f for f in self.metadata.flavors if f != "python_function")
        return f"<PyFuncModel {flavors or 'python_function'} from {self.folder}>"


def ignored_params_note(names: list[str]) -> str:
    """Why params were not passed on, in one sentence."""
    from gitml.errors import shortened

    return (
        f"params {shortened([repr(n) for n in names], 5)} are not declared in the model's "
        "signature, so predict does not get them (as MLflow; declare them with "
        "infer_signature(example, params={...}) or input_example=(data, params))"
    )


def load_model(model_uri: str | os.PathLike, repo: str | os.PathLike | None = None) -> PyFuncModel:
    """Load the model at `model_uri`; `repo` is the repository for `runs:/` and `models:/`."""
    return load_folder(model_folder(str(model_uri), repo))


# the loader_module an MLmodel names → the gitml module that loads that flavor
_SKLEARN = "gitml.models.flavors.sklearn"
_PYTORCH = "gitml.models.flavors.pytorch"
_PYFUNC = "gitml.models.flavors.pyfunc"
LOADERS = {
    _SKLEARN: _SKLEARN,
    _PYTORCH: _PYTORCH,
    _PYFUNC: _PYFUNC,
    "mlflow.sklearn": _SKLEARN,
    "mlflow.pytorch": _PYTORCH,
    "mlflow.pyfunc.model": _PYFUNC,
}


def load_folder(folder: Path) -> PyFuncModel:
    metadata = MLModel.read(folder)
    named = metadata.loader_module
    loader_name = LOADERS.get(named) if isinstance(named, str) else None
    if loader_name is None:
        raise ModelError(
            f"{folder}: its MLmodel names the loader {named!r}, "
            "which gitml does not load (it loads scikit-learn, PyTorch and python_function "
            "models saved by gitml or MLflow); nothing of it was imported"
        )
    loader = importlib.import_module(loader_name)
    try:
        predictor = loader.load(folder, metadata)
    except ModelError:
        raise
    except ImportError as error:
        raise ModelError(
            f"{folder}: the model needs a package that is not installed ({error}); "
            f"install what its requirements.txt lists: pip install -r {folder / 'requirements.txt'}"
        ) from None
    except Exception as error:
        raise ModelError(
            f"{folder}: the model failed to load: {type(error).__name__}: {error}"
            + _version_hint(metadata)
        ) from None
    return PyFuncModel(predictor, metadata, folder)


class MlflowEntry:
    """What a gitml loader's `_load_pyfunc` gives `mlflow.pyfunc.load_model`: the model's
    `predict`, under each name the MLmodel's `predict_fn` may give it (the flavor itself
    applies the method it was saved with)."""

    def __init__(self, model: PyFuncModel):
        self.model = model

    def predict(self, data: Any, params: dict | None = None) -> Any:
        return self.model.predict(data, params)

    predict_proba = predict_log_proba = decision_function = predict

    def get_raw_model(self) -> Any:
        return self.model.unwrap()


def mlflow_entry(path: str | os.PathLike) -> MlflowEntry:
    """MLflow's `_load_pyfunc(path)` for the folders gitml writes: MLflow passes the model
    folder (gitml's MLmodel names no `data` folder)."""
    return MlflowEntry(load_folder(Path(path)))


def _version_hint(metadata: MLModel) -> str:
    import sys

    here = ".".join(map(str, sys.version_info[:2]))
    saved = ".".join(metadata.python_version.split(".")[:2])
    if saved and saved != here:
        return f" (it was saved with Python {saved}; this is Python {here})"
    return ""


def model_folder(uri: str, repo: str | os.PathLike | None = None) -> Path:
    """A local folder holding the model `uri` names."""
    from gitml.registry.tags import is_model_uri

    if is_model_uri(uri):
        repository = _open(repo)
        return run_model_folder(repository, *_run_and_path(repository, uri))
    folder = Path(uri.removeprefix("file://"))
    if not folder.is_dir():
        raise ModelError(
            f"{uri!r} is neither a model folder nor a model URI "
            "(runs:/<run>/<path>, models:/<name>/<version>, models:/<name>@<stage>)"
        )
    return folder


def _run_and_path(repository: Repository, uri: str) -> tuple[RunSummary, str]:
    """The run a `runs:/` or `models:/` URI names, and the artifact path in it."""
    from gitml.registry.tags import parse_model_uri

    ref = parse_model_uri(uri)
    if ref.run is not None and ref.path is not None:  # runs:/RUN/PATH
        from gitml.tracking.catalog import resolve

        return resolve(repository, ref.run), ref.path
    from gitml.registry.resolve import resolve_model_uri

    return resolve_model_uri(repository, uri)


def write_uri_artifact(uri: str, target: Path) -> Path:
    """Write the artifact (a file or a folder: a logged model, say) that the `runs:/` or
    `models:/` URI `uri` names, in the current directory's repository, to
    `target/<its name>`; returns that path."""
    from gitml.store.paths import check_tree_path
    from gitml.tracking.export import write_artifact
    from gitml.tracking.readers import open_run

    repository = _open(None)
    summary, path = _run_and_path(repository, uri)
    name = check_tree_path(path, f"the artifact URI {uri}")[-1]
    with open_run(repository, summary) as reader:
        if not write_artifact(reader, path, target, reader.label, name):
            raise ModelError(f"{reader.label} has no artifact {path!r} (named by {uri})")
    return target / name


def _open(repo: str | os.PathLike | Repository | None) -> Repository:
    from gitml.store.repository import Repository, open_repository

    return repo if isinstance(repo, Repository) else open_repository(repo or os.getcwd())


def run_model_folder(repo: Repository, summary: RunSummary, path: str) -> Path:
    """The model at `.gitml/artifacts/<path>` of a run (committed or in progress), as a
    local folder: its files are copied out once into a cache folder named by their
    content."""
    from gitml.store.paths import check_tree_path
    from gitml.tracking.export import write_artifact
    from gitml.tracking.readers import open_run

    check_tree_path(path, f"the model reference to run {summary.name}")
    with open_run(repo, summary) as reader:
        files = [file for file in reader.artifact_files(path) if file.path != path]
        if not any(file.path == f"{path}/MLmodel" for file in files):
            folders = sorted({file.path.split("/")[0] for file in reader.artifact_files()})
            raise ModelError(
                f"{reader.label} has no model at {path!r}"
                + ("" if files else f" (it has artifacts: {', '.join(folders) or 'none'})")
            )
        named = sorted((file.path[len(path) + 1 :], file.id) for file in files)
        listing = "".join(f"{name}\0{blob}\n" for name, blob in named)
        key = hashlib.sha256(listing.encode()).hexdigest()[:32]
        folder = repo.state_dir / MODELS_CACHE / key
        if (folder / "MLmodel").is_file():
            return folder
        staging = folder.with_name(f"{key}.{os.getpid()}.tmp")
        write_artifact(reader, path, staging, reader.label)
    try:
        os.replace(staging, folder)
    except OSError:  # another process filled the cache first
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return folder
