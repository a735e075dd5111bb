"""`gitml ui`'s JSON API and its guards: a real server process on 127.0.0.1, real runs."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gitml
from tests.conftest import record_three_runs
from tests.ui_helpers import UiServer
from tests.utils import cli, git, isolated, write

HOSTILE = "<script>alert(1)</script>"
SPIKE_AT, DIP_AT, POINTS = 3333, 4100, 5000
PNG = bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 16
LIVE = (
    "import os, sys, time, gitml\n"
    "stop = sys.argv[1]\n"
    "print('live output starts', flush=True)\n"
    "step = 0\n"
    "while not os.path.exists(stop) and step < 600:\n"
    "    gitml.log_metric('tick', step, step=step)\n"
    "    print(f'tick {step}', flush=True)\n"
    "    step += 1\n"
    "    time.sleep(0.1)\n"
)


def _hostile_run(repo: Path) -> None:
    """A run whose params, tags and artifacts hold markup, with a long spiky metric."""
    with gitml.start_run(name="spiky", repo=repo, experiment=HOSTILE):
        gitml.log_params({"lr": "0.5", "note": HOSTILE})
        gitml.set_tag("owner", HOSTILE)
        for step in range(POINTS):
            value = 1e6 if step == SPIKE_AT else (-1e6 if step == DIP_AT else math.sin(step))
            gitml.log_metric("wave", value, step=step)
        gitml.log_text(f"<html><body>{HOSTILE}</body></html>", "report.html")
        gitml.log_text(f'<svg xmlns="http://www.w3.org/2000/svg">{HOSTILE}</svg>', "plot.svg")
        gitml.log_text("# Notes\n", "notes/readme.md")
        gitml.log_dict({"a": 1}, "config.json")
        staged = repo / "image.png"
        staged.write_bytes(PNG)
        gitml.log_artifact(staged)
        staged.unlink()


@pytest.fixture(scope="module")
def served(templates, tmp_path_factory):
    """Three runs made by `gitml run` (alpha, beta, gamma), the hostile `spiky` run, a
    run still running (`live`), a registered model; one server for the module."""
    home = tmp_path_factory.mktemp("ui-home")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, home)
        repo = templates.copy(record_three_runs, tmp_path_factory.mktemp("ui") / "repo")
        _hostile_run(repo)
        cli(repo, "model", "register", "clf", "spiky", "--path", "config.json")
        cli(repo, "model", "register", "team/clf", "spiky", "--path", "config.json")
        stop = tmp_path_factory.mktemp("live") / "stop"
        write(repo / "live.py", LIVE)
        live = subprocess.Popen(
            [sys.executable, "-m", "gitml", "run", "--name", "live", "--", "python", "live.py"]
            + [str(stop)],
            cwd=repo,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = UiServer(repo)
        try:
            _wait_for(lambda: "live" in server.get("/api/runs").json["columns"]["name"])
            yield server, repo
        finally:
            stop.write_text("")
            live.wait(60)
            server.stop()


def _wait_for(condition, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _ids(repo: Path, *args: str) -> list[str]:
    return [run["id"] for run in json.loads(cli(repo, "ls", "--all", "--json", *args).output)]


# the runs table


def test_runs_come_column_wise_with_ls_field_names(served):
    server, repo = served
    table = server.get("/api/runs").json
    columns = table["columns"]
    assert table["count"] == 5
    assert table["fields"] == list(columns)
    assert all(len(values) == 5 for values in columns.values())
    assert columns["id"] == _ids(repo)  # every run, newest first, as gitml ls
    assert {"id", "name", "experiment", "status", "start_time", "duration", "base"} <= set(columns)
    assert {"params.lr", "metrics.acc", "metrics.wave", "tags.owner"} <= set(columns)
    row = columns["name"].index("spiky")
    assert columns["params.note"][row] == HOSTILE  # data, JSON-escaped, never markup
    assert columns["status"][columns["name"].index("live")] == "running"


def test_runs_carry_the_branch_each_started_on(served):
    server, repo = served
    columns = server.get("/api/runs").json["columns"]
    branches = dict(zip(columns["name"], columns["branch"], strict=True))
    assert branches == dict.fromkeys(["live", "spiky", "gamma", "beta", "alpha"], "main")
    query = "filter=branch%20%3D%20%27main%27%20and%20status%20%3D%20%27finished%27"
    expected = _ids(repo, "--filter", "branch = 'main' and status = 'finished'")
    assert server.get(f"/api/runs?{query}").json["columns"]["id"] == expected
    assert len(expected) == 3


def test_runs_answer_is_gzipped_when_the_client_takes_it(served):
    server, _ = served
    plain = server.get("/api/runs")
    zipped = server.get("/api/runs", {"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    import gzip

    assert json.loads(gzip.decompress(zipped.body))["columns"]["id"] == plain.json["columns"]["id"]


def test_filter_and_sort_choose_what_gitml_ls_chooses(served):
    server, repo = served
    query = "filter=params.lr%20%3E%3D%20%270.2%27%20or%20metrics.acc%20%3C%200.3&sort=-params.lr"
    table = server.get(f"/api/runs?{query}").json
    expected = _ids(repo, "--filter", "params.lr >= '0.2' or metrics.acc < 0.3", "-s", "-params.lr")
    assert table["columns"]["id"] == expected
    assert table["count"] == len(expected) >= 2
    assert server.get(f"/api/select?{query}").json == {"ids": expected}


@pytest.mark.parametrize(
    ("filter_", "field", "position"),
    [
        ("metrics.acc > 'high'", "metrics.acc", 12),
        ("params.lr = '0.1' and metrics.loss >", "metrics.loss", 36),
        ("(status = 'finished'", None, 20),
        ("metrics.acc > 1 @", "metrics.acc", 16),
    ],
)
def test_a_bad_filter_says_where_and_which_field(served, filter_, field, position):
    server, _ = served
    from urllib.parse import quote

    for endpoint in ("/api/runs", "/api/select"):
        answer = server.get(f"{endpoint}?filter={quote(filter_)}")
        assert answer.status == 400
        error = answer.json["error"]
        assert (error["field"], error["position"]) == (field, position)
        assert error["message"]


def test_sorting_by_a_key_no_run_has_is_refused_naming_it(served):
    server, _ = served
    answer = server.get("/api/select?sort=metrics.nothing")
    assert answer.status == 400
    assert answer.json["error"]["field"] == "metrics.nothing"


# one run


def test_a_run_record_is_gitml_show_json(served):
    server, repo = served
    answer = server.get("/api/runs/spiky")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json == json.loads(cli(repo, "show", "spiky", "--json").output)
    assert server.get("/api/runs/no-such-run").status == 404


def test_a_long_metric_is_downsampled_keeping_its_extremes(served):
    server, _ = served
    answer = server.get("/api/runs/spiky/metrics/wave?points=200").json
    assert (answer["total"], answer["count"], answer["downsampled"]) == (POINTS, POINTS, True)
    assert answer["returned"] == len(answer["step"]) == len(answer["value"]) <= 200
    steps = answer["step"]
    assert steps == sorted(steps)
    assert {0, POINTS - 1, SPIKE_AT, DIP_AT} <= set(steps)
    assert max(answer["value"]) == 1e6 and min(answer["value"]) == -1e6


def test_a_range_within_the_points_asked_for_is_exact(served):
    server, _ = served
    answer = server.get("/api/runs/spiky/metrics/wave?points=500&start=3300&end=3400").json
    assert answer["downsampled"] is False
    assert answer["step"] == list(range(3300, 3401))
    assert answer["total"] == answer["returned"] == 101
    assert answer["value"][SPIKE_AT - 3300] == 1e6
    by_time = server.get(f"/api/runs/spiky/metrics/wave?x=time&start={answer['time'][0]}").json
    assert by_time["x"] == "time" and by_time["total"] >= 1


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("points=1000000000000000", 200),  # capped, not honoured
        ("points=abc", 400),
        ("points=0", 400),
        ("points=-5", 400),
        ("start=x", 400),
        ("start=nan", 400),
        ("x=epoch", 400),
    ],
)
def test_metric_requests_out_of_bounds(served, query, status):
    server, _ = served
    answer = server.get(f"/api/runs/spiky/metrics/wave?{query}")
    assert answer.status == status
    if status == 200:
        assert answer.json["returned"] <= 20_000


def test_a_running_runs_metric_is_read_on_from_where_it_stopped(served):
    server, _ = served
    _wait_for(lambda: server.get("/api/runs/live/metrics/tick").status == 200)
    first = server.get("/api/runs/live/metrics/tick?points=20000").json
    _wait_for(
        lambda: (
            server.get("/api/runs/live/metrics/tick?points=20000").json["count"]
            > first["count"] + 3
        )
    )
    later = server.get("/api/runs/live/metrics/tick?points=20000").json
    assert later["downsampled"] is False
    assert later["step"] == list(range(later["count"]))  # each point once, in order
    assert later["value"] == [float(step) for step in later["step"]]
    part = server.get("/api/runs/live/metrics/tick?start=2&end=4").json
    assert part["step"] == [2, 3, 4]


def test_a_points_cache_damaged_or_elsewhere_is_parsed_again(served, tmp_path):
    """Each committed metric is looked for in `.git/gitml/cache/points/<blob>` first: a
    file there the server did not write whole, or no regular file of that folder, is
    passed over and the metric parsed from its blob; an intact file is taken."""
    from array import array

    from gitml.store.layout import POINTS_CACHE
    from gitml.ui import points_cache
    from gitml.ui.downsample import Points

    server, repo = served
    ids = {run["name"]: run["id"] for run in json.loads(cli(repo, "ls", "--json").output)}

    def blob(name: str, key: str) -> str:
        return git(
            repo, "rev-parse", f"refs/gitml/runs/{ids[name]}:.gitml/metrics/{key}.tsv"
        ).strip()

    many = points_cache.CACHED_FROM
    other = Points(array("q", range(many)), array("d", [7.0] * many), array("q", range(many)))
    outside = tmp_path / "outside"
    points_cache.save(outside, "ef" * 20, other)  # a valid file, out of the folder
    valid = (outside / POINTS_CACHE / ("ef" * 20)).read_bytes()
    folder = repo / ".git" / "gitml" / POINTS_CACHE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / blob("alpha", "loss")).write_bytes(b"garbage")
    (folder / blob("alpha", "acc")).write_bytes(valid[:-100])  # cut short
    (folder / blob("beta", "loss")).write_bytes(valid[:50] + bytes([valid[50] ^ 1]) + valid[51:])
    (folder / blob("beta", "acc")).symlink_to(outside / POINTS_CACHE / ("ef" * 20))
    os.mkfifo(folder / blob("gamma", "loss"))
    (folder / blob("gamma", "acc")).write_bytes(valid)  # intact: taken as it is
    expected = {("alpha", "loss"): 10.0, ("alpha", "acc"): 0.2, ("beta", "loss"): 5.0}
    expected |= {("beta", "acc"): 0.4, ("gamma", "loss"): 2.5}
    for (name, key), value in expected.items():
        answer = server.get(f"/api/runs/{name}/metrics/{key}").json
        assert (answer["count"], answer["value"]) == (1, [value]), (name, key)
    taken = server.get("/api/runs/gamma/metrics/acc?points=4").json
    assert taken["count"] == many and set(taken["value"]) == {7.0}
    assert (outside / POINTS_CACHE / ("ef" * 20)).read_bytes() == valid


def test_a_metric_the_run_lacks_is_not_found(served):
    server, _ = served
    answer = server.get("/api/runs/spiky/metrics/nothing")
    assert answer.status == 404
    assert "no metric" in answer.json["error"]["message"]


def test_artifacts_are_listed_with_sizes_and_kinds(served):
    server, _ = served
    listing = server.get("/api/runs/spiky/artifacts").json
    kinds = {item["path"]: item["kind"] for item in listing["files"]}
    assert kinds == {
        "config.json": "json",
        "image.png": "image",
        "notes/readme.md": "markdown",
        "plot.svg": "svg",
        "report.html": "html",
    }
    sizes = {item["path"]: item["size"] for item in listing["files"]}
    assert sizes["image.png"] == len(PNG)


def test_no_artifact_runs_as_a_page_of_the_server(served):
    server, _ = served
    for path in ("report.html", "plot.svg"):
        answer = server.get(f"/api/runs/spiky/artifacts/{path}")
        assert answer.status == 200
        assert HOSTILE.encode() in answer.body
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-security-policy"].startswith("sandbox")
    image = server.get("/api/runs/spiky/artifacts/image.png")
    assert (image.headers["content-type"], image.body) == ("image/png", PNG)
    download = server.get("/api/runs/spiky/artifacts/report.html?download=1")
    assert download.headers["content-disposition"].startswith('attachment; filename="report.html"')


@pytest.mark.parametrize(
    "path",
    [
        "../../../../etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2fetc%2fpasswd",
        ".git/config",
        "notes/../../run.json",
        "nothing.txt",
    ],
)
def test_an_artifact_path_never_leaves_the_artifacts(served, path):
    server, _ = served
    answer = server.get(f"/api/runs/spiky/artifacts/{path}")
    assert answer.status in (400, 404)
    assert b"root:" not in answer.body and b'"format"' not in answer.body


def test_output_is_tailed_from_an_offset_while_the_run_runs(served):
    server, _ = served
    first = server.get("/api/runs/live/output").json
    assert first["running"] is True
    assert first["text"].startswith("live output starts")
    _wait_for(lambda: server.get(f"/api/runs/live/output?offset={first['offset']}").json["text"])
    more = server.get(f"/api/runs/live/output?offset={first['offset']}").json
    assert more["text"].startswith("tick") and more["offset"] > first["offset"]
    assert server.get("/api/runs/live/output?offset=999999999").json["reset"] is True
    assert server.get("/api/runs/live/output?offset=-1").status == 400
    assert server.get("/api/runs/alpha/output").json["running"] is False


def test_code_against_the_base_and_environment(served):
    server, repo = served
    code = server.get("/api/runs/live/code")
    assert code.status == 409  # still running: no commit yet
    spiky = server.get("/api/runs/alpha/code").json
    assert spiky["base"] == git(repo, "rev-parse", "HEAD").strip()
    assert spiky["files"] == [] and spiky["patch"] == ""  # alpha ran the committed code
    environment = server.get("/api/runs/alpha/environment").json
    assert environment["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert "pytest" in environment["packages"]


def test_diff_is_gitml_diffs_answer(served):
    server, repo = served
    answer = server.get("/api/diff?a=alpha&b=beta").json
    expected = json.loads(cli(repo, "diff", "alpha", "beta", "--json", "--stat").output)
    assert answer == expected
    assert [change["key"] for change in answer["params"]] == ["lr"]
    code = server.get("/api/diff/code?a=alpha&b=spiky").json
    assert code["a"]["name"] == "alpha" and code["b"]["name"] == "spiky"
    assert all(not f["path"].startswith(".gitml") for f in code["files"])
    assert server.get("/api/diff").status == 400
    assert server.get("/api/diff?a=--output=x&b=alpha").status == 404


# the registry


def test_models_board_history_and_date(served):
    server, _ = served
    models = server.get("/api/models").json["models"]
    assert [m["model"] for m in models] == ["clf", "team/clf"]
    team = server.get("/api/models/team%2Fclf/history").json
    assert team["model"] == "team/clf" and team["events"][0]["event"] == "register"
    assert server.get("/api/models/team/clf/at?date=2000-01-01").json["model"] == "team/clf"
    history = server.get("/api/models/clf/history").json["events"]
    assert history[0]["event"] == "register" and history[0]["author"] == "Test User"
    before = server.get("/api/models/clf/at?date=2000-01-01").json
    assert before["stages"] == {} and before["latest"] is None
    assert server.get("/api/models/clf/at?date=yesterday").status == 400
    assert server.get("/api/models/nothing/history").status == 400


def test_registry_writes_need_the_token(served):
    server, repo = served
    body = {"version": "v0.0.1", "stage": "production"}
    assert server.post("/api/models/clf/promote", body, token=None).status == 403
    assert server.post("/api/models/clf/promote", body, token="guessed").status == 403
    assert "clf#production#" not in git(repo, "tag", "-l")
    done = server.post("/api/models/clf/promote", body)
    assert done.status == 200, done.body
    assert done.json["events"][0]["tag"] == "clf#production#2"
    assert "clf#production#2" in git(repo, "tag", "-l")
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 5))
    assert server.get(f"/api/models/clf/at?date={now}").json["stages"] == {"production": ["v0.0.1"]}
    again = server.post("/api/models/clf/promote", body)
    assert again.status == 400 and "already in production" in again.json["error"]["message"]
    gone = server.post("/api/models/clf/unassign", body)
    assert gone.status == 200 and gone.json["events"][0]["event"] == "unassign"
    assert server.post("/api/models/clf/rename", body).status == 404
    team = server.post("/api/models/team/clf/promote", {"version": "v0.0.1", "stage": "staging"})
    assert team.status == 200 and team.json["events"][0]["model"] == "team/clf"
    assert server.post("/api/models/clf/register", {"run": 3}).status == 400


# saved views


def test_views_are_saved_as_refs_that_fast_forward(served):
    server, repo = served
    query = "filter=metrics.acc%20%3E%200.3&sort=-metrics.acc"
    saved = server.request(
        "POST", "/api/views", {"name": "best", "query": query}, {"X-Gitml-Token": server.token}
    )
    assert saved.status == 200, saved.body
    first = git(repo, "rev-parse", "refs/gitml/views/best").strip()
    assert git(repo, "show", "refs/gitml/views/best:view.txt") == query
    server.post("/api/views", {"name": "best", "query": "sort=name"})
    second = git(repo, "rev-parse", "refs/gitml/views/best").strip()
    assert git(repo, "rev-parse", f"{second}^").strip() == first  # a child: pushes fast-forward
    views = {v["name"]: v for v in server.get("/api/views").json["views"]}
    assert views["best"]["query"] == "sort=name" and views["best"]["problem"] is None
    assert server.post("/api/views", {"name": "x", "query": "q"}, token=None).status == 403
    deleted = server.request("DELETE", "/api/views/best", headers={"X-Gitml-Token": server.token})
    assert deleted.status == 200
    assert "best" not in {v["name"] for v in server.get("/api/views").json["views"]}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "../escape", "query": "q"},
        {"name": "-option", "query": "q"},
        {"name": "x.lock", "query": "q"},
        {"name": "a" * 101, "query": "q"},
        {"name": "ok", "query": "line\nbreak"},
        {"name": "ok", "query": "q" * 10_000},
        {"name": "ok", "query": 5},
        {"name": None, "query": "q"},
        b'{"name": "ok", "query": ' + b"[" * 30_000,  # deeper than Python's decoder goes
    ],
)
def test_a_bad_view_is_refused(served, body):
    server, repo = served
    assert server.post("/api/views", body).status == 400
    assert git(repo, "for-each-ref", "refs/gitml/views/") == ""


def test_hostile_views_never_break_the_listing(served):
    server, repo = served

    def blob(data: bytes) -> str:
        done = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True
        )
        return done.stdout.decode().strip()

    refs = {
        "huge": blob(b"x" * 100_000),
        "binary": blob(b"\xff\xfe"),
        "empty": blob(b""),
        "tree": git(repo, "rev-parse", "HEAD^{tree}").strip(),
        "noview": git(repo, "rev-parse", "HEAD").strip(),
    }
    for name, sha in refs.items():
        git(repo, "update-ref", f"refs/gitml/views/{name}", sha)
    try:
        answer = server.get("/api/views")
        assert answer.status == 200
        views = {v["name"]: v for v in answer.json["views"]}
        assert views["empty"]["query"] == ""
        for name in ("huge", "binary", "tree", "noview"):
            assert views[name]["query"] is None and views[name]["problem"], name
    finally:
        for name in refs:
            git(repo, "update-ref", "-d", f"refs/gitml/views/{name}")


# the guards


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:5050",
        "127.0.0.1.evil.example",
        "localhost.",
        "localhost:80@evil.example",
        "localhost:evil.example",
        "[::1]evil.example",
        "127.0.0.1:5050:80",
    ],
)
def test_a_foreign_host_name_is_refused(served, host):
    server, _ = served
    for path in ("/", "/api/runs", "/api/runs/alpha"):
        answer = server.get(path, {"Host": host})
        assert answer.status == 400
        assert b"alpha" not in answer.body and b"gitml-token" not in answer.body


def test_loopback_names_are_answered(served):
    server, _ = served
    for host in (f"localhost:{server.port}", "127.0.0.1", f"LOCALHOST:{server.port}"):
        assert server.get("/api/select", {"Host": host}).status == 200


def test_the_index_carries_the_token_under_a_strict_policy(served):
    server, _ = served
    page = server.get("/")
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    assert page.body.count(b'name="gitml-token"') == 1
    assert HOSTILE.encode() not in page.body
    deep = server.get("/run/alpha")  # a page's own address gets the index too
    assert deep.status == 200 and b"gitml-token" in deep.body
    plotly = server.get("/vendor/plotly.min.js")
    assert plotly.status == 200 and plotly.headers["content-type"].startswith("text/javascript")
    assert server.get("/api/nothing").status == 404


# live events


def _events(server: UiServer, wanted, seconds: float = 30) -> list[str]:
    """Event names from /api/events until `wanted(names)` is true."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=seconds)
    connection.request("GET", "/api/events", headers={"Host": f"127.0.0.1:{server.port}"})
    response = connection.getresponse()
    assert response.getheader("content-type").startswith("text/event-stream")
    names: list[str] = []
    try:
        end = time.monotonic() + seconds
        while not wanted(names) and time.monotonic() < end:
            line = response.fp.readline().decode()
            if line.startswith("event: "):
                names.append(line[len("event: ") :].strip())
    finally:
        connection.close()
    return names


def test_a_flood_of_event_streams_is_bounded(served):
    """Each open stream polls the repository once a second: past MAX_STREAMS a new one
    is refused, and places come back as streams close."""
    import http.client

    from gitml.ui.events import MAX_STREAMS

    server, _ = served
    headers = {"Host": f"127.0.0.1:{server.port}"}

    def open_stream() -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/api/events", headers=headers)
        response = connection.getresponse()
        if response.status == 200:
            response.fp.readline()  # the first line: the stream's body runs
        return connection, response

    opened = [open_stream() for _ in range(MAX_STREAMS)]
    try:
        assert all(response.status == 200 for _, response in opened)
        connection, refused = open_stream()
        assert refused.status == 503 and b"event streams" in refused.read()
        connection.close()
    finally:
        for connection, _ in opened:
            connection.close()
    for _ in range(100):  # the server sees the closed streams end within its next poll
        connection, again = open_stream()
        connection.close()
        if again.status == 200:
            break
        time.sleep(0.1)
    assert again.status == 200


@pytest.mark.slow  # a second server, or seconds of events
def test_events_tell_of_a_running_run_and_a_new_one(served):
    server, repo = served
    live = server.get("/api/runs/live").json["id"]
    names = _events(server, lambda names: f"run:{live}" in names)
    assert f"run:{live}" in names

    def new_run() -> None:
        time.sleep(1.5)
        with gitml.start_run(name="newcomer", repo=repo):
            gitml.log_metric("x", 1.0)

    import threading

    maker = threading.Thread(target=new_run)
    maker.start()
    try:
        assert "runs" in _events(server, lambda names: "runs" in names)
    finally:
        maker.join()
    assert "newcomer" in server.get("/api/runs").json["columns"]["name"]
    cli(repo, "rm", "newcomer")
    assert "newcomer" not in server.get("/api/runs").json["columns"]["name"]


# launching


@pytest.mark.slow  # a second server, or seconds of events
def test_a_bare_repository_is_served(served, tmp_path):
    _, repo = served
    bare = tmp_path / "bare.git"
    git(repo, "clone", "-q", "--bare", str(repo), str(bare))
    git(repo, "push", "-q", str(bare), "refs/gitml/runs/*:refs/gitml/runs/*")
    server = UiServer(bare)
    try:
        assert server.first_line.startswith(f"gitml ui: serving {bare}")
        assert sorted(server.get("/api/runs").json["columns"]["name"]) == [
            "alpha",
            "beta",
            "gamma",
            "spiky",
        ]
        assert server.get("/api/runs/alpha/metrics/acc").json["value"] == [0.2]
    finally:
        server.stop()


def test_without_the_extra_one_line_names_it(tmp_path):
    blocker = write(
        tmp_path / "sitecustomize.py",
        "import sys\nsys.modules['starlette'] = None\n",
    )
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "gitml", "ui", "--no-browser"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "gitml: error: gitml ui needs starlette, which is not installed: pip install 'gitml[ui]'\n"
    )


def test_a_host_that_is_not_loopback_warns_before_anything(repo):
    done = subprocess.run(
        [sys.executable, "-m", "gitml", "ui", "--no-browser", "--host", "no-such-host.invalid"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    warning, error = done.stderr.splitlines()
    assert warning == (
        "gitml: warning: listening on no-such-host.invalid: anyone who can reach this "
        "address can read every run of the repository"
    )
    assert error.startswith("gitml: error: cannot resolve host 'no-such-host.invalid'")


def test_a_port_in_use_is_one_line(served):
    import socket

    _, repo = served
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gitml", "ui", "--no-browser", "--port", str(port), str(repo)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr.startswith(f"gitml: error: cannot listen on 127.0.0.1:{port}: ")
    assert done.stderr.count("\n") == 1


def test_listening_on_every_address_answers_the_machines_own_names():
    import socket

    from gitml.ui.security import allowed_hosts, host_name

    everywhere = allowed_hosts("0.0.0.0")
    assert {socket.gethostname().lower(), "localhost", "127.0.0.1"} <= everywhere
    assert "evil.example" not in everywhere
    assert allowed_hosts("::1") == {"localhost", "127.0.0.1", "[::1]"}
    assert host_name("[::1]:5050") == "[::1]" and host_name("LocalHost:80") == "localhost"


def test_a_damaged_run_with_a_script_for_a_name_is_listed_as_damaged(served):
    server, repo = served
    from gitml.store.ids import new_run_id

    run_id = new_run_id(int(time.time() * 1000))
    message = (
        f"x: finished\n\nGitml-Run: {run_id}\nGitml-Name: {HOSTILE}\nGitml-Status: finished\n"
        f"Gitml-Param: lr={HOSTILE}\n"
    )
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    commit = subprocess.run(
        ["git", "commit-tree", tree, "-m", message], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    git(repo, "update-ref", f"refs/gitml/runs/{run_id}", commit)
    try:
        columns = server.get("/api/runs").json["columns"]
        row = columns["id"].index(run_id)
        assert (columns["status"][row], columns["name"][row]) == ("damaged", "")
        assert "<script>" in columns["damage"][row] or "not a run name" in columns["damage"][row]
        record = server.get(f"/api/runs/{run_id}")
        assert record.status == 200 and record.json["status"] == "damaged"
        assert server.get("/api/select?filter=status%20%3D%20%27damaged%27").json == {
            "ids": [run_id]
        }
    finally:
        git(repo, "update-ref", "-d", f"refs/gitml/runs/{run_id}")


def test_a_body_over_the_limit_is_refused_unread(served):
    server, repo = served
    answer = server.post("/api/views", {"name": "big", "query": "q" * 100_000})
    assert answer.status == 413
    assert git(repo, "for-each-ref", "refs/gitml/views/") == ""


def test_the_runs_table_revalidates_and_says_the_servers_time(served):
    server, _ = served
    first = server.get("/api/runs")
    assert first.headers["server-timing"].startswith("app;dur=")

    def revalidated() -> bool:
        # the live run logs every 0.1 s, and each line makes a new listing: try again
        # until two requests fall between two of its lines
        etag = server.get("/api/runs").headers["etag"]
        again = server.get("/api/runs", {"If-None-Match": etag})
        return again.status == 304 and again.body == b""

    _wait_for(revalidated)
    assert server.get("/api/runs", {"If-None-Match": '"other-1"'}).status == 200


def test_a_small_filtered_table_is_sent_as_it_is(served):
    server, _ = served
    answer = server.get("/api/runs?sort=name", {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in answer.headers  # not worth compressing
    assert answer.json["columns"]["name"] == sorted(answer.json["columns"]["name"])
