"""Push and fetch over real network transports on 127.0.0.1: git daemon and smart HTTP."""

import json
import os
import pty
import subprocess
import sys

import pytest

from tests.gitservers import GitDaemon, SmartHttpServer
from tests.sharing_helpers import bare_remote, clone, ls_json, run_refs
from tests.utils import assert_fsck_clean, git, gitml


@pytest.fixture(params=["daemon", "http"])
def server(request, tmp_path):
    base = tmp_path / "served"
    base.mkdir()
    remote = bare_remote(base)
    server = GitDaemon(base) if request.param == "daemon" else SmartHttpServer(base)
    with server:
        yield server, remote


def test_push_then_fetch_in_another_clone(server, repo_with_runs, tmp_path):
    server, remote = server
    url = server.url("remote.git")
    git(repo_with_runs, "remote", "add", "origin", url)
    assert gitml(repo_with_runs, "push").stdout == "pushed 3 runs to origin\n"
    assert run_refs(remote) == run_refs(repo_with_runs)
    assert gitml(repo_with_runs, "push").stdout.startswith("nothing new to push")
    assert_fsck_clean(remote)

    other = clone(url, tmp_path / "other")
    listed = gitml(other, "ls", "--remote", "origin", "--json").stdout
    assert sorted(run["id"] for run in json.loads(listed)) == sorted(
        ref.rsplit("/", 1)[1] for ref in run_refs(remote)
    )
    assert gitml(other, "fetch").stdout == "fetched 3 runs from origin\n"
    assert ls_json(other) == ls_json(repo_with_runs)
    assert_fsck_clean(other)

    victim = ls_json(other)[0]["id"]
    gitml(other, "push", "--delete", victim)
    assert f"refs/gitml/runs/{victim}" not in run_refs(remote)


def test_missing_repository_on_server(server, repo_with_runs):
    server, _ = server
    url = server.url("absent.git")
    result = gitml(repo_with_runs, "push", url, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(f"gitml: error: remote '{url}' is not a git repository")
    assert result.stderr.count("\n") == 1


def test_http_authentication_failure(repo_with_runs, tmp_path, monkeypatch):
    base = tmp_path / "served"
    base.mkdir()
    remote = bare_remote(base)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    with SmartHttpServer(base, credentials=("alice", "secret")) as server:
        good = server.url("remote.git").replace("http://", "http://alice:secret@")
        bad = server.url("remote.git").replace("http://", "http://alice:wrong@")
        before = run_refs(repo_with_runs)
        for url in (bad, server.url("remote.git")):
            for command in ("push", "fetch"):
                result = gitml(repo_with_runs, command, url, check=False)
                assert result.returncode == 1
                assert result.stderr.startswith("gitml: error: authentication to remote"), (
                    result.stderr
                )
                assert result.stderr.count("\n") == 1
        assert run_refs(remote) == {}
        assert run_refs(repo_with_runs) == before
        assert gitml(repo_with_runs, "push", good).stdout.startswith("pushed 3 runs")
    assert run_refs(remote) == before


def test_progress_on_stderr_when_it_is_a_terminal(repo_with_runs, tmp_path):
    """git's own progress reaches a terminal; with a pipe (other tests) stderr stays empty."""
    remote = bare_remote(tmp_path)
    git(repo_with_runs, "remote", "add", "origin", remote.as_uri())
    leader, follower = pty.openpty()
    push = subprocess.run(
        [sys.executable, "-m", "gitml", "push"],
        cwd=repo_with_runs,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert push.returncode == 0
    assert push.stdout == "pushed 3 runs to origin\n"
    assert b"Writing objects: 100%" in shown


def test_credential_helper_and_insteadof_apply(repo_with_runs, tmp_path, monkeypatch):
    """gitml pushes with the user's git config: a credential helper answers the
    server's login, an `insteadOf` rule rewrites a short URL."""
    base = tmp_path / "served"
    base.mkdir()
    remote = bare_remote(base)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    with SmartHttpServer(base, credentials=("alice", "secret")) as server:
        store = tmp_path / "credentials"
        store.write_text(f"http://alice:secret@127.0.0.1:{server.port}\n")
        git(repo_with_runs, "config", "credential.helper", f"store --file={store}")
        git(repo_with_runs, "config", f"url.http://127.0.0.1:{server.port}/.insteadOf", "team:")
        assert gitml(repo_with_runs, "push", "team:remote.git").stdout.startswith("pushed 3 runs")
        other = clone(remote, tmp_path / "other")
        git(other, "config", "credential.helper", f"store --file={store}")
        out = gitml(other, "fetch", f"http://127.0.0.1:{server.port}/remote.git").stdout
        assert out == f"fetched 3 runs from http://127.0.0.1:{server.port}/remote.git\n"
    assert run_refs(remote) == run_refs(repo_with_runs) == run_refs(other)
