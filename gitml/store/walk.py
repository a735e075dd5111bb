"""Walking a folder without recursion.

Python 3.11's `os.walk` and `Path.rglob` call themselves once per level, so a folder
nested a thousand levels deep (a path of 2,000 characters is enough) ends them with
RecursionError. This walk keeps its own stack. Files only, no git: the logging API
uses it too (log_artifacts) and must stay light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def walk(top: str | os.PathLike) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk(top)`: (folder, its folder names, its other names), top-down, links to
    folders listed as folders but not entered; a caller may prune the folder names."""
    pending = [os.fspath(top)]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        folders: list[str] = []
        files: list[str] = []
        for entry in entries:
            try:
                is_folder = entry.is_dir()
            except OSError:
                is_folder = False
            (folders if is_folder else files).append(entry.name)
        yield current, folders, files
        for name in reversed(folders):
            path = os.path.join(current, name)
            if not os.path.islink(path):
                pending.append(path)
