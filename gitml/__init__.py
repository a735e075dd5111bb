"""gitml: experiment tracking kept in your git repository.

The logging functions are MLflow's names; see `gitml.api`. They are loaded on
first use, so `import gitml` costs almost nothing and the command line does
not pay for the API.
"""

from __future__ import annotations

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
    "RunInfo": "gitml.api",
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
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals())
