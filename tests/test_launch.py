"""Launching a run is one domain call (`gitml.projects.launch.launch`): it tells its
caller what happens and never prints; `gitml run` and `gitml rerun` go through it."""

import json
import shlex
import sys

from gitml.projects.launch import LaunchRequest, Progress, Recording, launch
from gitml.store.repository import open_repository
from tests.utils import git, gitml, write


def show(repo, run) -> dict:
    return json.loads(gitml(repo, "show", run, "--json").stdout)


def test_launch_records_a_run_and_tells_its_progress_without_printing(repo_with_commit, capfd):
    repo = repo_with_commit
    write(repo / "secrets.env", "TOKEN=1\n")  # left out of the snapshot: a warning
    notes, warnings = [], []
    request = LaunchRequest(
        command=[sys.executable, "-c", "import gitml; gitml.log_metric('m', 2)"],
        params={"lr": "0.1"},
        directory=repo,
        recording=Recording(name="direct", tags={"team": "a"}, note="from the API"),
    )

    result = launch(open_repository(repo), request, Progress(notes.append, warnings.append))

    assert capfd.readouterr() == ("", "")
    assert (result.summary.name, result.summary.status, result.exit_status) == (
        "direct",
        "finished",
        0,
    )
    assert notes == [f"run direct ({result.summary.id}) started: {shlex.join(request.command)}"]
    assert warnings == ["secrets.env looks like a secret and was left out of the snapshot"]
    record = show(repo, "direct")
    assert record["params"] == {"lr": "0.1"} and record["tags"] == {"team": "a"}
    assert record["note"] == "from the API" and record["metrics"]["m"]["last"] == 2


def test_artifacts_are_found_where_gitml_is_started_with_dash_c(repo_with_commit):
    repo = repo_with_commit
    (repo / "sub").mkdir()
    script = "open('out.txt', 'w').write('written in sub')"
    result = gitml(
        repo,
        "-C",
        "sub",
        "run",
        "--name",
        "insub",
        "--artifact",
        "out.txt",
        "--",
        sys.executable,
        "-c",
        script,
    )

    assert "error" not in result.stderr
    record = show(repo, "insub")
    assert [artifact["path"] for artifact in record["artifacts"]] == ["out.txt"]
    ref = f"refs/gitml/runs/{record['id']}"
    assert git(repo, "show", f"{ref}:.gitml/artifacts/out.txt") == "written in sub"
