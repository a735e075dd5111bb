"""The `pytorch` flavor: a `torch.nn.Module` saved as a state dict plus its architecture.

The weights go to `state_dict.pt` (read back with `weights_only=True`, which runs no
code); the architecture is the module itself with its tensors moved to the `meta` device
(no data), pickled with cloudpickle so a class defined in the training script travels
with the model. Loading rebuilds the module empty, then fills in the weights.

Folders MLflow saved load too: `data/model.pt2` (`torch.export`, MLflow 3's default)
or `data/model.pth` (the whole module pickled, read with `weights_only=False`).
"""

import copy
from pathlib import Path
from typing import Any

from gitml.errors import ModelError
from gitml.models.flavors.common import FlavorSave, add_code_path, inside, installed_version
from gitml.models.mlmodel import PYFUNC, MLModel

FLAVOR = "pytorch"
WEIGHTS_FILE = "state_dict.pt"
ARCHITECTURE_FILE = "architecture.pkl"
MLFLOW_PICKLED = "model.pth"
MLFLOW_EXPORTED = "model.pt2"
MLFLOW_PICKLE_MODULE_FILE = "pickle_module_info.txt"
# the pickle modules MLflow saves with; each is read with the standard unpickler
MLFLOW_PICKLE_MODULES = ("mlflow.pytorch.pickle_module", "cloudpickle", "pickle")


def matches(model: object) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def save(model: Any, folder: Path) -> FlavorSave:
    import cloudpickle
    import torch

    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    skeleton = copy.deepcopy(model).to("meta")
    with open(folder / ARCHITECTURE_FILE, "wb") as handle:
        cloudpickle.dump(skeleton, handle)
    return FlavorSave(
        flavor=FLAVOR,
        conf={
            "state_dict": WEIGHTS_FILE,
            "architecture": ARCHITECTURE_FILE,
            "pytorch_version": installed_version("torch"),
        },
        pyfunc={"loader_module": __name__, "model_path": WEIGHTS_FILE},
        packages=["torch", "numpy", "cloudpickle"],
    )


class TorchPredictor:
    """Runs the module in inference mode on a tensor made from the checked input.

    Floating-point input takes the weights' type; integer input stays integer (token ids),
    so a float model fed whole numbers needs a signature (which casts them) or floats.
    """

    takes_named_arrays = True

    def __init__(self, model, set_eval: bool = True):
        self.model = model.eval() if set_eval else model  # an exported program has no eval()
        first = next(model.parameters(), None)
        self.dtype = first.dtype if first is not None else None

    def predict(self, data: Any, params: dict | None = None) -> Any:
        import numpy as np
        import torch

        if hasattr(data, "to_numpy"):
            array = data.to_numpy()
        else:
            array = data.values if hasattr(data, "columns") else np.asarray(data)
        tensor = torch.as_tensor(array)
        if tensor.is_floating_point() and self.dtype is not None:
            tensor = tensor.to(self.dtype)  # float64 from numpy/JSON → the weights' type
        with torch.inference_mode():
            output = self.model(tensor)
        return output.numpy() if isinstance(output, torch.Tensor) else output


def load(folder: Path, metadata: MLModel) -> TorchPredictor:
    """The module of a folder gitml saved (weights + architecture) or MLflow saved."""
    import pickle

    import torch

    pyfunc = metadata.flavors[PYFUNC]
    if "data" in pyfunc:
        return _load_mlflow(folder, pyfunc)
    conf_weights = inside(folder, pyfunc.get("model_path", WEIGHTS_FILE), "pytorch model_path")
    add_code_path(folder, pyfunc)
    with open(folder / ARCHITECTURE_FILE, "rb") as handle:
        skeleton = pickle.load(handle)
    model = skeleton.to_empty(device="cpu")
    try:
        model.load_state_dict(torch.load(conf_weights, weights_only=True, map_location="cpu"))
    except RuntimeError as error:
        raise ModelError(f"{folder}: the weights do not fit the architecture: {error}") from None
    return TorchPredictor(model)


def _load_mlflow(folder: Path, pyfunc: dict) -> TorchPredictor:
    import pickle

    import torch

    data = inside(folder, pyfunc["data"], "pytorch data folder")
    exported = data / MLFLOW_EXPORTED
    pickled = data / MLFLOW_PICKLED
    add_code_path(folder, pyfunc)
    if exported.is_file() and not pickled.is_file():
        return TorchPredictor(torch.export.load(exported).module(), set_eval=False)
    if not pickled.is_file():
        raise ModelError(
            f"{folder}: {data.name}/ holds neither {MLFLOW_EXPORTED} nor {MLFLOW_PICKLED}"
        )
    module_file = data / MLFLOW_PICKLE_MODULE_FILE
    named = module_file.read_text().strip() if module_file.is_file() else "pickle"
    if named not in MLFLOW_PICKLE_MODULES:
        raise ModelError(
            f"{folder}: the model names the pickle module {named[:100]!r}; gitml reads models "
            f"pickled with {', '.join(MLFLOW_PICKLE_MODULES)} only"
        )
    model = torch.load(pickled, weights_only=False, map_location="cpu", pickle_module=pickle)
    return TorchPredictor(model)


def _load_pyfunc(path: str, model_config: dict | None = None) -> Any:
    """MLflow's entry point, for the folders whose MLmodel names this module."""
    from gitml.models.load import mlflow_entry

    return mlflow_entry(path)
