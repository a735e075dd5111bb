"""The size settings of runs, each read from git config, else the project file's
`limits`, else its default (docs/tracking.md#settings-git-config):

- `gitml.artifactSizeLimit` (`limits.artifact_size`): the largest artifact a run
  stores; none by default, as large ones are stored by content;
- `gitml.snapshotFileLimit` (`limits.snapshot_file_size`): the largest untracked file
  the code snapshot takes (10 MiB): a dataset beside the code stays out of every run;
- `gitml.largeArtifactThreshold` (`limits.large_artifact_threshold`): an artifact over
  it is stored by content, outside git (10 MiB);
- `gitml.metricHistoryLimit` (`limits.metric_history_size`): the largest history of one
  metric, in bytes of its file (64 MiB, some 2 million points): `log_metric` refuses a
  point past it, and every reader refuses a larger history before reading it (git
  compresses a repetitive one a thousandfold: a fetched run's 30 MB history is 30 KB on
  the wire).

Two settings, not one: raising the artifact limit to store a model once made every
run snapshot a 2 GiB dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitml.errors import InvalidValueError
from gitml.store.config import read_config
from gitml.store.repository import Repository, parse_size

DEFAULT_SNAPSHOT_FILE_LIMIT = 10 << 20
DEFAULT_LARGE_THRESHOLD = 10 << 20
DEFAULT_METRIC_HISTORY_LIMIT = 64 << 20


@dataclass(frozen=True)
class Setting:
    config: str  # git config name
    limit: str  # the project file's name for it, under `limits:`
    default: int | None


ARTIFACT_LIMIT = Setting("gitml.artifactSizeLimit", "artifact_size", None)
SNAPSHOT_FILE_LIMIT = Setting(
    "gitml.snapshotFileLimit", "snapshot_file_size", DEFAULT_SNAPSHOT_FILE_LIMIT
)
LARGE_THRESHOLD = Setting(
    "gitml.largeArtifactThreshold", "large_artifact_threshold", DEFAULT_LARGE_THRESHOLD
)

METRIC_HISTORY_LIMIT = Setting(
    "gitml.metricHistoryLimit", "metric_history_size", DEFAULT_METRIC_HISTORY_LIMIT
)


@dataclass(frozen=True)
class Limits:
    artifact: int | None  # largest artifact; None: no limit
    snapshot_file: int  # largest untracked file snapshotted
    large_threshold: int  # artifacts over it are stored by content
    metric_history: int  # bytes of one metric's file


def run_limits(repo: Repository) -> Limits:
    """Every size setting of a new run (InvalidValueError names a malformed one)."""
    artifact = size_setting(repo, ARTIFACT_LIMIT)
    snapshot = size_setting(repo, SNAPSHOT_FILE_LIMIT)
    threshold = size_setting(repo, LARGE_THRESHOLD)
    assert snapshot is not None and threshold is not None  # they have defaults
    return Limits(artifact, snapshot, threshold, metric_history_limit(repo))


def metric_history_limit(repo: Repository) -> int:
    """The largest metric file gitml writes or reads (InvalidValueError names a
    malformed setting)."""
    limit = size_setting(repo, METRIC_HISTORY_LIMIT)
    assert limit is not None  # it has a default
    return limit


def size_setting(repo: Repository, setting: Setting) -> int | None:
    """`setting` in bytes: git config wins over the project file, then its default."""
    value = read_config(repo).get(setting.config)
    if value is None:
        # imported here: a run's logging API reads this module's defaults under the
        # oldest Python a user's script may run on, and the project file's reader is not
        # its source (tests/test_logging_api_old_python.py)
        from gitml.project_file import repository_project

        project = repository_project(repo)
        found = project.limit(setting.limit) if project else None
        return setting.default if found is None else found
    try:
        size = parse_size(value)
    except ValueError:
        size = 0
    if size <= 0:  # a limit of zero or less would leave every untracked file out
        raise InvalidValueError(
            f"{setting.config} is {value!r}; set a positive number of bytes, e.g. 20m"
        )
    return size
