"""The pointer a run's tree holds in place of a large artifact, and the names of stores.

One grammar, one place: `build_pointer` and `parse_pointer` are exact inverses (a
pointer parses only when building it again gives the same bytes), and so are
`store_name` and `parse_store`. A pointer is one line of JSON, ASCII only:

    {"gitml-pointer":1,"name":"model.bin","sha256":"<64 hex>","size":123,"store":"lfs"}

`name` is the artifact's path as it was logged (the tree path is what readers use),
`store` where the object is shared (see `parse_store`). Anything fetched may claim to
be a pointer: the parser bounds its size, and takes only these keys, in this order,
with these types.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAGIC = b'{"gitml-pointer":'
VERSION = 1
MAX_POINTER_BYTES = 8192  # an artifact path of a few thousand characters, escaped
MAX_STORE_CHARS = 1024
MAX_SIZE = 1 << 50  # a petabyte: larger is no artifact, but a hostile number
_SHA256 = r"[0-9a-f]{64}"  # patterns: compiled on first use (re keeps them)

LOCAL = "local"  # the repository's own folder, `.git/gitml/objects/`
LFS = "lfs"  # Git LFS on the remote a run is pushed to (or fetched from)
_FILE = r"file://(/[^\x00-\x1f\x7f]*)"
_S3 = r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/([^\x00-\x1f\x7f]*))?"


class Pointer(NamedTuple):
    name: str  # the artifact's path, as logged
    sha256: str  # of the artifact's bytes: the object's name in every store
    size: int
    store: str  # where the object is shared: a name `parse_store` takes


class StoreName(NamedTuple):
    """A store's name taken apart: `kind` is local, lfs, file or s3; `location` the
    folder (file), or bucket and prefix as `bucket/prefix` (s3); empty otherwise."""

    kind: str
    location: str = ""


def build_pointer(pointer: Pointer) -> bytes:
    """The bytes of `pointer` as a run's tree holds them."""
    import json

    fields = {
        "gitml-pointer": VERSION,
        "name": pointer.name,
        "sha256": pointer.sha256,
        "size": pointer.size,
        "store": pointer.store,
    }
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"


def parse_pointer(data: bytes) -> Pointer | None:
    """The pointer `data` holds; None when it is no pointer (any other file)."""
    if len(data) > MAX_POINTER_BYTES or not data.startswith(MAGIC):
        return None
    from gitml.documents import load_json
    from gitml.errors import DocumentError

    try:
        fields = load_json(data, "pointer")
    except DocumentError:  # not JSON, or nested too deep (a fetched file may be anything)
        return None
    if not isinstance(fields, dict) or list(fields) != [
        "gitml-pointer",
        "name",
        "sha256",
        "size",
        "store",
    ]:
        return None
    name, sha256, size, store = (fields[key] for key in ("name", "sha256", "size", "store"))
    if fields["gitml-pointer"] != VERSION or not isinstance(name, str):
        return None
    if not isinstance(sha256, str) or not re.fullmatch(_SHA256, sha256):
        return None
    if type(size) is not int or not 0 <= size <= MAX_SIZE:
        return None
    if not isinstance(store, str) or parse_store(store) is None:
        return None
    pointer = Pointer(name, sha256, size, store)
    return pointer if build_pointer(pointer) == data else None


def looks_like_pointer(data: bytes) -> bool:
    """Whether bytes begin as a pointer does (a small artifact that does is stored by
    content too, so that no file of a run is ever mistaken for a pointer)."""
    return data.startswith(MAGIC)


def parse_store(text: str) -> StoreName | None:
    """The store `text` names: `local`, `lfs`, `file:///absolute/folder` or
    `s3://bucket[/prefix]`; None for anything else."""
    if text in (LOCAL, LFS):
        return StoreName(text)
    if len(text) > MAX_STORE_CHARS:
        return None
    if match := re.fullmatch(_FILE, text):
        folder = match.group(1)
        if folder != "/" and folder.endswith("/") or "/../" in folder + "/":
            return None
        return StoreName("file", folder)
    if match := re.fullmatch(_S3, text):
        prefix = match.group(2)
        if prefix is not None and (
            not prefix or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix
        ):
            return None
        return StoreName("s3", match.group(1) + (f"/{prefix}" if prefix else ""))
    return None


def store_name(store: StoreName) -> str:
    """The text that names `store` (the inverse of `parse_store`)."""
    if store.kind in (LOCAL, LFS):
        return store.kind
    return f"{store.kind}://{store.location}"
