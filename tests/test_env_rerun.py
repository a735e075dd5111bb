"""`gitml rerun` rebuilds the environment a run recorded (spec and env manager)."""

import json

from gitml.envs.cache import cache_root, lookup
from tests.test_env_venv import env_name, run_refs, use_uv  # noqa: F401  (fixture)
from tests.test_env_venv import project as project  # noqa: F401  (fixture)
from tests.utils import assert_fsck_clean, git, gitml, write


def refs_by_name(repo) -> dict[str, str]:
    return {
        json.loads(git(repo, "show", f"{ref}:.gitml/run.json"))["name"]: ref
        for ref in run_refs(repo)
    }


def shown(repo, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:.gitml/{path}")


def test_rerun_rebuilds_the_recorded_venv_after_the_cache_was_pruned(project, use_uv):  # noqa: F811
    gitml(project, "run", "--name", "old", "--env-manager", "venv", "--", "python", "use.py")
    name = env_name(project)
    gitml(project, "env", "prune", "--all")
    assert lookup(name) is None
    # Later edits of the work tree's spec do not change what the rerun installs.
    write(project / "conda.yaml", "dependencies: [python=3.5]\n")

    result = gitml(project, "rerun", "old", "--name", "again")

    env = lookup(name)
    assert env is not None  # rebuilt from the recorded spec
    assert "hello from tinypkg" in result.stdout
    assert f"prefix {env.path}\n" in result.stdout
    refs = refs_by_name(project)
    old = json.loads(shown(project, refs["old"], "run.json"))
    again = json.loads(shown(project, refs["again"], "run.json"))
    assert again["reproduces"] == old["id"]
    assert (again["env_manager"], again["env_hash"]) == ("venv", old["env_hash"])
    spec = shown(project, refs["old"], "env/conda.yaml")
    assert shown(project, refs["again"], "env/conda.yaml") == spec
    assert "tinypkg==1.0" in shown(project, refs["again"], "env/pip-freeze.txt")
    assert_fsck_clean(project)


def test_rerun_of_a_local_run_stays_local(project):  # noqa: F811
    command = ["python", "-c", "import sys; print(sys.prefix)"]
    first = gitml(project, "run", "--name", "here", "--", *command)
    again = gitml(project, "rerun", "here", "--name", "here-again")
    refs = refs_by_name(project)
    assert json.loads(shown(project, refs["here-again"], "run.json"))["env_manager"] == "local"
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]
    assert str(cache_root()) not in again.stdout
