"""Three clones register and promote one model at once against one bare remote.

Everything here is real: a bare remote, clones made with `git clone`, `python -m
gitml` processes started together, the pre-push hook run by a plain `git push`.
The remote logs every ref transaction it prepares (a reference-transaction hook),
which tells, independently of gitml, which promotion was published last.
"""

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gitml import registry
from tests.sharing_helpers import seeded_remote
from tests.test_registry import make_run
from tests.utils import assert_fsck_clean, git, gitml, write

MODEL = "linear"
ROUNDS = 3
CLONES = ("first", "second", "third")

# Appends one record per call, in one write: "<state> <receive-pack pid> <refs…>".
# A transaction is prepared while git holds the locks of its refs, so two registry
# pushes (which share a ref) are logged in the order the remote took them.
TRANSACTION_LOG_HOOK = """#!{python}
import os, sys
refs = [line.split()[2] for line in sys.stdin.read().splitlines() if line.strip()]
record = " ".join([sys.argv[1], str(os.getppid()), *refs]) + "\\n"
fd = os.open({log!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, record.encode())
os.close(fd)
"""

TAG_FIELDS = "%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(contents)%00%1e"
ASSIGN_TAG = re.compile(rf"^{MODEL}#(?P<stage>[a-z-]+)#(?P<counter>\d+)$")
VERSION_TAG = re.compile(rf"^{MODEL}@(?P<version>v\d+\.\d+\.\d+)$")


def tag_objects(repo: Path) -> dict[str, dict]:
    """Every tag: its object, the commit it points at, its message's lines and trailers."""
    out = git(repo, "for-each-ref", f"--format={TAG_FIELDS}", "refs/tags")
    tags = {}
    for record in out.split("\x00\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        name, sha, commit, message = record.split("\x00")
        trailers = dict(re.findall(r"^Gitml-([A-Za-z-]+): (.*)$", message, re.MULTILINE))
        tags[name] = {"sha": sha, "commit": commit, "first": message.split("\n")[0]}
        tags[name]["trailers"] = trailers
    return tags


def counter_of(name: str, tag: dict) -> int:
    """The event's place in the registry's order: in the name, or a version tag's message."""
    counted = re.search(r"#(\d+)$", name)
    return int(counted[1]) if counted else int(tag["trailers"]["Counter"])


def which(repo: Path, reference: str) -> dict:
    return json.loads(gitml(repo, "model", "which", reference, "--json").stdout)


def assert_registry_is_consistent(repo: Path) -> None:
    """No counter twice; every promotion after the registration of the version it
    names, pointing at that version's run, its sentence naming that version."""
    tags = tag_objects(repo)
    events = {name: tag for name, tag in tags.items() if name.startswith(MODEL)}
    counters = [counter_of(name, tag) for name, tag in events.items()]
    assert len(counters) == len(set(counters)), sorted(counters)
    versions = {match["version"]: tags[name] for name in tags if (match := VERSION_TAG.match(name))}
    for name, tag in events.items():
        if not ASSIGN_TAG.match(name):
            continue
        version = tag["trailers"]["Version"]
        registration = versions[version]
        assert counter_of(name, tag) > int(registration["trailers"]["Counter"]), name
        assert tag["commit"] == registration["commit"], name
        assert tag["trailers"]["Run"] == registration["trailers"]["Run"], name
        assert tag["first"].startswith(f"Promoted {MODEL} {version} to "), (name, tag["first"])


def gto_style_production(repo: Path) -> str:
    """The commit production holds, read as GTO reads tags: names and targets only
    (the newest `#production#N` by N; a version is the registration on that commit)."""
    tags = tag_objects(repo)
    production = [
        (int(match["counter"]), tag["commit"])
        for name, tag in tags.items()
        if (match := ASSIGN_TAG.match(name)) and match["stage"] == "production"
    ]
    commit = max(production)[1]
    registered = [name for name, tag in tags.items() if VERSION_TAG.match(name)]
    assert [name for name in registered if tags[name]["commit"] == commit], commit
    return commit


def last_published_production(log: Path) -> str:
    """The production promotion the remote took last, from its transaction log: in
    the last committed transaction that created one, the highest counter it created."""
    prepared: dict[str, list[str]] = {}
    committed: list[list[str]] = []
    for line in log.read_text().splitlines():
        state, pid, *refs = line.split(" ")
        if state == "prepared":
            prepared[pid] = refs
        elif state == "committed" and pid in prepared:
            committed.append(prepared.pop(pid))
    for refs in reversed(committed):
        created = [
            ref.removeprefix("refs/tags/")
            for ref in refs
            if ref.startswith(f"refs/tags/{MODEL}#production#")
        ]
        if created:
            return max(created, key=lambda name: int(name.rpartition("#")[2]))
    raise AssertionError("no production promotion was ever published")


def run_together(work: list[tuple[Path, list[list[str]]]]) -> list[subprocess.CompletedProcess]:
    """Each (repository, commands) runs its commands in order; all of them start together."""
    barrier = threading.Barrier(len(work))
    results: list[subprocess.CompletedProcess] = []

    def run(repo: Path, sequence: list[list[str]]) -> None:
        barrier.wait()
        for command in sequence:
            results.append(
                subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300)
            )

    threads = [threading.Thread(target=run, args=item) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def python_gitml(*args: str) -> list[str]:
    return [sys.executable, "-m", "gitml", *args]


def promote(run: str, stage: str = "production") -> list[str]:
    return python_gitml("model", "promote", MODEL, run, stage, "-m", f"{run} to {stage}")


def registry_tags(repo: Path) -> dict[str, str]:
    """name → tag object of the model's tags."""
    return {name: tag["sha"] for name, tag in tag_objects(repo).items() if name.startswith(MODEL)}


def pending(repo: Path) -> str:
    path = repo / ".git" / "gitml" / "registry-pending"
    return path.read_text() if path.exists() else ""


def log_transactions(remote: Path, log: Path) -> Path:
    hook = write(
        remote / "hooks" / "reference-transaction",
        TRANSACTION_LOG_HOOK.format(python=sys.executable, log=str(log)),
    )
    hook.chmod(0o755)
    return log


@pytest.mark.slow
def test_three_clones_register_and_promote_at_once_and_converge(tmp_path):
    remote, clones = seeded_remote(tmp_path, *CLONES)
    log = log_transactions(remote, tmp_path / "transactions.log")
    first, second, third = clones
    gitml(third, "hooks", "install")  # third sends its registry with plain `git push` only
    for repo in clones:
        for round_ in range(ROUNDS):
            make_run(repo, f"{repo.name}-{round_}", {"model.txt": f"{repo.name} {round_}\n"})

    results = []
    for round_ in range(ROUNDS):
        write(third / "notes.txt", f"round {round_}\n")
        git(third, "add", "notes.txt")
        git(third, "commit", "-q", "-m", f"round {round_}")
        results += run_together(
            [
                (first, [promote(f"first-{round_}"), python_gitml("push")]),
                (first, [promote(f"first-{round_}", "staging")]),  # same clone, meanwhile
                # second pulls every round and pushes every other one: its events wait
                (
                    second,
                    [
                        promote(f"second-{round_}"),
                        python_gitml("pull"),
                        *([python_gitml("push")] if round_ != 1 else []),
                    ],
                ),
                (third, [promote(f"third-{round_}"), ["git", "push", "origin", "HEAD:third"]]),
            ]
        )
    failed = [r for r in results if r.returncode != 0 or "not pushed" in r.stderr]
    assert not failed, [(r.args, r.stdout, r.stderr) for r in failed]

    for repo in clones:  # no manual step: every clone pushes, then fetches
        gitml(repo, "push")
    for repo in clones:
        gitml(repo, "fetch")

    expected = registry_tags(remote)
    assert [registry_tags(repo) for repo in clones] == [expected] * len(clones)
    assert [pending(repo) for repo in clones] == [""] * len(clones)
    tags = tag_objects(remote)
    runs = json.loads(gitml(first, "ls", "--all", "--json").stdout)
    names = {run["id"]: run["name"] for run in runs}
    versions = registry.load_model(first, MODEL).versions
    assert sorted(versions) == [f"v0.0.{n}" for n in range(1, 3 * ROUNDS + 1)]
    assert sorted(names[v.run_id] for v in versions.values()) == sorted(
        f"{repo.name}-{round_}" for repo in clones for round_ in range(ROUNDS)
    )
    stages = [ASSIGN_TAG.match(name)["stage"] for name in tags if ASSIGN_TAG.match(name)]
    assert sorted(stages) == ["production"] * 3 * ROUNDS + ["staging"] * ROUNDS
    assert_registry_is_consistent(remote)

    winner = last_published_production(log)
    assert winner == max(
        (name for name in tags if name.startswith(f"{MODEL}#production#")),
        key=lambda name: int(name.rpartition("#")[2]),
    )
    for repo in clones:
        held = which(repo, f"{MODEL}@production")
        assert held["run_id"] == tags[winner]["trailers"]["Run"], repo.name
        assert held["version"] == tags[winner]["trailers"]["Version"], repo.name
        assert gto_style_production(repo) == held["commit"] == tags[winner]["commit"]
    histories = [gitml(repo, "model", "history", MODEL, "--json").stdout for repo in clones]
    assert histories == [histories[0]] * len(clones)
    assert_fsck_clean(remote)


SYNCS = {
    "push": [python_gitml("push")],
    "pull, then push": [python_gitml("pull"), python_gitml("push")],
    "git push with the hook": [["git", "push", "-q", "origin", "HEAD:second"]],
}


@pytest.mark.parametrize("sync", SYNCS)
def test_a_version_taken_remotely_moves_my_waiting_registration_and_promotion(tmp_path, sync):
    remote, (first, second) = seeded_remote(tmp_path, "first", "second")
    theirs = make_run(first, "theirs", {"model.txt": "theirs\n"})
    mine = make_run(second, "mine", {"model.txt": "mine\n"})
    gitml(first, "model", "promote", MODEL, "theirs", "production")  # v0.0.1, then #2
    gitml(first, "push")
    gitml(second, "model", "promote", MODEL, "mine", "production", "-m", "ship it")  # the same
    gitml(second, "hooks", "install")

    results = [subprocess.run(c, cwd=second, capture_output=True, text=True) for c in SYNCS[sync]]

    assert [result.returncode for result in results] == [0] * len(results)
    assert (
        "gitml: origin has linear v0.0.1 for another run: yours is now linear v0.0.2 "
        "(tag linear@v0.0.2, counter 3)\n"
        "gitml: renumbered linear#production#2 as linear#production#4, "
        "which now names v0.0.2 (origin already had events numbered like ours)\n"
    ) in results[0].stderr
    assert all("gitml:" not in result.stderr for result in results[1:])
    tags = tag_objects(remote)
    assert sorted(registry_tags(remote)) == [
        "linear#production#2",
        "linear#production#4",
        "linear@v0.0.1",
        "linear@v0.0.2",
    ]
    assert tags["linear@v0.0.1"]["commit"] == tags["linear#production#2"]["commit"] == theirs
    assert tags["linear@v0.0.2"]["commit"] == tags["linear#production#4"]["commit"] == mine
    assert tags["linear@v0.0.2"]["first"] == "Registered linear v0.0.2 from run mine."
    assert tags["linear@v0.0.2"]["trailers"]["Counter"] == "3"
    assert tags["linear#production#4"]["first"] == "Promoted linear v0.0.2 to production."
    assert tags["linear#production#4"]["trailers"]["Version"] == "v0.0.2"
    note = git(remote, "tag", "-l", "--format=%(contents:body)", "linear#production#4")
    assert note.startswith("ship it\n")
    assert_registry_is_consistent(remote)

    gitml(first, "fetch")
    assert registry_tags(first) == registry_tags(second) == registry_tags(remote)
    for repo in (first, second):
        held = which(repo, "linear@production")
        assert (held["version"], held["run_name"], held["commit"]) == ("v0.0.2", "mine", mine)
    assert pending(second) == ""


def test_the_same_registration_on_both_sides_is_one_event(tmp_path):
    remote, (first, second) = seeded_remote(tmp_path, "first", "second")
    shared = make_run(first, "shared", {"model.txt": "shared\n"})
    gitml(first, "push")
    gitml(second, "fetch")
    for repo in (first, second):  # the same run, artifact and version; other notes
        gitml(repo, "model", "register", MODEL, "shared", "-m", f"from {repo.name}")
        gitml(repo, "model", "promote", MODEL, "v0.0.1", "production", "-m", repo.name)
    gitml(first, "push")

    result = gitml(second, "push")

    assert result.stderr == (
        "gitml: origin has the same registration as linear@v0.0.1: kept its tag\n"
        "gitml: origin already had events numbered like ours: "
        "renumbered linear#production#2 as linear#production#3\n"
    )
    tags = tag_objects(remote)
    assert sorted(registry_tags(remote)) == [
        "linear#production#2",
        "linear#production#3",
        "linear@v0.0.1",
    ]
    assert registry_tags(second) == registry_tags(remote)
    assert tags["linear@v0.0.1"]["sha"] == tag_objects(first)["linear@v0.0.1"]["sha"]
    assert tags["linear#production#3"]["commit"] == shared
    assert_registry_is_consistent(remote)
    assert pending(second) == ""


def test_hostile_remote_tags_are_stepped_around(tmp_path):
    """A tag that is no registry event at the name mine would take, counters too long
    for Python to read, a registry name on a tree: the push goes on."""
    remote, (mallory, second) = seeded_remote(tmp_path, "mallory", "second")
    theirs = make_run(mallory, "theirs", {"model.txt": "theirs\n"})
    gitml(mallory, "model", "register", MODEL, "theirs")  # v0.0.1
    huge = "9" * 5000
    git(mallory, "tag", "linear@v0.0.2", theirs)  # lightweight: no event, but the name is taken
    counted = f"Registered.\n\nGitml-Counter: {huge}"
    git(mallory, "tag", "-a", "-m", counted, "linear@v0.0.7", theirs)
    git(mallory, "tag", "-a", "-m", "tree", "linear#staging#9", f"{theirs}^{{tree}}")
    git(mallory, "tag", "-a", "-m", "long", "long", theirs)
    git(mallory, "push", "-q", "origin", "--tags")
    # a name too long for a file: only packed-refs can hold it
    git(remote, "pack-refs", "--all")
    packed = remote / "packed-refs"
    long_tag = git(remote, "rev-parse", "refs/tags/long").strip()
    text = packed.read_text() + f"{long_tag} refs/tags/linear#production#{huge}\n^{theirs}\n"
    packed.write_text(text)
    mine = make_run(second, "mine", {"model.txt": "mine\n"})
    gitml(second, "model", "promote", MODEL, "mine", "production")  # v0.0.1 here too

    result = gitml(second, "push")

    assert "yours is now linear v0.0.3 (tag linear@v0.0.3, counter 2)" in result.stderr
    assert "Traceback" not in result.stderr
    assert git(remote, "rev-parse", "linear@v0.0.3^{commit}").strip() == mine
    assert git(remote, "rev-parse", "linear#production#3^{commit}").strip() == mine
    assert which(second, "linear@production")["version"] == "v0.0.3"
    gitml(mallory, "fetch")
    assert which(mallory, "linear@production")["run_name"] == "mine"


def test_a_promotion_left_by_the_old_manual_fix_follows_the_new_registration(tmp_path):
    """The fix older gitml asked for: delete the clashing version tag, register the run
    again under another version. The promotion written before still names the deleted
    version and precedes the new registration; the push puts it after, naming it."""
    remote, (first, second) = seeded_remote(tmp_path, "first", "second")
    make_run(first, "theirs", {"model.txt": "theirs\n"})
    mine = make_run(second, "mine", {"model.txt": "mine\n"})
    gitml(first, "model", "promote", MODEL, "theirs", "production")
    gitml(first, "push")
    gitml(second, "model", "promote", MODEL, "mine", "production")  # v0.0.1 and #2
    git(second, "tag", "-d", "linear@v0.0.1")
    gitml(second, "model", "register", MODEL, "mine", "--version", "v0.0.2")  # counter 3

    result = gitml(second, "push")

    assert (
        "gitml: renumbered linear#production#2 as linear#production#4, which now names "
        "v0.0.2 (origin already had events numbered like ours)\n"
    ) in result.stderr
    tags = tag_objects(remote)
    assert sorted(registry_tags(remote)) == [
        "linear#production#2",
        "linear#production#4",
        "linear@v0.0.1",
        "linear@v0.0.2",
    ]
    assert tags["linear@v0.0.2"]["trailers"]["Counter"] == "3"
    assert tags["linear#production#4"]["first"] == "Promoted linear v0.0.2 to production."
    assert_registry_is_consistent(remote)
    gitml(first, "fetch")
    for repo in (first, second):
        held = which(repo, "linear@production")
        assert (held["version"], held["commit"]) == ("v0.0.2", mine)
