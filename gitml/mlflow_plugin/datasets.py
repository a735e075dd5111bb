"""A run's datasets (MLflow's `log_input(s)`), kept as JSON in its tag `gitml.datasets`:
the one writer for both gitml's own `log_input` and the `gitml:` store's `log_inputs`."""

from __future__ import annotations

import json

from gitml.documents import load_json
from gitml.errors import DocumentError
from gitml.tracking.record import DATASETS_TAG, MAX_VALUE_LENGTH
from gitml.tracking.staging import Staging


def add_datasets(staging: Staging, entries: list[dict]) -> None:
    """Add `entries` to the run's datasets; past a tag's length, schemas and profiles
    (what grows) are left out. A tag set by hand to something else is started anew."""
    kept = _kept(staging.read().tags.get(DATASETS_TAG))
    kept.extend(entries)
    text = json.dumps(kept, ensure_ascii=False)
    if len(text) > MAX_VALUE_LENGTH["tag"]:
        for entry in kept:
            entry.pop("schema", None)
            entry.pop("profile", None)
        text = json.dumps(kept, ensure_ascii=False)
    staging.set_tag(DATASETS_TAG, text)


def _kept(text: str | None) -> list:
    try:
        found = load_json(text, DATASETS_TAG) if text else []
    except DocumentError:
        return []
    return found if isinstance(found, list) else []
