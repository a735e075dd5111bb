"""gitml: experiment tracking kept in your git repository.

The logging functions are MLflow's names; see `gitml.api`.
"""

from gitml.api import (
    ActiveRun,
    active_run,
    end_run,
    get_params,
    get_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_tag,
    set_tags,
    start_run,
)

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "get_params",
    "get_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]
