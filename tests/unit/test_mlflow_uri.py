"""The `gitml:` URI grammar (gitml/mlflow_plugin/uri.py): build and parse are exact
inverses, MLflow's own spellings of a location parse, hostile URIs are refused.
No mlflow and no git here."""

import os
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.errors import InvalidValueError
from gitml.mlflow_plugin.uri import GitmlUri, build_uri, parse_uri, run_artifact_uri

RUN = "01hf7yat0023kqbn9wfaf67jjr"  # fixed: parametrized ids must be equal in every xdist worker

segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and s.lower().rstrip(". ") != ".git" and s != ".gitml")
folders = st.lists(segment, min_size=1, max_size=4).map("/".join)
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=20,
)


@given(
    path=st.one_of(st.just(""), folders, folders.map(lambda p: "/" + p)),
    experiment=st.one_of(st.none(), names),
)
def test_repository_uris_round_trip(path, experiment):
    uri = GitmlUri(path=path, experiment=experiment)
    text = build_uri(uri)
    assert parse_uri(text) == uri
    assert build_uri(parse_uri(text)) == text


@given(root=folders, run_id=st.sampled_from([RUN, RUN[:12]]), sub=st.one_of(st.just(""), folders))
def test_artifact_locations_round_trip(root, run_id, sub):
    text = run_artifact_uri("/" + root, run_id, sub)
    assert parse_uri(text) == GitmlUri(path="/" + root, run_id=run_id, artifact_path=sub)


def test_the_canonical_spellings():
    assert build_uri(GitmlUri()) == "gitml:"
    assert build_uri(GitmlUri(path="/srv/repo")) == "gitml:///srv/repo"
    assert build_uri(GitmlUri(path="my repo", experiment="a b")) == "gitml:my%20repo?experiment=a+b"
    assert (
        run_artifact_uri("/srv/repo", RUN, "model/MLmodel")
        == f"gitml:///srv/repo/.gitml/runs/{RUN}/artifacts/model/MLmodel"
    )


def test_mlflows_spellings_of_a_location_parse():
    """MLflow appends paths with urllib, which writes `gitml:/ROOT/…` (one slash) and
    leaves the appended names unescaped; a trailing slash names the same folder."""
    assert parse_uri("gitml:/srv/repo") == GitmlUri(path="/srv/repo")
    located = parse_uri(f"gitml:/srv/my repo/.gitml/runs/{RUN}/artifacts/model/")
    assert located == GitmlUri(path="/srv/my repo", run_id=RUN, artifact_path="model")
    appended = urllib.parse.urlunparse(
        urllib.parse.urlparse(run_artifact_uri("/srv/repo", RUN))._replace(
            path=f"/srv/repo/.gitml/runs/{RUN}/artifacts/plots/a.png"
        )
    )
    assert parse_uri(appended).artifact_path == "plots/a.png"


def test_the_folder_a_uri_names():
    assert GitmlUri().folder() == os.getcwd()
    assert GitmlUri(path="sub").folder() == os.path.join(os.getcwd(), "sub")
    assert GitmlUri(path="-rf").folder() == os.path.join(os.getcwd(), "-rf")  # never an option


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("file:///srv/repo", "not a gitml: URI"),
        ("gitml://host/srv/repo", "names the host 'host'"),
        ("gitml:repo%00x", "NUL"),
        ("gitml:repo\x00x", "NUL"),
        ("gitml:repo?run=1", "unknown option 'run'"),
        ("gitml:repo?experiment=a&experiment=b", "twice"),
        ("gitml:repo?experiment=", "empty"),
        ("gitml:repo?experiment", "malformed query"),
        ("gitml:repo#frag", "fragment"),
        (f"gitml:///srv/repo/.gitml/runs/{RUN}/artifacts/../../../etc", "'..' part"),
        (f"gitml:///srv/repo/.gitml/runs/{RUN}/artifacts/a//b", "empty part"),
        (f"gitml:///srv/repo/.gitml/runs/{RUN}/artifacts/.git/config", "git's own folder"),
        (f"gitml:///srv/repo/.gitml/runs/{RUN}/logs", "not its artifacts"),
        ("gitml:///srv/repo/.gitml/runs/../artifacts/x", "no run id"),
        (f"gitml:relative/.gitml/runs/{RUN}/artifacts", "absolute repository root"),
        (f"gitml:///a/.gitml/b/.gitml/runs/{RUN}/artifacts", "no .gitml part"),
    ],
)
def test_hostile_uris_are_refused(text, says):
    with pytest.raises(InvalidValueError, match=says.replace("(", r"\(").replace(".", r"\.")):
        parse_uri(text)


def test_a_location_is_never_built_from_a_relative_or_marked_root():
    with pytest.raises(InvalidValueError):
        run_artifact_uri("relative", RUN)
    with pytest.raises(InvalidValueError):
        build_uri(GitmlUri(path="/srv/.gitml/runs/x"))
    with pytest.raises(InvalidValueError):
        build_uri(GitmlUri(path="/srv", artifact_path="model"))
