"""The pointer a run's tree holds for an artifact stored by content, and store names:
one grammar whose build and parse are exact inverses; anything else parses as no
pointer (a fetched tree may hold any bytes)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.store.cas.pointer import (
    MAX_POINTER_BYTES,
    Pointer,
    StoreName,
    build_pointer,
    parse_pointer,
    parse_store,
    store_name,
)

SHA = "ab" * 32
stores = st.sampled_from(
    ["local", "lfs", "file:///mnt/models", "file:///", "s3://bucket", "s3://my.bucket/a/b-c"]
)
pointers = st.builds(
    Pointer,
    name=st.text(min_size=1, max_size=200),
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    size=st.integers(0, 1 << 50),
    store=stores,
)


@given(pointers)
def test_parse_is_the_inverse_of_build(pointer):
    data = build_pointer(pointer)
    assert parse_pointer(data) == pointer
    assert data.isascii() and data.endswith(b"\n") and data.count(b"\n") == 1


def test_a_pointer_reads_as_one_line_of_json():
    data = build_pointer(Pointer("model/weights.bin", SHA, 1234, "lfs"))
    assert data == (
        b'{"gitml-pointer":1,"name":"model/weights.bin","sha256":"' + SHA.encode() + b'",'
        b'"size":1234,"store":"lfs"}\n'
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b'{"gitml-pointer":1}',
        # keys in another order, spaces, a missing newline: no pointer gitml wrote
        b'{"name":"m","gitml-pointer":1,"sha256":"' + SHA.encode() + b'","size":1,"store":"lfs"}\n',
        b'{"gitml-pointer":1, "name":"m","sha256":"'
        + SHA.encode()
        + b'","size":1,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"' + SHA.encode() + b'","size":1,"store":"lfs"}',
        # wrong types and values
        b'{"gitml-pointer":2,"name":"m","sha256":"' + SHA.encode() + b'","size":1,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"'
        + SHA.upper().encode()
        + b'","size":1,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"abc","size":1,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"'
        + SHA.encode()
        + b'","size":-1,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"'
        + SHA.encode()
        + b'","size":true,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"'
        + SHA.encode()
        + b'","size":1e3,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"'
        + SHA.encode()
        + b'","size":1,"store":"ftp://x"}\n',
        b'{"gitml-pointer":1,"name":7,"sha256":"' + SHA.encode() + b'","size":1,"store":"lfs"}\n',
        b'{"gitml-pointer":1,"name":"m","sha256":"'
        + SHA.encode()
        + b'","size":1,"store":"lfs","x":1}\n',
        b'{"gitml-pointer":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",  # nested without end
    ],
)
def test_anything_else_is_no_pointer(data):
    assert parse_pointer(data) is None


def test_a_pointer_over_the_bound_is_not_read():
    name = "n" * MAX_POINTER_BYTES
    data = json.dumps({"gitml-pointer": 1, "name": name}).encode()
    assert parse_pointer(data) is None


@given(stores)
def test_store_names_round_trip(text):
    parsed = parse_store(text)
    assert parsed is not None and store_name(parsed) == text


def test_store_names_taken_apart():
    assert parse_store("s3://bucket/models/v1") == StoreName("s3", "bucket/models/v1")
    assert parse_store("file:///mnt/nfs/objects") == StoreName("file", "/mnt/nfs/objects")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "LFS",
        "file://relative",
        "file:///a/../b",
        "file:///a/",
        "file:///a\nb",
        "s3://",
        "s3://B",
        "s3://bucket/",
        "s3://bucket//x",
        "s3://bucket/a\x1b[31m",
        "http://example.com",
        "file:///" + "x" * 2000,
    ],
)
def test_other_store_names_are_refused(text):
    assert parse_store(text) is None


def test_a_pointer_nested_too_deep_is_no_pointer():
    """A fetched file shaped as a pointer whose value nests thousands of levels deep."""
    data = b'{"gitml-pointer":' + b"[" * (MAX_POINTER_BYTES - 100)
    assert parse_pointer(data) is None
