"""Saving a model to a folder, or logging it into a run's artifacts.

A model folder holds the serialized model, an `MLmodel` file saying how to load it, its
input signature and example, and the environment it needs (`requirements.txt`,
`conda.yaml` and `python_env.yaml`, pinned to the versions installed when it was saved):
MLflow's layout, so that `mlflow.pyfunc.load_model` and `mlflow models serve` take it.
The folder is built in a temporary place and moved into position at the end: nothing
half-written remains.
"""

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gitml.errors import ModelError
from gitml.models.flavors.common import CODE_DIR, FlavorSave, installed_version
from gitml.models.mlmodel import (
    CONDA_FILE,
    INPUT_EXAMPLE_FILE,
    MLMODEL_FILE,
    PYFUNC,
    PYTHON_ENV_FILE,
    REQUIREMENTS_FILE,
    SERVING_INPUT_FILE,
    MLModel,
)

if TYPE_CHECKING:
    from gitml.tracking.staging import Staging


@dataclass
class SaveOptions:
    """How to save a model beyond the model itself."""

    signature: Any = None  # None: inferred from input_example; False: none
    input_example: object = None
    requirements: list[str] | None = None  # added to the flavor's own packages
    # python_function extra files: a local path, or a runs:/ or models:/ URI
    artifacts: dict[str, str] = field(default_factory=dict)
    predict_fn: str = "predict"  # sklearn: predict, predict_proba, ...
    code_paths: list[str] = field(default_factory=list)  # modules shipped in the folder
    serialization_format: str = "pickle"  # sklearn: pickle or cloudpickle
    metadata: dict | None = None  # MLflow's free-form metadata, kept in the MLmodel file


def options_from_mlflow(
    signature: Any,
    input_example: object,
    pip_requirements: list[str] | None,
    extra_pip_requirements: list[str] | None,
    code_paths: list[str] | None,
    metadata: dict | None,
    **flavor_options: Any,
) -> SaveOptions:
    """`SaveOptions` from the arguments MLflow's `save_model`/`log_model` take (the
    namespaces gitml.sklearn, gitml.pyfunc, gitml.pytorch spell them so)."""
    requirements = [*(pip_requirements or []), *(extra_pip_requirements or [])] or None
    return SaveOptions(
        signature,
        input_example,
        requirements,
        code_paths=list(code_paths or []),
        metadata=metadata,
        **flavor_options,
    )


@dataclass
class ModelInfo:
    """What `log_model` returns: where the model is and what its MLmodel says."""

    model_uri: str
    run_id: str
    artifact_path: str
    metadata: MLModel
    registered_model_name: str | None = None  # registered once the run is committed

    @property
    def signature(self) -> dict | None:
        return self.metadata.signature

    @property
    def flavors(self) -> dict:
        return self.metadata.flavors

    @property
    def model_uuid(self) -> str:
        return self.metadata.model_uuid


def save_model(
    model: Any,
    path: str | os.PathLike,
    signature: dict | bool | None = None,
    input_example: Any = None,
    requirements: list[str] | None = None,
    artifacts: dict[str, str] | None = None,
    predict_fn: str = "predict",
    *,
    code_paths: list[str] | None = None,
) -> MLModel:
    """Save `model` into the new (or empty) folder `path`; returns its MLmodel."""
    options = SaveOptions(signature, input_example, requirements, artifacts or {}, predict_fn)
    options.code_paths = list(code_paths or [])
    return save_with(model, path, options)


def save_with(model: Any, path: str | os.PathLike, options: SaveOptions) -> MLModel:
    """`save_model` with every option (`SaveOptions`)."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ModelError(f"{target} already exists and is not empty; choose a new folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gitml-model-") as tmp:
        folder = Path(tmp) / "model"
        metadata = write_model(model, folder, options)
        if target.exists():
            target.rmdir()
        os.replace(folder, target)
    return metadata


class LoggingRun(Protocol):
    """What logging a model needs of a run: the fluent API's `ActiveRun`."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    def has_artifact(self, path: str) -> bool: ...

    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None) -> None: ...

    @property
    def staging(self) -> "Staging": ...


def log_model(
    run: LoggingRun,
    model: Any,
    name: str,
    options: SaveOptions,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Save `model` under `run`'s artifacts as `<name>/` (through the run's own
    `log_artifact`); returns its `runs:/` URI. `gitml.log_model` logs to the active run.
    With `registered_model_name`, the model is registered as that model's next version
    once the run is committed (`gitml.models.registration`)."""
    from gitml.models.registration import check_model_name
    from gitml.registry.tags import ModelRef, model_uri
    from gitml.tracking.staging import check_artifact_name

    name = check_artifact_name(name)
    if registered_model_name is not None:
        check_model_name(registered_model_name)
    if run.has_artifact(f"{name}/{MLMODEL_FILE}"):
        raise ModelError(f"run {run.name} already has a model at {name!r}; choose another name")
    with tempfile.TemporaryDirectory(prefix="gitml-model-") as tmp:
        folder = Path(tmp) / "model"
        metadata = write_model(model, folder, options, run_id=run.id, artifact_path=name)
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            inside = file.parent.relative_to(folder).as_posix()
            run.log_artifact(file, name if inside == "." else f"{name}/{inside}")
    if registered_model_name is not None:
        run.staging.request_registration(registered_model_name, name)
    uri = model_uri(ModelRef(run=run.id, path=name))
    return ModelInfo(uri, run.id, name, metadata, registered_model_name)


def write_model(
    model: Any,
    folder: Path,
    options: SaveOptions,
    run_id: str | None = None,
    artifact_path: str | None = None,
) -> MLModel:
    """Write every file of the model folder `folder` (created here)."""
    from gitml.version import __version__

    folder.mkdir(parents=True)
    signature = _signature(options)  # a wrong one is refused before the model is written
    saved = _save_flavor(model, folder, options)
    pyfunc = {**saved.pyfunc, "env": {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}}
    if options.code_paths:
        copy_code(options.code_paths, folder / CODE_DIR)
        pyfunc["code"] = saved.conf["code"] = CODE_DIR
    flavors = {PYFUNC: pyfunc}
    if saved.flavor:
        flavors[saved.flavor] = saved.conf
    metadata = MLModel(
        flavors=flavors,
        signature=signature,
        run_id=run_id,
        artifact_path=artifact_path,
        gitml_version=__version__,
        metadata=options.metadata,
    )
    pyfunc["python_version"] = metadata.python_version
    if options.input_example is not None:
        metadata.saved_input_example_info = _write_example(options.input_example, folder)
    requirements = pinned_requirements(saved.packages, options.requirements or [])
    (folder / REQUIREMENTS_FILE).write_text("".join(f"{line}\n" for line in requirements))
    (folder / CONDA_FILE).write_text(conda_yaml(metadata.python_version, requirements))
    (folder / PYTHON_ENV_FILE).write_text(python_env_yaml(metadata.python_version))
    (folder / MLMODEL_FILE).write_text(metadata.to_yaml())
    return metadata


def _save_flavor(model, folder: Path, options: SaveOptions) -> FlavorSave:
    from gitml.models.flavors import pyfunc, pytorch, sklearn

    if sklearn.matches(model):
        return sklearn.save(model, folder, options.predict_fn, options.serialization_format)
    if pytorch.matches(model):
        return pytorch.save(model, folder)
    if pyfunc.matches(model):
        with tempfile.TemporaryDirectory(prefix="gitml-artifacts-") as tmp:
            sources = _artifact_sources(options.artifacts, Path(tmp))
            return pyfunc.save(model, folder, sources)
    raise ModelError(
        f"cannot save a {type(model).__module__}.{type(model).__name__}: pass a scikit-learn "
        "estimator, a torch.nn.Module, a gitml.PythonModel, an object with a predict method "
        "or a function"
    )


def copy_code(code_paths: list[str], code_dir: Path) -> None:
    """Each file or folder of `code_paths` into `code_dir`, under its own name (MLflow's
    `code_paths`: the folder goes on `sys.path` when the model is loaded)."""
    import shutil

    code_dir.mkdir()
    for source in map(Path, code_paths):
        if not source.exists():
            raise ModelError(f"code path {source} does not exist")
        target = code_dir / source.name
        if target.exists():
            raise ModelError(f"two code paths are named {source.name!r}; rename one")
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, target)


def _artifact_sources(artifacts: dict[str, str], into: Path) -> dict[str, Path]:
    """Each artifact's local file or folder: the path given, or the artifact a `runs:/` or
    `models:/` URI names (another logged model, say), written out under `into`."""
    from gitml.models.load import write_uri_artifact
    from gitml.registry.tags import is_model_uri

    sources = {}
    for name, source in artifacts.items():
        text = os.fspath(source)
        if is_model_uri(text):
            sources[name] = write_uri_artifact(text, into / str(name))
        else:
            sources[name] = Path(text)
    return sources


def _signature(options: SaveOptions) -> dict | None:
    from gitml.models.signature import infer_signature, validate_signature
    from gitml.models.signature_json import from_mlmodel

    if options.signature is False:
        return None
    if type(options.signature).__module__.startswith("mlflow."):  # MLflow's ModelSignature
        converted = from_mlmodel(options.signature.to_dict(), "the signature")
        return validate_signature(converted) if converted else None
    if isinstance(options.signature, dict):
        if "inputs" not in options.signature:
            raise ModelError("a signature is a dict with an 'inputs' entry (see infer_signature)")
        return validate_signature(options.signature)
    if options.signature is not None:
        return infer_signature(options.signature)  # an example table or array
    if options.input_example is None:
        return None
    data, params = split_example(options.input_example)
    return infer_signature(data, params=params)


def split_example(example: object) -> tuple[object, dict | None]:
    """(data, params) of an input example: MLflow's `(data, {name: value})` form declares
    the params `predict` takes, with those values as their defaults."""
    if isinstance(example, tuple) and len(example) == 2 and isinstance(example[1], dict):
        return example
    return example, None


def _write_example(example, folder: Path) -> dict:
    """Write the example as MLflow does: the data itself (`input_example.json`) and as a
    scoring request (`serving_input_example.json`); returns the MLmodel's entry for them."""
    import numpy as np

    from gitml.models.inputs import to_jsonable, to_model_input

    example, params = split_example(example)
    data = to_model_input(example)
    info = {"artifact_path": INPUT_EXAMPLE_FILE}
    if isinstance(data, np.ndarray):
        stored: object = to_jsonable(data)
        request = {"inputs": stored}
        info["type"] = "ndarray"
    else:
        stored = {"columns": [str(c) for c in data.columns], "data": _rows(data)}
        request = {"dataframe_split": stored}
        info.update(type="dataframe", pandas_orient="split")
    if params:
        stored = {"data": stored, "params": to_jsonable(params)}
        request["params"] = to_jsonable(params)
        info["params"] = "true"
    (folder / INPUT_EXAMPLE_FILE).write_text(json.dumps(stored))
    (folder / SERVING_INPUT_FILE).write_text(json.dumps(request, indent=1))
    info["serving_input_path"] = SERVING_INPUT_FILE
    return info


def _rows(frame) -> list:
    """The rows of a DataFrame as JSON values, numbers exact (pandas' own JSON keeps ten
    digits), missing values null, times in ISO format."""
    from gitml.models.inputs import to_jsonable

    def plain(value: object) -> object:
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if hasattr(value, "item"):
            return value.item()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        raise TypeError(f"an example value of type {type(value).__name__} is not JSON")

    return json.loads(json.dumps(to_jsonable(frame.to_numpy(dtype=object)), default=plain))


def pinned_requirements(packages: list[str], extra: list[str]) -> list[str]:
    """`name==version` of each installed package, then the caller's own lines."""
    from gitml.envs.versions import canonical_name, parse_requirement

    lines: dict[str, str] = {}
    for line in [*packages, *extra]:
        if line.strip().startswith("-"):  # a pip option (--extra-index-url, -r file): kept
            lines[line.strip()] = line.strip()
            continue
        requirement = parse_requirement(line)
        if requirement is None:
            raise ModelError(
                f"requirement {line!r} is not one pip reads (name, extras, version, marker)"
            )
        key = canonical_name(requirement.name)
        if str(requirement) != requirement.name:  # a version, extras, marker or URL: kept
            lines[key] = line.strip()
            continue
        version = installed_version(requirement.name)
        if version is not None:
            lines[key] = f"{requirement.name}=={version}"
        elif line in extra:
            lines[key] = requirement.name
    return list(lines.values())


def python_env_yaml(python_version: str) -> str:
    """MLflow's `python_env.yaml`: the Python version, the tools that install the
    packages (pinned to those installed here), and the packages of requirements.txt."""
    import yaml

    tools = []
    for tool in ("pip", "setuptools", "wheel"):
        version = installed_version(tool)
        tools.append(f"{tool}=={version}" if version else tool)
    spec = {
        "python": python_version,
        "build_dependencies": tools,
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    return yaml.safe_dump(spec, sort_keys=False)


def conda_yaml(python_version: str, requirements: list[str]) -> str:
    import yaml

    spec = {
        "name": "gitml-model",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version}", "pip", {"pip": requirements}],
    }
    return yaml.safe_dump(spec, sort_keys=False)
