"""Saved views of `gitml ui` travel with `gitml push` and `gitml fetch`, never forced."""

from gitml.store.repository import open_repository
from gitml.ui.views import list_views, save_view
from tests.sharing_helpers import seeded_remote
from tests.utils import cli, git


def _queries(repo) -> dict:
    return {view.name: view.query for view in list_views(open_repository(repo))}


def test_views_travel_with_push_and_fetch(tmp_path):
    remote, (ours, theirs) = seeded_remote(tmp_path, "ours", "theirs")
    save_view(open_repository(ours), "best", "sort=-metrics.acc")
    cli(ours, "push")
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/gitml/views/") == (
        "refs/gitml/views/best\n"
    )
    cli(theirs, "fetch")
    assert _queries(theirs) == {"best": "sort=-metrics.acc"}
    save_view(open_repository(ours), "best", "sort=name")  # a child: the push fast-forwards
    cli(ours, "push")
    cli(theirs, "fetch")
    assert _queries(theirs) == {"best": "sort=name"}


def test_a_view_changed_on_both_sides_keeps_each_sides_commit(tmp_path):
    remote, (ours, theirs) = seeded_remote(tmp_path, "ours", "theirs")
    save_view(open_repository(ours), "best", "sort=a")
    cli(ours, "push")
    save_view(open_repository(theirs), "best", "sort=b")  # made there on its own
    save_view(open_repository(ours), "other", "sort=c")
    cli(ours, "push")
    cli(theirs, "fetch")  # the remote's best is no ancestor of theirs: left alone
    assert _queries(theirs) == {"best": "sort=b", "other": "sort=c"}
    assert _queries(remote) == {"best": "sort=a", "other": "sort=c"}


def test_pushing_a_view_the_remote_has_differently_warns_and_sends_the_rest(tmp_path):
    from tests.utils import gitml

    remote, (ours, theirs) = seeded_remote(tmp_path, "ours", "theirs")
    save_view(open_repository(ours), "best", "sort=a")
    cli(ours, "push")
    save_view(open_repository(theirs), "best", "sort=b")
    save_view(open_repository(theirs), "mine", "sort=m")
    done = gitml(theirs, "push")
    assert "warning: view best was saved differently here and on origin" in done.stderr
    assert _queries(remote) == {"best": "sort=a", "mine": "sort=m"}
    fetched = gitml(theirs, "fetch")
    assert "warning: view best was saved differently" in fetched.stderr
    assert _queries(theirs) == {"best": "sort=b", "mine": "sort=m"}
