"""`gitml serve`: a real server process on a free 127.0.0.1 port, real HTTP requests."""

import http.client
import os
import threading
import time

import pytest

import gitml
from tests.models_helpers import (
    COLUMNS,
    Server,
    send,
    split_payload,
    train_sklearn,
    train_torch,
)
from tests.utils import assert_fsck_clean, isolated


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module: an sklearn model saved with a signature; (server, model, X).
    It starts before any test's `isolate`, so under a HOME of its own."""
    folder = tmp_path_factory.mktemp("served") / "model"
    model, X = train_sklearn()
    gitml.save_model(model, folder, input_example=X.iloc[:2])
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, tmp_path_factory.mktemp("home"))
        server = Server(str(folder), folder.parent).start()
    try:
        yield server, model, X
    finally:
        if server.proc.poll() is None:
            server.stop()


def test_health_and_version_routes(served):
    server, _, _ = served
    assert server.request("GET", "/ping") == (200, "\n")
    assert server.request("GET", "/health") == (200, "\n")
    assert server.request("GET", "/version") == (200, gitml.__version__)


def test_every_request_shape_gets_the_same_predictions(served):
    server, model, X = served
    rows = X.iloc[:5]
    expected = {"predictions": model.predict(rows).tolist()}
    records = rows.to_dict(orient="records")
    for body in (
        split_payload(rows),
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {c: rows[c].tolist() for c in COLUMNS}},
        {"inputs": rows.values.tolist()},
        {**split_payload(rows), "params": {}},
    ):
        assert server.request("POST", "/invocations", body) == (200, expected), body
    csv = rows.to_csv(index=False)
    assert server.request("POST", "/invocations", csv, "text/csv") == (200, expected)
    charset = "application/json; charset=utf-8"
    assert server.request("POST", "/invocations", split_payload(rows), charset) == (200, expected)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("{not json", "application/json", 400, "the request body is not valid JSON"),
        ({"rows": [[1, 2, 3]]}, "application/json", 400, "exactly one of dataframe_split"),
        ([1, 2], "application/json", 400, "got a JSON list"),
        ({"dataframe_split": [1]}, "application/json", 400, "dataframe_split must be"),
        (
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}},
            "application/json",
            400,
            "input column 'c' is missing; the model's signature expects: a, b, c",
        ),
        (
            {"dataframe_records": [{"a": 1.0, "b": "x", "c": 2.0}]},
            "application/json",
            400,
            "input column 'b' has text ('x') values but the model's signature expects double",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[True, 2.0, 3.0]]}},
            "application/json",
            400,
            "input column 'a' has boolean values but the model's signature expects double",
        ),
        (
            '{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[NaN, 2, 3]]}}',
            "application/json",
            400,
            "the input contains NaN; the model takes finite numbers only",
        ),
        (
            '{"dataframe_records": [{"a": Infinity, "b": 2, "c": 3}]}',
            "application/json",
            400,
            "the input contains infinity",
        ),
        ("a,b,c\n1,2,3\n", "text/plain", 415, "content type 'text/plain' is not supported"),
        ("a,b\n1,2\n", "text/csv", 400, "input column 'c' is missing"),
    ],
)
def test_bad_requests_get_a_json_error_and_the_server_keeps_serving(
    served, body, content_type, status, message
):
    server, model, X = served
    got_status, answer = server.request("POST", "/invocations", body, content_type)
    assert got_status == status
    assert message in answer["message"]
    if status == 415:
        assert answer["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    elif message.startswith("input column"):  # the signature refuses it, as MLflow says
        assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    else:
        assert answer["error_code"] == "BAD_REQUEST"
    good = server.request("POST", "/invocations", split_payload(X.iloc[:1]))
    assert good == (200, {"predictions": model.predict(X.iloc[:1]).tolist()})


def test_an_empty_batch_gets_no_predictions(served):
    server, _, _ = served
    empty = {"dataframe_split": {"columns": ["a", "b", "c"], "data": []}}
    assert server.request("POST", "/invocations", empty) == (200, {"predictions": []})


def test_wrong_routes_and_methods(served):
    server, _, _ = served
    status, answer = server.request("GET", "/invocations")
    assert (status, answer["error_code"]) == (405, "METHOD_NOT_ALLOWED")
    status, answer = server.request("GET", "/predict")
    assert (status, answer["error_code"]) == (404, "NOT_FOUND")
    status, answer = server.request("POST", "/ping", "{}")
    assert status == 405


def test_concurrent_keep_alive_clients_all_get_answers(served):
    server, model, X = served
    expected = model.predict(X).tolist()
    failures = []

    def client(offset):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for i in range(25):  # one connection, kept alive across requests
            row = (offset + i) % len(X)
            got = send(conn, "POST", "/invocations", split_payload(X.iloc[row : row + 1]))
            if got != (200, {"predictions": [expected[row]]}):
                failures.append(got)
        conn.close()

    threads = [threading.Thread(target=client, args=(n * 5,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_serves_a_run_model_and_stops_cleanly_on_sigterm(repo_with_commit):
    model, X = train_sklearn()
    with gitml.start_run(name="served", repo=repo_with_commit):
        gitml.log_model(model, "model", input_example=X.iloc[:2])
    server = Server("runs:/served/model", repo_with_commit).start()
    try:
        answer = server.request("POST", "/invocations", split_payload(X.iloc[:3]))
        assert answer == (200, {"predictions": model.predict(X.iloc[:3]).tolist()})
    finally:
        code, err = server.stop()
    assert code == 0
    assert f"gitml: serving on http://127.0.0.1:{server.port} (POST /invocations" in err
    assert "Traceback" not in err
    assert_fsck_clean(repo_with_commit)


def test_serves_the_registry_stage(repo_with_commit):
    from tests.utils import gitml as gitml_cli

    model, X = train_sklearn()
    with gitml.start_run(name="candidate", repo=repo_with_commit):
        gitml.log_model(model, "model", input_example=X.iloc[:2])
    gitml_cli(repo_with_commit, "model", "promote", "churn", "candidate", "production")
    with Server("models:/churn@production", repo_with_commit) as server:
        answer = server.request("POST", "/invocations", split_payload(X.iloc[:4]))
        assert answer == (200, {"predictions": model.predict(X.iloc[:4]).tolist()})
    assert_fsck_clean(repo_with_commit)


@pytest.mark.slow
def test_several_workers_share_the_port_and_all_stop(tmp_path):
    model, X = train_torch()
    gitml.save_model(model, tmp_path / "net", input_example=X[:2])
    server = Server(str(tmp_path / "net"), tmp_path, "--workers", "2").start()
    ready = time.monotonic()
    try:
        import psutil

        children = psutil.Process(server.proc.pid).children()
        assert len(children) == 2
        conns = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=30) for _ in "abcd"]
        for conn in conns * 3:
            status, answer = send(conn, "POST", "/invocations", {"inputs": X[:2].tolist()})
            assert status == 200
            assert len(answer["predictions"]) == 2 and len(answer["predictions"][0]) == 1
        status, answer = send(conns[0], "POST", "/invocations", {"inputs": [[1.0, 2.0]]})
        assert status == 400 and "shape [1, 2]" in answer["message"]

        # a worker that dies after start-up (older than 2 s) is replaced
        time.sleep(max(0.0, 2.5 - (time.monotonic() - ready)))  # workers began before ready
        children[0].kill()
        children[0].wait(timeout=30)
        deadline = time.monotonic() + 60
        while len(live := _live_children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(live) == 2 and children[0].pid not in {c.pid for c in live}
        assert server.request("POST", "/invocations", {"inputs": X[:1].tolist()})[0] == 200
        children = live
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert "with 2 workers" in err
    assert "died (status 9); starting another" in err
    assert not any(child.is_running() and child.status() != "zombie" for child in children)


def _live_children(pid: int) -> list:
    import psutil

    return [c for c in psutil.Process(pid).children() if c.status() != psutil.STATUS_ZOMBIE]


def test_a_model_that_fails_to_load_stops_start_up_with_one_line(tmp_path):
    from tests.utils import gitml as gitml_cli

    model, _ = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    (tmp_path / "m" / "linear.npz").unlink()  # load the pickled estimator, which is broken
    (tmp_path / "m" / "model.pkl").write_bytes(b"garbage")
    out = gitml_cli(tmp_path, "serve", str(tmp_path / "m"), "--port", "0", check=False, timeout=60)
    assert out.returncode == 1
    assert out.stderr.startswith("gitml: error: ")
    assert "the model failed to load: UnpicklingError" in out.stderr
    assert out.stderr.count("\n") == 1


def test_a_port_in_use_is_a_clear_error(served, tmp_path):
    from tests.utils import gitml as gitml_cli

    server, model, _ = served
    gitml.save_model(model, tmp_path / "m")
    out = gitml_cli(
        tmp_path, "serve", str(tmp_path / "m"), "--port", str(server.port), check=False, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr == (
        f"gitml: error: cannot listen on 127.0.0.1:{server.port}: Address already in use "
        "(choose another --port)\n"
    )
    assert os.path.isdir(tmp_path / "m")


def test_listening_beyond_loopback_only_when_told_and_with_a_warning(tmp_path):
    model, X = train_sklearn()
    gitml.save_model(model, tmp_path / "m")
    server = Server(str(tmp_path / "m"), tmp_path, "--host", "0.0.0.0").start()
    try:
        assert server.request("POST", "/invocations", split_payload(X.iloc[:1]))[0] == 200
    finally:
        code, err = server.stop()
    assert code == 0
    assert err.startswith(
        "gitml: warning: listening on 0.0.0.0: anyone who can reach this address can call "
        "the model\n"
    )
    assert f"serving on http://0.0.0.0:{server.port}" in err
