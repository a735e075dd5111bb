"""packed-refs is searched by bisection when git wrote it sorted
(`store.repository.packed_ref_sha`): it must answer as a scan of every line does,
peeled lines and header included."""

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gitml.store.repository import Repository, packed_ref_sha

names = st.text(alphabet="abz019/-._", min_size=1, max_size=12).map(lambda s: f"refs/{s}")


@settings(max_examples=300, deadline=None)
@given(st.sets(names, max_size=30), st.sets(names, max_size=10), st.data(), st.booleans())
def test_a_sorted_packed_refs_is_searched_as_a_scan_would(present, asked, data, sorted_):
    lines = ["# pack-refs with: peeled fully-peeled sorted \n" if sorted_ else ""]
    shas = {ref: f"{index:040x}" for index, ref in enumerate(sorted(present, key=str.encode))}
    for ref, sha in shas.items():
        lines.append(f"{sha} {ref}\n")
        if data.draw(st.booleans()):
            lines.append(f"^{'2' * 40}\n")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "packed-refs").write_text("".join(lines))
        repo = Repository(None, Path(folder), Path(folder))
        for ref in present | asked:
            assert packed_ref_sha(repo, ref) == shas.get(ref), ref


def test_no_packed_refs_or_an_empty_one_holds_nothing(tmp_path):
    repo = Repository(None, tmp_path, tmp_path)
    assert packed_ref_sha(repo, "refs/heads/main") is None
    (tmp_path / "packed-refs").write_text("")
    assert packed_ref_sha(repo, "refs/heads/main") is None
