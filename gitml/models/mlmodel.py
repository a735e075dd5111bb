"""The `MLmodel` file: what a model folder holds and how to load it (YAML, MLflow's layout).

The file is MLflow's: MLflow reads the folders gitml writes (the signature's schemas are
JSON strings, see `gitml.models.signature_json`), and gitml reads the folders MLflow
writes. The file is read whole, signature included, before any of the model is loaded.
"""

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import ModelError
from gitml.models.signature_json import from_mlmodel, to_mlmodel

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"
CONDA_FILE = "conda.yaml"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
INPUT_EXAMPLE_FILE = "input_example.json"  # the example itself, as MLflow writes it
SERVING_INPUT_FILE = "serving_input_example.json"  # the example as a scoring request


@dataclass
class MLModel:
    """The parsed `MLmodel` file of one model folder."""

    flavors: dict[str, dict]
    signature: dict | None = None
    run_id: str | None = None
    artifact_path: str | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    )
    python_version: str = field(default_factory=lambda: ".".join(map(str, sys.version_info[:3])))
    gitml_version: str = ""
    saved_input_example_info: dict | None = None
    metadata: dict | None = None  # MLflow's free-form `metadata` entry

    @property
    def loader_module(self) -> str:
        return self.flavors[PYFUNC]["loader_module"]

    def get_input_schema(self) -> list | dict | None:
        """The signature's inputs (MLflow's name for them)."""
        return (self.signature or {}).get("inputs")

    def to_dict(self) -> dict:
        data = {
            "artifact_path": self.artifact_path,
            "flavors": self.flavors,
            "gitml_version": self.gitml_version,
            "model_uuid": self.model_uuid,
            "python_version": self.python_version,
            "run_id": self.run_id,
            "signature": to_mlmodel(self.signature),
            "utc_time_created": self.utc_time_created,
        }
        if self.saved_input_example_info:
            data["saved_input_example_info"] = self.saved_input_example_info
        if self.metadata:
            data["metadata"] = self.metadata
        return data

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    @classmethod
    def from_yaml(cls, text: str, where: str) -> "MLModel":
        from gitml.documents import load_yaml

        data = load_yaml(text, f"{where}/{MLMODEL_FILE}")
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
            raise ModelError(f"{where}: the MLmodel file has no 'flavors' section")
        pyfunc = data["flavors"].get(PYFUNC)
        if not isinstance(pyfunc, dict) or "loader_module" not in pyfunc:
            flavors = ", ".join(map(str, data["flavors"])) or "none"
            raise ModelError(
                f"{where}: the model has no python_function flavor (flavors: {flavors}), "
                "so gitml cannot load it as a function"
            )
        if not all(isinstance(conf, dict | None) for conf in data["flavors"].values()):
            raise ModelError(f"{where}: the MLmodel's flavors are not each a mapping")
        example = data.get("saved_input_example_info")
        metadata = data.get("metadata")
        return cls(
            flavors=data["flavors"],
            signature=_signature(data.get("signature"), where),
            run_id=_text(data.get("run_id")),
            artifact_path=_text(data.get("artifact_path")),
            model_uuid=str(data.get("model_uuid") or ""),
            utc_time_created=str(data.get("utc_time_created") or ""),
            python_version=str(pyfunc.get("python_version") or data.get("python_version") or ""),
            gitml_version=str(data.get("gitml_version") or ""),
            saved_input_example_info=example if isinstance(example, dict) else None,
            metadata=metadata if isinstance(metadata, dict) else None,
        )

    @classmethod
    def read(cls, folder: Path) -> "MLModel":
        from gitml.documents import read_text

        path = Path(folder) / MLMODEL_FILE
        if not path.is_file():
            raise ModelError(
                f"{folder} is not a model folder: it has no MLmodel file "
                "(save one with gitml.save_model or gitml.log_model)"
            )
        return cls.from_yaml(read_text(path), str(folder))

    @classmethod
    def load(cls, path: str | Path) -> "MLModel":
        """The MLmodel file of a model folder, or that file itself (MLflow's `Model.load`)."""
        path = Path(path)
        return cls.read(path.parent if path.name == MLMODEL_FILE and path.is_file() else path)


Model = MLModel  # MLflow's name: `gitml.models.Model.load(path)`


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _signature(signature: object, where: str) -> dict | None:
    """The MLmodel's signature as gitml works on it, checked (ModelError if malformed)."""
    from gitml.models.params import validate_param_specs
    from gitml.models.signature import validate_signature

    read = from_mlmodel(signature, f"{where}: the MLmodel's signature")
    try:
        if read is not None and "inputs" in read:
            return validate_signature(read)
        if read is not None:
            validate_param_specs(read["params"])
        return read
    except ModelError as error:
        raise ModelError(f"{where}: the MLmodel's signature is malformed: {error}") from None
