"""An mlruns folder (MLflow's folder store) checked before MLflow's client reads it, and
its metric histories read as a stream.

MLflow's folder store reads each meta.yaml with PyYAML, each param, tag and metric file
whole, follows symbolic links and opens FIFOs as files; and its client pages through a
metric's history by reading the whole file again for each page of 25,000 points (a
million points took more than five minutes). So a folder handed to `gitml import
mlflow` is walked first: a link, a FIFO or device, a file over its limit, a meta.yaml
with YAML aliases (which MLflow never writes; a few lines of them make a structure of
billions of items) or nesting past MAX_DEPTH refuses the import in one line naming the
file, before anything is written. Artifacts are not walked here: they are read inside
the folder only, never through a link (`importer.MlflowSource._local_files`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from gitml.errors import MlflowImportError
from gitml.values import shown

META_LIMIT = 1 << 20  # a meta.yaml is a few hundred bytes
VALUE_LIMIT = 1 << 20  # a param or tag file (MLflow caps values at 8,000 characters)
# A metric file: MLflow's client holds every point of one in memory (some 500 bytes a
# point), so 32 MiB (about a million points) costs it some 500 MB.
METRIC_LIMIT = 32 << 20
MAX_DEPTH = 32  # folders below the root: MLflow's own layout is 5 deep, keys add a few
MAX_LINE = 4096  # a metric line is some 40 bytes
Point = tuple[float, int, int]  # value, step, timestamp (ms)


def check_mlruns(root: Path) -> None:
    """Refuse `root` when MLflow's folder store would read something there it must not."""
    for current, folders, files in os.walk(root):
        here = Path(current)
        relative = here.relative_to(root)
        if len(relative.parts) >= MAX_DEPTH:
            raise _refused(root, relative, f"is nested over {MAX_DEPTH} folders deep")
        if "meta.yaml" in files and "artifacts" in folders:  # a run's or logged model's
            folders.remove("artifacts")
        for name in folders + files:
            _check_entry(root, relative / name)
        folders.sort()


def _check_entry(root: Path, relative: Path) -> None:
    path = root / relative
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise _refused(root, relative, "is a symbolic link, which MLflow would follow")
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        raise _refused(root, relative, "is no regular file (a FIFO, socket or device)")
    limit = _limit(relative)
    if info.st_size > limit:
        raise _refused(
            root,
            relative,
            f"holds {info.st_size:,} bytes, over the {limit:,} gitml lets MLflow read "
            "from such a file",
        )
    if relative.name == "meta.yaml" and _has_aliases(path):
        raise _refused(root, relative, "uses YAML aliases, which MLflow never writes")


def _limit(relative: Path) -> int:
    if relative.name == "meta.yaml":
        return META_LIMIT
    if "metrics" in relative.parts[:-1]:
        return METRIC_LIMIT
    if "params" in relative.parts[:-1] or "tags" in relative.parts[:-1]:
        return VALUE_LIMIT
    return 1 << 62  # another file MLflow does not read whole (traces, datasets)


def _has_aliases(path: Path) -> bool:
    data = path.read_bytes()
    if b"*" not in data and b"&" not in data:
        return False
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(data, Loader=loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                return True
    except yaml.YAMLError:
        return False  # MLflow refuses it in its own words
    return False


def _refused(root: Path, relative: Path, problem: str) -> MlflowImportError:
    return MlflowImportError(
        f"{shown(relative.as_posix(), 300)} in MLflow folder {shown(str(root), 300)} {problem}: "
        "nothing imported; remove it (or the run holding it) and import again"
    )


def metric_points(root: Path, experiment_id: str, run_id: str, key: str) -> Iterator[Point | str]:
    """The points of metric `key` of a run of folder `root`, one line at a time (MLflow's
    `timestamp value [step [dataset digest]]`), in the file's order; a damaged line
    gives the reason it cannot be read instead."""
    parts = [experiment_id, run_id, "metrics", *key.split("/")]
    named = shown("/".join(parts))
    if (
        any(part in ("", ".", "..") or "\\" in part for part in parts)
        or "/" in run_id + experiment_id
    ):
        yield f"its metric file {named} is no path inside the folder"
        return
    path = root.joinpath(*parts)
    if path.is_symlink() or not path.is_file():
        yield f"its metric file {named} is no regular file"
        return
    with path.open("rb") as lines:
        number = 0
        while line := lines.readline(MAX_LINE):
            number += 1
            if not line.endswith(b"\n") and len(line) == MAX_LINE:  # too long: the rest
                while (rest := lines.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                yield f"line {number} is longer than {MAX_LINE} bytes"
                continue
            point = _point(line)
            yield point if point is not None else f"line {number} is no metric point"


def _point(line: bytes) -> Point | None:
    fields = line.strip().split(b" ")
    if len(fields) not in (2, 3, 5):
        return None
    try:
        return float(fields[1]), int(fields[2]) if len(fields) > 2 else 0, int(fields[0])
    except ValueError:
        return None
