"""The `pytorch` flavor: a `torch.nn.Module` saved as a state dict plus its architecture.

The weights go to `state_dict.pt` (read back with `weights_only=True`, which runs no
code); the architecture is the module itself with its tensors moved to the `meta` device
(no data), pickled with cloudpickle so a class defined in the training script travels
with the model. Loading rebuilds the module empty, then fills in the weights.
"""

import copy
from pathlib import Path
from typing import Any

from gitml.errors import ModelError
from gitml.models.flavors.common import FlavorSave, installed_version

FLAVOR = "pytorch"
WEIGHTS_FILE = "state_dict.pt"
ARCHITECTURE_FILE = "architecture.pkl"


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

    def __init__(self, model):
        self.model = model
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


def load(folder: Path, pyfunc: dict) -> TorchPredictor:
    import pickle

    import torch

    conf_weights = folder / pyfunc.get("model_path", WEIGHTS_FILE)
    with open(folder / ARCHITECTURE_FILE, "rb") as handle:
        skeleton = pickle.load(handle)
    model = skeleton.to_empty(device="cpu")
    try:
        model.load_state_dict(torch.load(conf_weights, weights_only=True, map_location="cpu"))
    except RuntimeError as error:
        raise ModelError(f"{folder}: the weights do not fit the architecture: {error}") from None
    model.eval()
    return TorchPredictor(model)
