"""gitml: experiment tracking kept in your git repository.

The logging functions are MLflow's names; see `gitml.api`. They are loaded on
first use, so `import gitml` costs almost nothing and the command line does
not pay for the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitml.lazy import lazy_attributes
from gitml.version import __version__ as __version__

# public name → module that defines it
_EXPORTS = {
    "ActiveRun": "gitml.api",
    "active_run": "gitml.api",
    "end_run": "gitml.api",
    "get_params": "gitml.api",
    "get_run": "gitml.api",
    "log_artifact": "gitml.api",
    "log_artifacts": "gitml.api",
    "log_dict": "gitml.api",
    "log_figure": "gitml.api",
    "log_metric": "gitml.api",
    "log_metrics": "gitml.api",
    "log_param": "gitml.api",
    "log_params": "gitml.api",
    "log_text": "gitml.api",
    "RunInfo": "gitml.entities",
    "search_runs": "gitml.api",
    "set_experiment": "gitml.api",
    "set_tag": "gitml.api",
    "set_tags": "gitml.api",
    "start_run": "gitml.api",
    "log_model": "gitml.api",
    "save_model": "gitml.models.save",
    "load_model": "gitml.models.load",
    "infer_signature": "gitml.models.signature",
    "PythonModel": "gitml.models.flavors.pyfunc",
    "autolog": "gitml.autologging",
    "MlflowClient": "gitml.client",
    "get_tracking_uri": "gitml.client",
    "set_tracking_uri": "gitml.client",
    "create_experiment": "gitml.fluent",
    "delete_experiment": "gitml.fluent",
    "delete_run": "gitml.fluent",
    "get_artifact_uri": "gitml.fluent",
    "get_experiment": "gitml.fluent",
    "get_experiment_by_name": "gitml.fluent",
    "last_active_run": "gitml.fluent",
    "log_image": "gitml.fluent",
    "log_input": "gitml.fluent",
    "log_table": "gitml.fluent",
    "search_experiments": "gitml.fluent",
    "set_experiment_tag": "gitml.fluent",
    "set_experiment_tags": "gitml.fluent",
    # MLflow's namespaces, for scripts that `import gitml as mlflow` (docs/models.md)
    "models": "gitml.models",
    "pyfunc": "gitml.pyfunc",
    "pytorch": "gitml.pytorch",
    "sklearn": "gitml.sklearn",
    "tracking": "gitml.tracking",  # mlflow.tracking.MlflowClient
    "client": "gitml.client",  # mlflow.client.MlflowClient
    "entities": "gitml.entities",  # mlflow.entities.Run & co.
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what type checkers see; at run time each name loads on first use
    from gitml import client as client
    from gitml import entities as entities
    from gitml import models as models
    from gitml import pyfunc as pyfunc
    from gitml import pytorch as pytorch
    from gitml import sklearn as sklearn
    from gitml import tracking as tracking
    from gitml.api import ActiveRun as ActiveRun
    from gitml.api import active_run as active_run
    from gitml.api import end_run as end_run
    from gitml.api import get_params as get_params
    from gitml.api import get_run as get_run
    from gitml.api import log_artifact as log_artifact
    from gitml.api import log_artifacts as log_artifacts
    from gitml.api import log_dict as log_dict
    from gitml.api import log_figure as log_figure
    from gitml.api import log_metric as log_metric
    from gitml.api import log_metrics as log_metrics
    from gitml.api import log_model as log_model
    from gitml.api import log_param as log_param
    from gitml.api import log_params as log_params
    from gitml.api import log_text as log_text
    from gitml.api import search_runs as search_runs
    from gitml.api import set_experiment as set_experiment
    from gitml.api import set_tag as set_tag
    from gitml.api import set_tags as set_tags
    from gitml.api import start_run as start_run
    from gitml.autologging import autolog as autolog
    from gitml.client import MlflowClient as MlflowClient
    from gitml.client import get_tracking_uri as get_tracking_uri
    from gitml.client import set_tracking_uri as set_tracking_uri
    from gitml.entities import RunInfo as RunInfo
    from gitml.fluent import create_experiment as create_experiment
    from gitml.fluent import delete_experiment as delete_experiment
    from gitml.fluent import delete_run as delete_run
    from gitml.fluent import get_artifact_uri as get_artifact_uri
    from gitml.fluent import get_experiment as get_experiment
    from gitml.fluent import get_experiment_by_name as get_experiment_by_name
    from gitml.fluent import last_active_run as last_active_run
    from gitml.fluent import log_image as log_image
    from gitml.fluent import log_input as log_input
    from gitml.fluent import log_table as log_table
    from gitml.fluent import search_experiments as search_experiments
    from gitml.fluent import set_experiment_tag as set_experiment_tag
    from gitml.fluent import set_experiment_tags as set_experiment_tags
    from gitml.models.flavors.pyfunc import PythonModel as PythonModel
    from gitml.models.load import load_model as load_model
    from gitml.models.save import save_model as save_model
    from gitml.models.signature import infer_signature as infer_signature


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
