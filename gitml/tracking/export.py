"""Writing a run's artifact out to a folder: `gitml model get`, the model cache.

A run's files may come from a remote: every path is checked, and every destination on
disk, before anything is written (UnsafePathError names `where` they came from). A
symbolic link is written as a file holding its target.
"""

import os
from pathlib import Path

from gitml.store.layout import ARTIFACTS_DIR
from gitml.store.paths import check_tree_files, destination
from gitml.tracking.readers import RunReader


def write_artifact(
    reader: RunReader, path: str, root: Path, where: str, name: str = ""
) -> list[Path]:
    """Write the artifact file or folder `path` of the run `reader` reads into folder
    `root`: as `root/name`, or, for a folder and no `name`, its content right in `root`.
    Returns the files written; none when the run has no artifact `path`."""
    files = reader.artifact_files(path)
    if len(files) == 1 and files[0].path == path:  # a file
        planned = [(name or path.rsplit("/", 1)[-1], files[0])]
    else:
        prefix = f"{name}/" if name else ""
        planned = [(prefix + file.path[len(path) + 1 :], file) for file in files]
    check_tree_files([(relative, file.mode) for relative, file in planned], where)
    targets = [destination(root, relative, where) for relative, _ in planned]
    for target, (_, file) in zip(targets, planned, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            for block in reader.file_blocks(f"{ARTIFACTS_DIR}/{file.path}") or ():
                out.write(block)
    return targets
