"""The model registry on real repositories: real annotated tags, the real CLI."""

import json
import time
from pathlib import Path

import pytest

import gitml
from gitml import registry
from gitml.errors import InvalidValueError, RegistryError, RunNotFoundError
from gitml.registry.tagstore import create_tag, list_registry_tags
from gitml.store.repository import open_repository
from tests.utils import assert_fsck_clean, git, write
from tests.utils import gitml as gitml_cli


def make_run(repo: Path, name: str, files: dict[str, str]) -> str:
    """A finished run named `name` holding `files` as artifacts; returns its commit."""
    with gitml.start_run(name=name, repo=repo):
        for path, text in files.items():
            gitml.log_text(text, path)
    return _run_ref(repo, name)


def _run_ref(repo: Path, name: str) -> str:
    from gitml.tracking.catalog import resolve

    return resolve(open_repository(repo), name).sha


def record_runs(repo: Path) -> None:
    """Runs alpha, beta (model.txt each), folder (a logged model + notes) and two (2 files)."""
    make_run(repo, "alpha", {"model.txt": "w=1\n"})
    make_run(repo, "beta", {"model.txt": "w=2\n"})
    make_run(
        repo,
        "folder",
        {"clf/MLmodel": "flavors: {}\n", "clf/model.pkl": "weights", "notes.txt": "hi"},
    )
    make_run(repo, "two", {"a.txt": "a", "b.txt": "b"})


@pytest.fixture
def runs(templates, tmp_path) -> Path:
    return templates.copy(record_runs, tmp_path / "repo")


def tags(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(objecttype) %(refname:strip=2)", "refs/tags")


# the demo flow, through the command line


def test_register_promote_ls_which_get(runs, tmp_path):
    out = gitml_cli(runs, "model", "register", "linear", "alpha", "--path", "model.txt")
    assert out.stdout == "registered linear v0.0.1, artifact model.txt: tag linear@v0.0.1\n"
    alpha = _run_ref(runs, "alpha")
    assert git(runs, "cat-file", "-t", "linear@v0.0.1").strip() == "tag"
    assert git(runs, "rev-parse", "linear@v0.0.1^{commit}").strip() == alpha
    body = git(runs, "cat-file", "tag", "linear@v0.0.1")
    assert "\ntagger Test User <test@example.com> " in body
    message = body.split("\n\n", 1)[1]
    run_id = registry.which(runs, "linear@v0.0.1").run_id
    assert message == (
        "Registered linear v0.0.1 from run alpha.\n\n"
        f"Gitml-Run: {run_id}\nGitml-Artifact: model.txt\nGitml-Version: v0.0.1\n"
        "Gitml-Counter: 1\n"
    )

    out = gitml_cli(runs, "model", "promote", "linear", "v0.0.1", "production", "-m", "ship it")
    assert out.stdout == "promoted linear v0.0.1 to production: tag linear#production#2\n"
    assert "ship it" in git(runs, "cat-file", "tag", "linear#production#2")
    out = gitml_cli(runs, "tag", "linear", "v0.0.1", "staging")
    assert out.stdout == "promoted linear v0.0.1 to staging: tag linear#staging#3\n"

    listing = gitml_cli(runs, "model", "ls").stdout.splitlines()
    assert listing[0].split() == ["MODEL", "LATEST", "DEV", "STAGING", "PRODUCTION", "ARCHIVED"]
    assert listing[1].split() == ["linear", "v0.0.1", "-", "v0.0.1", "v0.0.1", "-"]
    data = json.loads(gitml_cli(runs, "model", "ls", "--json").stdout)
    assert data[0]["stages"] == {"production": ["v0.0.1"], "staging": ["v0.0.1"]}

    which = json.loads(gitml_cli(runs, "model", "which", "linear@production", "--json").stdout)
    assert which == {
        "model": "linear",
        "version": "v0.0.1",
        "stage": "production",
        "commit": alpha,
        "run_id": run_id,
        "run_name": "alpha",
        "artifact": "model.txt",
    }
    text = gitml_cli(runs, "model", "which", "linear@latest").stdout
    assert f"run       alpha ({run_id})" in text and alpha in text

    target = tmp_path / "out"
    out = gitml_cli(runs, "model", "get", "linear@production", "-o", str(target))
    assert out.stdout == f"{target / 'model.txt'}\n"
    assert (target / "model.txt").read_text() == "w=1\n"
    assert_fsck_clean(runs)


def test_history_shows_every_event_with_run_author_and_message(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha", registry.RegisterOptions(message="first"))
    registry.promote(repo, "linear", "v0.0.1", "dev")
    registry.unassign(repo, "linear", "v0.0.1", "dev", message="not yet")
    events = json.loads(gitml_cli(runs, "model", "history", "linear", "--json").stdout)
    assert [(e["event"], e["version"], e["stage"], e["counter"]) for e in events] == [
        ("register", "v0.0.1", None, 1),
        ("assign", "v0.0.1", "dev", 2),
        ("unassign", "v0.0.1", "dev", 3),
    ]
    assert events[0]["message"] == "Registered linear v0.0.1 from run alpha.\n\nfirst"
    assert {(e["author"], e["email"]) for e in events} == {("Test User", "test@example.com")}
    assert all(abs(e["time"] - time.time()) < 600 for e in events)
    table = gitml_cli(runs, "model", "history", "linear", env=_wide()).stdout.splitlines()
    assert table[0].split() == [
        "#",
        "TIME",
        "EVENT",
        "VERSION",
        "STAGE",
        "RUN",
        "AUTHOR",
        "MESSAGE",
    ]
    assert table[3].split()[3:8] == ["unassign", "v0.0.1", "dev", "alpha", "Test"]
    assert table[3].endswith("Removed linear v0.0.1 from dev.")


def _wide() -> dict:
    import os

    return {**os.environ, "COLUMNS": "200"}


# versions


def test_versions_bump_patch_minor_major_or_are_given(runs):
    make_run(runs, "gamma", {"model.txt": "w=3\n"})
    make_run(runs, "delta", {"model.txt": "w=4\n"})
    make_run(runs, "eps", {"model.txt": "w=5\n"})
    repo = open_repository(runs)
    register = registry.register
    assert register(repo, "linear", "alpha").version == "v0.0.1"
    assert register(repo, "linear", "beta").version == "v0.0.2"
    assert register(repo, "linear", "gamma", registry.RegisterOptions(bump="minor")).version == (
        "v0.1.0"
    )
    out = gitml_cli(runs, "model", "register", "linear", "delta", "--bump-major", "--json")
    assert json.loads(out.stdout)[0]["version"] == "v1.0.0"
    out = gitml_cli(runs, "model", "register", "linear", "eps", "--version", "2.0.0-rc.1")
    assert "linear@v2.0.0-rc.1" in out.stdout
    assert registry.which(repo, "linear@latest").version == "v2.0.0-rc.1"
    assert registry.which(repo, "linear@v0.1.0").run_name == "gamma"


def test_default_artifact_is_the_single_model_or_the_single_file(runs):
    repo = open_repository(runs)
    assert registry.register(repo, "clf", "folder").artifact == "clf"
    assert registry.register(repo, "linear", "alpha").artifact == "model.txt"
    with pytest.raises(RegistryError, match=r"run two has 2 artifacts \(a.txt, b.txt\); choose"):
        registry.register(repo, "pair", "two")
    assert registry.register(repo, "pair", "two", registry.RegisterOptions(path="b.txt")).artifact
    result = registry.get(repo, "clf@latest", runs / "got")
    assert sorted(p.relative_to(runs / "got").as_posix() for p in result) == [
        "clf/MLmodel",
        "clf/model.pkl",
    ]


# stages


def test_a_stage_holds_one_version_unless_keep_previous(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    registry.register(repo, "linear", "beta")
    registry.promote(repo, "linear", "v0.0.1", "production")
    registry.promote(repo, "linear", "v0.0.2", "production")
    assert registry.load_registry(repo)["linear"].stages["production"] == ["v0.0.2"]
    registry.promote(
        repo, "linear", "v0.0.1", "production", registry.PromoteOptions(keep_previous=True)
    )
    assert registry.load_registry(repo)["linear"].stages["production"] == ["v0.0.1", "v0.0.2"]
    assert registry.which(repo, "linear@production").version == "v0.0.1"
    with pytest.raises(RegistryError, match="linear v0.0.1 is already in production"):
        registry.promote(repo, "linear", "v0.0.1", "production")


def test_promoting_an_unregistered_run_registers_it_first(runs):
    out = gitml_cli(runs, "model", "promote", "linear", "beta", "staging")
    assert out.stdout == (
        "registered linear v0.0.1, artifact model.txt: tag linear@v0.0.1\n"
        "promoted linear v0.0.1 to staging: tag linear#staging#2\n"
    )
    # a registered run is not registered twice
    out = gitml_cli(runs, "model", "promote", "linear", "beta", "production")
    assert out.stdout == "promoted linear v0.0.1 to production: tag linear#production#3\n"


def test_stages_come_from_gitml_yaml(runs):
    write(runs / "gitml.yaml", "name: demo\nstages: [candidate, live]\n")
    registry.register(runs, "linear", "alpha")
    result = gitml_cli(runs, "model", "promote", "linear", "v0.0.1", "production", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: unknown stage 'production': allowed stages are candidate, live "
        "(set `stages:` in gitml.yaml to change them)\n"
    )
    gitml_cli(runs, "model", "promote", "linear", "v0.0.1", "live")
    assert gitml_cli(runs, "model", "ls").stdout.split()[:6] == [
        "MODEL", "LATEST", "CANDIDATE", "LIVE", "linear", "v0.0.1",
    ]  # fmt: skip
    write(runs / "gitml.yaml", "stages: [Live]\n")
    with pytest.raises(InvalidValueError, match="stage 'Live' in .*gitml.yaml is not valid"):
        registry.promote(runs, "linear", "v0.0.1", "live")


def test_unassign_deregister_deprecate(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    registry.register(repo, "linear", "beta")
    registry.promote(repo, "linear", "v0.0.2", "production")
    registry.promote(repo, "linear", "v0.0.1", "staging")
    out = gitml_cli(runs, "model", "unassign", "linear", "v0.0.1", "staging")
    assert out.stdout == "removed linear v0.0.1 from staging: tag linear#staging!#5\n"
    out = gitml_cli(runs, "model", "deregister", "linear", "v0.0.2", "-m", "bad data")
    assert out.stdout == "deregistered linear v0.0.2: tag linear@v0.0.2!#6\n"
    state = registry.load_registry(repo)["linear"]
    assert state.latest.version == "v0.0.1" and not any(state.stages.values())
    with pytest.raises(RegistryError, match=r"linear v0.0.2 was deregistered \(versions: v0.0.1\)"):
        registry.promote(repo, "linear", "v0.0.2", "production")
    # the version tag itself stays where it was
    assert git(runs, "rev-parse", "linear@v0.0.2^{commit}").strip() == _run_ref(runs, "beta")

    registry.register(repo, "other", "beta")
    out = gitml_cli(runs, "model", "deprecate", "linear")
    assert out.stdout == "deprecated linear: tag linear@deprecated#7\n"
    assert [m.name for m in registry.list_models(repo)] == ["other"]
    registry.deprecate(repo, "other")
    result = gitml_cli(runs, "model", "ls")
    assert (result.stdout, result.stderr) == (
        "",
        "no models in the registry (2 deprecated: gitml model ls --all)\n",
    )
    listing = gitml_cli(runs, "model", "ls", "--all").stdout
    assert "linear (deprecated)" in listing
    # a later event brings it back
    registry.promote(repo, "linear", "v0.0.1", "dev")
    assert [m.name for m in registry.list_models(repo)] == ["linear"]
    assert_fsck_clean(runs)


def test_a_stage_emptied_by_unassign_takes_a_version_again(runs):
    """Promoting into a stage whose last version was unassigned crashed (IndexError)."""
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    registry.promote(repo, "linear", "v0.0.1", "staging")
    registry.unassign(repo, "linear", "v0.0.1", "staging")
    out = gitml_cli(runs, "model", "promote", "linear", "v0.0.1", "staging")
    assert out.stdout.startswith("promoted linear v0.0.1 to staging")
    assert registry.load_registry(repo)["linear"].stages["staging"] == ["v0.0.1"]


# integrity


def test_events_follow_counters_not_timestamps(runs):
    """Tags made in the same second, or with clocks out of step, replay by counter."""
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    registry.register(repo, "linear", "beta")
    alpha, beta = _run_ref(runs, "alpha"), _run_ref(runs, "beta")
    who = "Other <other@example.com>"
    # counter 4 written with a time far in the past, counter 3 in the future
    create_tag(repo, "linear#production#4", beta, "Promoted.\n", who, when=(1_000_000_000, 0))
    create_tag(repo, "linear#production#3", alpha, "Promoted.\n", who, when=(4_000_000_000, 0))
    assert registry.which(repo, "linear@production").version == "v0.0.2"
    assert [e.tag for e in registry.history(repo, "linear")][2:] == [
        "linear#production#3",
        "linear#production#4",
    ]


def test_lightweight_and_foreign_tags_are_ignored(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    beta = _run_ref(runs, "beta")
    git(runs, "tag", "linear@v9.9.9", beta)  # lightweight, registry-shaped
    git(runs, "tag", "linear#staging#4", beta)  # lightweight, registry-shaped
    git(runs, "tag", "-a", "release-1.0", "-m", "a release", "HEAD")
    git(runs, "tag", "-a", "Linear@v1.0.0", "-m", "not our grammar", beta)
    tree = git(runs, "rev-parse", "HEAD^{tree}").strip()
    git(runs, "tag", "-a", "linear#staging#9", "-m", "on a tree", tree)
    git(runs, "tag", "-a", "linear#dev#2", "-m", "made by GTO", beta)  # foreign tool, same grammar
    assert [t.name for t in list_registry_tags(repo)] == ["linear#dev#2", "linear@v0.0.1"]
    state = registry.load_registry(repo)["linear"]
    assert [v.version for v in state.active_versions] == ["v0.0.1"]
    assert state.stages == {"dev": [beta]}  # an unregistered commit stands for itself
    assert registry.promote(repo, "linear", "v0.0.1", "production")[0].tag == "linear#production#3"
    # a lightweight tag holding the next name is stepped over, never overwritten
    assert registry.promote(repo, "linear", "v0.0.1", "staging")[0].tag == "linear#staging#5"
    assert git(runs, "cat-file", "-t", "linear#staging#4").strip() == "commit"
    assert registry.which(repo, "linear@staging").version == "v0.0.1"


def test_empty_registry_is_an_empty_listing(runs):
    git(runs, "tag", "v1.0")
    result = gitml_cli(runs, "model", "ls")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "no models in the registry (gitml model register)\n"
    assert json.loads(gitml_cli(runs, "model", "ls", "--json").stdout) == []


BAD_INPUT = [
    (("register", "linear", "nosuchrun"), "no run matches 'nosuchrun'"),
    (("register", "Linear", "alpha"), "model name 'Linear' is not valid"),
    (("register", "linear", "alpha", "--version", "1.0"), "version '1.0' is not a semantic"),
    (("register", "linear", "alpha", "--path", "nope.txt"), "run alpha has no artifact 'nope"),
    (("register", "linear", "two"), "run two has 2 artifacts (a.txt, b.txt); choose one with"),
    (("register", "linear", "beta", "--version", "v0.0.1"), "linear v0.0.1 already exists"),
    (("register", "linear", "alpha"), "run alpha is already linear v0.0.1"),
    (("promote", "nosuch", "v0.0.1", "dev"), "no model named 'nosuch' in the registry (models: "),
    (("promote", "linear", "v0.0.7", "dev"), "linear v0.0.7 does not exist (versions: v0.0.1)"),
    (("promote", "linear", "v0.0.1", "qa"), "unknown stage 'qa': allowed stages are dev, staging"),
    (("unassign", "linear", "v0.0.1", "dev"), "linear v0.0.1 is not in dev (no version is in dev)"),
    (("which", "linear@production"), "no version of linear is in production (stages in use: "),
    (("which", "linear"), "'linear' is not a model reference: use NAME@STAGE"),
    (("deregister", "linear", "latest"), "version 'latest' is not a semantic version"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_writes_nothing(runs, args, message):
    registry.register(runs, "linear", "alpha")
    before = tags(runs)
    result = gitml_cli(runs, "model", *args, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("gitml: error: " + message), result.stderr
    assert result.stderr.count("\n") == 1
    assert tags(runs) == before


def test_a_run_without_artifacts_cannot_be_registered(repo_with_commit):
    make_run(repo_with_commit, "empty", {})
    with pytest.raises(RegistryError, match="run empty logged no artifact; log a model"):
        registry.register(repo_with_commit, "linear", "empty")
    with pytest.raises(RunNotFoundError):
        registry.register(repo_with_commit, "linear", "nothing")


def test_a_version_tag_is_never_moved(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    sha = git(runs, "rev-parse", "linear@v0.0.1").strip()
    with pytest.raises(RegistryError, match="already exists"):
        registry.register(repo, "linear", "beta", registry.RegisterOptions(version="v0.0.1"))
    from gitml.store.refs import RefExistsError

    with pytest.raises(RefExistsError):
        create_tag(repo, "linear@v0.0.1", _run_ref(runs, "beta"), "x\n", "a <b@c>")
    assert git(runs, "rev-parse", "linear@v0.0.1").strip() == sha


# the Python API


def test_models_uris_resolve_to_a_run_and_an_artifact(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    registry.register(repo, "linear", "beta")
    registry.promote(repo, "linear", "v0.0.1", "production")
    registry.register(repo, "team/clf", "folder")
    registry.promote(repo, "team/clf", "v0.0.1", "staging")
    cases = {
        "models:/linear/v0.0.2": ("beta", "model.txt"),
        "models:/linear/0.0.1": ("alpha", "model.txt"),
        "models:/linear/production": ("alpha", "model.txt"),
        "models:/linear@production": ("alpha", "model.txt"),
        "models:/linear/latest": ("beta", "model.txt"),
        "models:/team/clf/staging": ("folder", "clf"),
        "models:/team/clf@staging": ("folder", "clf"),
    }
    for uri, (run_name, artifact) in cases.items():
        summary, path = registry.resolve_model_uri(str(runs), uri)
        assert (summary.name, path, summary.sha) == (
            run_name,
            artifact,
            _run_ref(runs, run_name),
        ), uri
    with pytest.raises(InvalidValueError, match="names no version or stage"):
        registry.resolve_model_uri(repo, "models:/linear")
    with pytest.raises(InvalidValueError, match="is not a models:/ URI"):
        registry.resolve_model_uri(repo, "runs:/abc/model")
    with pytest.raises(RegistryError, match="no version of linear is in staging"):
        registry.resolve_model_uri(repo, "models:/linear@staging")


def test_import_gitml_does_not_import_the_registry(repo):
    import subprocess
    import sys

    code = "import sys, gitml; print(any(m.startswith('gitml.registry') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"


def test_every_command_has_help_and_is_documented():
    from gitml.cli.model import model, tag

    docs = (Path(__file__).parent.parent / "docs" / "registry.md").read_text()
    commands = {f"gitml model {name}": command for name, command in model.commands.items()}
    commands["gitml tag"] = tag
    for title, command in commands.items():
        assert command.help, title
        assert f"`{title}" in docs, f"{title} missing from docs/registry.md"
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{title} {param.opts}"
                assert any(opt in docs for opt in param.opts), f"{title} {param.opts} undocumented"


def test_a_signed_tag_reads_its_trailers_above_the_signature(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    run_id = registry.which(repo, "linear@v0.0.1").run_id
    signature = "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    message = f"Promoted linear v0.0.1 to dev.\n\nGitml-Run: {run_id}\nGitml-Version: v0.0.1\n"
    alpha = _run_ref(runs, "alpha")
    signer = "Signer <s@example.com>"
    create_tag(repo, "linear#dev#2", alpha, message + signature, signer)
    event = registry.history(repo, "linear")[-1]
    assert (event.run_id, event.message, event.version) == (
        run_id,
        "Promoted linear v0.0.1 to dev.",
        "v0.0.1",
    )


def test_models_whose_names_share_a_prefix_stay_apart(runs):
    write(runs / "gitml.yaml", "stages: [team/prod, prod]\n")
    repo = open_repository(runs)
    for name in ("lin", "linear", "linear/v2"):
        registry.register(repo, name, "alpha")
    registry.promote(repo, "linear", "v0.0.1", "team/prod")
    registry.promote(repo, "lin", "v0.0.1", "prod")
    assert [e.tag for e in registry.history(repo, "linear")] == [
        "linear@v0.0.1",
        "linear#team/prod#2",
    ]
    assert [e.tag for e in registry.history(repo, "lin")] == ["lin@v0.0.1", "lin#prod#2"]
    assert registry.which(repo, "linear@team/prod").version == "v0.0.1"
    assert registry.which(repo, "linear/v2@latest").version == "v0.0.1"
    assert [m.name for m in registry.list_models(repo)] == ["lin", "linear", "linear/v2"]


class Doubler:
    """A model the python_function flavor can save and load back."""

    def predict(self, rows):
        return [2 * value for value in rows]


def test_load_model_follows_a_models_uri_through_the_registry(repo_with_commit):
    import numpy

    from gitml.models.load import load_model

    with gitml.start_run(name="train", repo=repo_with_commit):
        gitml.log_model(Doubler(), "clf")
    event = registry.register(repo_with_commit, "clf", "train")  # the run's single model
    assert event.artifact == "clf"
    registry.promote(repo_with_commit, "clf", "v0.0.1", "production")
    for uri in ("models:/clf@production", "models:/clf/production", "models:/clf/v0.0.1"):
        model = load_model(uri, repo=repo_with_commit)
        assert numpy.ravel(model.predict([1, 2, 3])).tolist() == [2, 4, 6], uri


def test_stages_come_from_an_mlproject_file_too(repo_with_commit):
    from gitml.errors import ProjectFileError

    repo = open_repository(repo_with_commit)
    assert registry.allowed_stages(repo) == ("dev", "staging", "production", "archived")
    write(repo_with_commit / "MLproject", "name: demo\nstages: [qa, prod]\n")
    assert registry.allowed_stages(repo) == ("qa", "prod")
    write(repo_with_commit / "gitml.yaml", "stages: prod\n")
    with pytest.raises(ProjectFileError, match="stages must be a list of names"):
        registry.allowed_stages(repo)


def test_tags_carry_a_fallback_tagger_when_git_knows_no_identity(runs, isolate):
    write(isolate / ".gitconfig", "[user]\n\tuseConfigOnly = true\n")
    assert git(runs, "var", "GIT_COMMITTER_IDENT", check=False) == ""  # git itself gives up
    event = registry.register(runs, "linear", "alpha")
    assert (event.author, event.email) == ("gitml", "gitml@localhost")
    assert "\ntagger gitml <gitml@localhost> " in git(runs, "cat-file", "tag", "linear@v0.0.1")


def test_a_message_holding_separator_characters_is_read_whole(runs):
    repo = open_repository(runs)
    registry.register(repo, "linear", "alpha")
    alpha = _run_ref(runs, "alpha")
    tricky = "Moved.\x1erefs/tags/linear#dev#9\x1fnot a record\n"
    create_tag(repo, "linear#dev#2", alpha, tricky, "Odd <odd@example.com>")
    registry.promote(repo, "linear", "v0.0.1", "staging")
    events = registry.history(repo, "linear")
    assert [e.tag for e in events] == ["linear@v0.0.1", "linear#dev#2", "linear#staging#3"]
    assert events[1].message == tricky.rstrip("\n")


def test_concurrent_events_on_one_model_get_distinct_counters(runs):
    """Eight processes promote at once, to different stages: every counter is used once."""
    import subprocess
    import sys

    registry.register(runs, "linear", "alpha")
    registry.register(runs, "linear", "beta")
    stages = ["dev", "staging", "production", "archived"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gitml",
                "model",
                "promote",
                *["linear", version, stage, "--keep-previous"],
            ],
            cwd=runs,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for version in ("v0.0.1", "v0.0.2")
        for stage in stages
    ]
    assert [p.wait() for p in processes] == [0] * 8, [p.stderr.read() for p in processes]

    counters = [event.counter for event in registry.history(runs, "linear")]
    assert sorted(counters) == list(range(1, 11))
    assert_fsck_clean(runs)


def test_mlflow_style_numbers_and_stages_resolve_as_mlflow_reads_them(runs):
    """MLflow's version N is the Nth registered (deregistered ones keep their number);
    its stages are gitml's, case-insensitive."""
    from gitml.registry.resolve import resolve_model_uri

    registry.register(runs, "linear", "alpha", registry.RegisterOptions(version="v2.0.0"))
    registry.promote(runs, "linear", "beta", "production")  # registers v2.0.1
    registry.deregister(runs, "linear", "v2.0.0")
    assert resolve_model_uri(runs, "models:/linear/2")[0].name == "beta"
    assert resolve_model_uri(runs, "models:/linear/Production")[0].name == "beta"
    assert gitml_cli(runs, "model", "which", "linear@PRODUCTION").stdout.split()[0] == "linear"
    for number in ("1", "3", "9" * 5000):  # deregistered, not yet, and absurd
        with pytest.raises(RegistryError, match=r"linear has no version [0-9]+: a number counts"):
            resolve_model_uri(runs, f"models:/linear/{number}")
