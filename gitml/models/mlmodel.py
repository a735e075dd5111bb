"""The `MLmodel` file: what a model folder holds and how to load it (YAML, MLflow's layout)."""

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gitml.errors import ModelError

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"
CONDA_FILE = "conda.yaml"
REQUIREMENTS_FILE = "requirements.txt"
INPUT_EXAMPLE_FILE = "input_example.json"


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
    saved_input_example: str | None = None

    @property
    def loader_module(self) -> str:
        return self.flavors[PYFUNC]["loader_module"]

    def to_dict(self) -> dict:
        data = {
            "artifact_path": self.artifact_path,
            "flavors": self.flavors,
            "gitml_version": self.gitml_version,
            "model_uuid": self.model_uuid,
            "python_version": self.python_version,
            "run_id": self.run_id,
            "signature": self.signature,
            "utc_time_created": self.utc_time_created,
        }
        if self.saved_input_example:
            data["saved_input_example_info"] = {"artifact_path": self.saved_input_example}
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
        if PYFUNC not in data["flavors"] or "loader_module" not in data["flavors"][PYFUNC]:
            flavors = ", ".join(data["flavors"]) or "none"
            raise ModelError(
                f"{where}: the model has no python_function flavor (flavors: {flavors}), "
                "so gitml cannot load it as a function"
            )
        example = (data.get("saved_input_example_info") or {}).get("artifact_path")
        return cls(
            flavors=data["flavors"],
            signature=data.get("signature"),
            run_id=data.get("run_id"),
            artifact_path=data.get("artifact_path"),
            model_uuid=str(data.get("model_uuid") or ""),
            utc_time_created=str(data.get("utc_time_created") or ""),
            python_version=str(data.get("python_version") or ""),
            gitml_version=str(data.get("gitml_version") or ""),
            saved_input_example=example,
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
