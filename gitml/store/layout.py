"""Where gitml keeps what it writes: every folder and file name shared by more than one
module, spelled once (docs/format.md describes them).

- The record folder `.gitml/` in a run commit's tree (reserved in the work tree too):
  `run.json`, `params.yaml`, `metrics/<key>.tsv`, `artifacts/…`, `env/…`,
  `logs/output.txt`. `record_path(ARTIFACTS_DIR, "model")` is `.gitml/artifacts/model`.
- gitml's local state, `<git common dir>/gitml/` (`.git/gitml/` in a plain
  repository; `Repository.state_dir`): a staging folder per run in progress under
  `runs/<id>/` (its head in `meta.json`, then `metrics/`, `artifacts/`, `env/` and
  `output.txt` as the record names them), scratch indexes, locks, name claims,
  runs being recovered, registry pushes pending and disposable caches (the run
  index, `cache/runs.sqlite`; long metrics parsed, `cache/points/`).
"""

from __future__ import annotations

import os
from pathlib import Path

# the record, in a run commit's tree
RECORD_DIR = ".gitml"
RUN_FILE = "run.json"
PARAMS_FILE = "params.yaml"
METRICS_DIR = "metrics"  # one <key>.tsv file per metric (record.key_to_filename)
ARTIFACTS_DIR = "artifacts"
ENV_DIR = "env"  # the environment spec in force and what was installed
ENV_FREEZE_FILE = "pip-freeze.txt"  # in ENV_DIR
OUTPUT_FILE = "output.txt"  # captured output: logs/ in the record, the top of a staging folder
LOGS_DIR = "logs"


def record_path(*parts: str) -> str:
    """A path in a run commit's tree, under the record folder."""
    return "/".join((RECORD_DIR, *parts))


RECORD_ARTIFACTS = record_path(ARTIFACTS_DIR)  # .gitml/artifacts
RECORD_METRICS = record_path(METRICS_DIR)  # .gitml/metrics


# gitml's local state, in the git common dir
STATE_DIR = "gitml"
RUNS_DIR = "runs"  # a staging folder per run in progress
META_FILE = "meta.json"  # a staging folder's head, written once at start
TMP_DIR = "tmp"  # scratch indexes of snapshots, checkouts and backups
LOCKS_DIR = "locks"
NAME_CLAIMS_DIR = "names"  # a file per run name being claimed
RECOVERING_DIR = "recovering"  # staging folders a recovery has claimed
REGISTRY_PENDING_FILE = "registry-pending"  # registry tags not yet pushed
OBJECTS_DIR = "objects"  # large artifacts by sha256 (gitml.store.cas.folder), shared by runs
MLFLOW_EXPERIMENTS_FILE = "mlflow-experiments.jsonl"  # experiments MLflow made, no run yet
SWEEPS_DIR = "sweeps"  # a folder per sweep: its journal storage, its driver's lock
FOLD_LOG_FILE = "fold.log"  # what a background fold could not do, until a command reports it
CACHE_DIR = "cache"  # disposable: rebuilt from refs
MODELS_CACHE = f"{CACHE_DIR}/models"
POINTS_CACHE = f"{CACHE_DIR}/points"  # long metrics parsed, a file per blob (gitml.ui.points_cache)
# The run index (gitml.tracking.index): SQLite, with its -wal and -shm files beside it;
# its schema version is inside (PRAGMA user_version).
INDEX_FILE = f"{CACHE_DIR}/runs.sqlite"
INDEX_LOCK = "index"  # held while the index file is built or replaced (store.locks)
# The caches the index replaced (names, then summaries as JSON: 65 MB at 100k runs);
# removed when the index is first built.
REPLACED_CACHES = (f"{CACHE_DIR}/names.v3.tsv", f"{CACHE_DIR}/summaries.v2.json")


def may_need_recovery(state_dir: Path) -> bool:
    """Whether a recovery of abandoned runs (`gitml.tracking.recovery`) could find
    anything to do: some staging folder, claim or scratch index exists. One folder
    listing each, so that a command spares importing the recovery when there is none."""
    for name in (RUNS_DIR, RECOVERING_DIR, TMP_DIR):
        try:
            with os.scandir(state_dir / name) as entries:
                if any(True for _ in entries):
                    return True
        except OSError:
            continue
    return False
