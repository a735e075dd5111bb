"""Experiment records (`refs/gitml/experiments/<id>`) fetched from a remote are hostile:
one may claim what no clone could write. Each is forged in one clone, pushed to a bare
remote and fetched with `gitml fetch` by another."""

import json
from pathlib import Path

import pytest

from gitml.mlflow_plugin import experiments as exps
from gitml.store.repository import open_repository
from gitml.tracking.record import MAX_MS, experiment_id
from tests.hostile.test_remote_data import plumb, tree
from tests.sharing_helpers import clone, seeded_remote
from tests.utils import git, gitml


def forge_record(repo: Path, ref_id: str, **fields) -> None:
    """A record commit saying `fields` (over a valid record of `ref_id`) at its ref."""
    data = {"format": 1, "id": ref_id, "lifecycle": "active", "tags": {}, "created_ms": 1}
    text = json.dumps({**data, **fields}).encode()
    record_tree = tree(repo, {exps.RECORD_FILE: text})
    commit = plumb(repo, "commit-tree", record_tree, "-m", "forged")
    git(repo, "update-ref", exps.EXPERIMENTS_PREFIX + ref_id, commit)


def fetched(tmp_path: Path, forge) -> list[exps.Experiment]:
    """The experiments a clone lists after fetching what `forge(attacker)` pushed."""
    remote, (attacker,) = seeded_remote(tmp_path, "attacker")
    forge(attacker)
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*")
    victim = clone(remote, tmp_path / "victim")
    gitml(victim, "fetch", "origin")
    assert git(victim, "for-each-ref", exps.EXPERIMENTS_PREFIX)  # the record came
    return exps.experiments(open_repository(victim), [])


HOSTILE = {
    # the writer never deletes the default experiment: every script choosing none runs in it
    "default deleted": lambda repo: forge_record(
        repo, "0", names=[exps.DEFAULT_NAME], lifecycle="deleted"
    ),
    # nor renames another one to "Default", which would take the default's name and id away
    "renamed to Default": lambda repo: forge_record(
        repo, experiment_id("evil"), names=["evil", exps.DEFAULT_NAME]
    ),
}


@pytest.mark.parametrize("forge", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_fetched_record_never_takes_the_default_experiment_away(tmp_path, forge):
    listed = fetched(tmp_path, forge)
    default = exps.find(listed, exps.DEFAULT_ID)
    assert (default.name, default.lifecycle) == (exps.DEFAULT_NAME, exps.ACTIVE)


@pytest.mark.parametrize(
    "created_ms", [-1, MAX_MS + 1, 10**4000, True], ids=["negative", "past", "huge", "bool"]
)
def test_a_fetched_record_created_out_of_range_is_left_out(tmp_path, created_ms):
    def forge(repo):
        forge_record(repo, experiment_id("odd"), names=["odd"], created_ms=created_ms)
        forge_record(repo, experiment_id("fine"), names=["fine"], created_ms=5)

    names = {experiment.name for experiment in fetched(tmp_path, forge)}
    assert names == {exps.DEFAULT_NAME, "fine"}


def test_a_remote_ref_below_an_experiments_id_leaves_fetch_and_push_working(tmp_path):
    # an experiment's id is derived from its name: anyone can put a ref *below* the id
    # of an experiment another clone has, where git can then write neither ref
    remote, (attacker, victim) = seeded_remote(tmp_path, "attacker", "victim")
    secret = exps.create_experiment(open_repository(victim), "secret")
    head = git(attacker, "rev-parse", "HEAD").strip()
    git(attacker, "update-ref", f"{exps.EXPERIMENTS_PREFIX}{secret}/x", head)
    forge_record(attacker, experiment_id("other"), names=["other"])
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*")

    fetched = gitml(victim, "fetch", "origin", check=False)
    pushed = gitml(victim, "push", "origin", check=False)

    assert (fetched.returncode, pushed.returncode) == (0, 0), fetched.stderr + pushed.stderr
    names = {experiment.name for experiment in exps.experiments(open_repository(victim), [])}
    assert {"secret", "other"} <= names


def test_a_remote_ref_below_an_id_no_clone_has_yet_never_blocks_that_experiment(tmp_path):
    # the ref arrives before the experiment's own record: git could then never write
    # refs/gitml/experiments/<id>, and every change of that experiment would fail
    remote, (attacker, victim) = seeded_remote(tmp_path, "attacker", "victim")
    head = git(attacker, "rev-parse", "HEAD").strip()
    for below in (exps.DEFAULT_ID, experiment_id("secret")):
        git(attacker, "update-ref", f"{exps.EXPERIMENTS_PREFIX}{below}/x", head)
    git(attacker, "update-ref", f"{exps.EXPERIMENTS_PREFIX}not-an-id", head)
    git(attacker, "update-ref", "refs/gitml/sweeps/01m98mjbxrs5dp7jnh5rw7t2vp/x", head)
    git(attacker, "update-ref", "refs/gitml/views/team/x", head)  # a view's name has no /
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*")

    gitml(victim, "fetch", "origin")

    assert git(victim, "for-each-ref", exps.EXPERIMENTS_PREFIX) == ""  # none of them kept
    assert git(victim, "for-each-ref", "refs/gitml/sweeps/", "refs/gitml/views/") == ""
    repo = open_repository(victim)
    secret = exps.create_experiment(repo, "secret")
    default = exps.find(exps.experiments(repo, []), exps.DEFAULT_ID)
    exps.set_tag(repo, default, "team", "vision")
    listed = {experiment.name: experiment for experiment in exps.experiments(repo, [])}
    assert secret == experiment_id("secret") and "secret" in listed
    assert listed[exps.DEFAULT_NAME].tags == {"team": "vision"}


def test_two_records_renamed_to_one_name_are_both_listed_under_names_of_their_own(tmp_path):
    # two clones can do it (one creates "alpha", the other renames "beta" to it before
    # they meet); a remote can write it: one of the two experiments, its runs with it,
    # was no longer listed anywhere (MLflow's search_experiments, the id's page)
    def forge(repo):
        forge_record(repo, experiment_id("alpha"), names=["alpha"])
        forge_record(repo, experiment_id("beta"), names=["beta", "alpha"])
        forge_record(repo, experiment_id("gamma"), names=["gamma", "delta", "alpha"])

    listed = fetched(tmp_path, forge)

    names = {experiment.id: experiment.name for experiment in listed}
    assert len(set(names.values())) == len(names)  # names are unique, as MLflow's are
    assert names[experiment_id("alpha")] == "alpha"  # the name's own experiment keeps it
    assert names[experiment_id("beta")] == "beta"  # the others the last name they own
    assert names[experiment_id("gamma")] == "delta"
