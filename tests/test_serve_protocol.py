"""The scoring protocol as `mlflow models serve` speaks it, in `gitml serve` (a real server
on 127.0.0.1) and `gitml predict` (a real process), which read input the same way: CSV
headers, Parquet bodies, integers, params, zero rows, error codes, MLflow's spellings."""

import io
import json
import os
import sys

import numpy as np
import pandas as pd
import pytest

import gitml
from tests.models_helpers import COLUMNS, Server, split_payload, train_sklearn
from tests.utils import gitml as gitml_cli
from tests.utils import isolated

FLOAT_TENSOR = {"inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 3]}}
INT_TENSOR = {"inputs": {"type": "tensor", "dtype": "int64", "shape": [-1, 2]}}
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A folder of saved models: net (float32 tensor), ints (int64 tensor), named (columns
    a, b, c), bare (no signature), echo (column n: long; params k: long, mode: string).
    Saving touches no HOME."""

    def echo(frame, params=None):
        """What the model got: column n's dtype and the params (fails on zero rows)."""
        if len(frame) == 0:
            raise ZeroDivisionError("called on zero rows")
        return [f"{frame['n'].dtype} {json.dumps(params, sort_keys=True)}"] * len(frame)

    folder = tmp_path_factory.mktemp("protocol")
    gitml.save_model(lambda x: x.sum(axis=1), folder / "net", signature=FLOAT_TENSOR)
    gitml.save_model(lambda x: [str(x.dtype)] * len(x), folder / "ints", signature=INT_TENSOR)
    model, X = train_sklearn()
    gitml.save_model(model, folder / "named", input_example=X.iloc[:2])
    bare = type(model)().fit(X.to_numpy(), model.predict(X))
    gitml.save_model(bare, folder / "bare", signature=False)
    example = (pd.DataFrame({"n": [1, 2]}), {"k": 1, "mode": "fast"})
    gitml.save_model(echo, folder / "echo", input_example=example)
    return folder


def serving(name: str):
    """A module-wide server of the model `name`; it starts before any test's `isolate`, so
    under a HOME of its own."""

    @pytest.fixture(scope="module")
    def server(models, tmp_path_factory):
        with pytest.MonkeyPatch.context() as monkeypatch:
            isolated(monkeypatch, tmp_path_factory.mktemp("home"))
            running = Server(str(models / name), models).start()
        try:
            yield running
        finally:
            if running.proc.poll() is None:
                running.stop()

    return server


net_server = serving("net")
ints_server = serving("ints")
named_server = serving("named")
bare_server = serving("bare")
echo_server = serving("echo")


def post(server, body, content_type="application/json"):
    return server.request("POST", "/invocations", body, content_type)


def refused(answer, status: int, code: str, message: str) -> None:
    got_status, body = answer
    assert (got_status, body["error_code"]) == (status, code), body
    assert message in body["message"]


def parquet(frame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# CSV: the first line is a header


def test_a_csv_body_for_a_tensor_model_is_refused_as_mlflow_does(net_server):
    why = "the model takes a tensor (float32, shape [-1, 3]), and CSV is a table"
    for body in ("0.1,0.2,0.3\n0.4,0.5,0.6\n", "a,b,c\n0.1,0.2,0.3\n"):
        refused(post(net_server, body, "text/csv"), 400, "BAD_REQUEST", why)
    status, answer = post(net_server, {"inputs": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]})
    assert status == 200 and len(answer["predictions"]) == 2


def test_a_csv_first_line_of_numbers_is_data_and_is_never_dropped(bare_server, named_server):
    rows = "0.1,0.2,0.3\n0.4,0.5,0.6\n"
    refused(
        post(bare_server, rows, "text/csv"),
        400,
        "BAD_REQUEST",
        "the CSV's first line (0.1, 0.2, 0.3) holds only numbers, so it is a row of data",
    )
    refused(
        post(named_server, rows, "text/csv"),
        400,
        "BAD_REQUEST",
        "start the CSV with a line naming the columns (a, b, c)",
    )
    status, answer = post(bare_server, "0,1,2\n" + rows, "text/csv")  # pandas' default labels
    assert status == 200 and len(answer["predictions"]) == 2


# numbers for integer types


def test_whole_floats_fit_an_int64_tensor_and_other_numbers_are_refused(ints_server):
    assert post(ints_server, {"inputs": [[1.0, 2.0], [3, 4]]}) == (
        200,
        {"predictions": ["int64", "int64"]},
    )
    split = {"dataframe_split": {"columns": ["x", "y"], "data": [[1.0, -2.0]]}}
    assert post(ints_server, split) == (200, {"predictions": ["int64"]})
    for body, message in (
        ({"inputs": [[1.5, 2.0]]}, "input has the value 1.5, not a whole number, but the "),
        ('{"inputs": [[NaN, 2.0]]}', "input has a missing value (NaN) but the model's signature"),
        ({"inputs": [[1e19, 0.0]]}, "the value 10000000000000000000, outside the range of int64"),
        ({"inputs": [["1", "2"]]}, "input has <U1 values but the model's signature expects int64"),
    ):
        refused(post(ints_server, body), 400, "INVALID_PARAMETER_VALUE", message)


def test_whole_floats_fit_an_integer_column_too(echo_server):
    status, answer = post(echo_server, {"dataframe_split": {"columns": ["n"], "data": [[3.0]]}})
    assert status == 200 and answer["predictions"][0].startswith("int64 ")
    refused(
        post(echo_server, {"dataframe_records": [{"n": 3.25}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "input column 'n' has the value 3.25, not a whole number, but the model's signature "
        "expects long",
    )


# params


def test_params_reach_predict_only_as_the_signature_declares_them(models):
    row = {"dataframe_records": [{"n": 1}]}
    server = Server(str(models / "echo"), models).start()
    try:
        assert post(server, row) == (200, {"predictions": ['int64 {"k": 1, "mode": "fast"}']})
        given = {**row, "params": {"k": 2.0, "evil": "x", "__class__": 1}}
        assert post(server, given) == (200, {"predictions": ['int64 {"k": 2, "mode": "fast"}']})
        assert post(server, {**row, "params": {"other": 1}})[0] == 200
        refused(
            post(server, {**row, "params": {"k": "two"}}),
            400,
            "INVALID_PARAMETER_VALUE",
            "param 'k' must be long as the model's signature declares, got 'two'",
        )
    finally:
        code, err = server.stop()
    assert code == 0
    warnings = [line for line in err.splitlines() if "not declared" in line]
    assert warnings == [
        "gitml: warning: a request's params '__class__', 'evil' are not declared in the "
        "model's signature, so predict does not get them (as MLflow; declare them with "
        "infer_signature(example, params={...}) or input_example=(data, params)) (said once: "
        "later requests with undeclared params are not reported)"
    ]


def test_a_model_declaring_no_params_gets_none(models):
    gitml.save_model(lambda x, params=None: [repr(params)] * len(x), models / "noparams")
    with Server(str(models / "noparams"), models) as server:
        answer = post(server, {"inputs": [[1, 2]], "params": {"k": 1}})
    assert answer == (200, {"predictions": ["None"]})


# zero rows, positional rows


def test_zero_rows_get_no_predictions_and_the_model_is_not_called(
    echo_server, net_server, named_server
):
    for server, body, kind in (
        (echo_server, {"dataframe_records": []}, "application/json"),
        (echo_server, {"dataframe_split": {"columns": ["n"], "data": []}}, "application/json"),
        (echo_server, "n\n", "text/csv"),
        (echo_server, parquet(pd.DataFrame({"n": pd.Series([], dtype="int64")})), PARQUET),
        (net_server, {"inputs": []}, "application/json"),
        (named_server, {"instances": []}, "application/json"),
    ):
        assert post(server, body, kind) == (200, {"predictions": []}), (server, body)
    refused(
        post(named_server, {"dataframe_split": {"columns": ["a"], "data": []}}),
        400,
        "INVALID_PARAMETER_VALUE",
        "input column 'b' is missing",
    )


def test_positional_rows_fit_a_named_model_by_count_and_type(named_server):
    model, X = train_sklearn()
    rows = X.iloc[:3].values.tolist()
    assert post(named_server, {"inputs": rows}) == (
        200,
        {"predictions": model.predict(X.iloc[:3]).tolist()},
    )
    refused(
        post(named_server, {"inputs": [[1.0, 2.0]]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "the model expects 3 named columns (a, b, c); got an array of shape [1, 2]",
    )
    refused(
        post(named_server, {"inputs": [[1.0, "x", 2.0]]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "input column 'a' has text ('1.0') values but the model's signature expects double",
    )


# Parquet


def test_parquet_bodies_are_read_as_tables(named_server):
    model, X = train_sklearn()
    rows = X.iloc[:5]
    expected = (200, {"predictions": model.predict(rows).tolist()})
    assert post(named_server, parquet(rows), PARQUET) == expected
    shuffled = rows[["c", "a", "b"]].assign(extra="x")  # by name; extra columns dropped
    assert post(named_server, parquet(shuffled), f"{PARQUET}; charset=binary") == expected
    nested = pd.DataFrame({"a": [[1.0, 2.0]], "b": [1.0], "c": [2.0]})
    refused(
        post(named_server, parquet(nested), PARQUET),
        400,
        "BAD_REQUEST",
        "Parquet column 'a' holds list<element: double>; a model's input is a table of plain",
    )
    refused(
        post(named_server, b"PAR1 not really", PARQUET),
        400,
        "BAD_REQUEST",
        "the Parquet body cannot be read",
    )
    refused(
        post(named_server, parquet(rows.assign(a="x")), PARQUET),
        400,
        "INVALID_PARAMETER_VALUE",
        "input column 'a' has text ('x') values but the model's signature expects double",
    )


def test_a_table_wider_than_the_server_takes_is_refused_in_every_format(bare_server):
    """pandas builds a table a column at a time: a CSV line of a million columns (14 MB)
    held a worker for 25 s, and its records or a dict of columns as long. Past 10,000
    columns (or the signature's count) each format is a 400 before any table is built;
    a tensor of any width is one array; `gitml predict` reads a user's own file whole."""
    from gitml.models.scoring import CSV, read_request

    names = [f"c{i}" for i in range(10_001)]
    csv = (",".join(names) + "\n" + ",".join(["0"] * len(names)) + "\n").encode()
    wide = {
        "csv": (csv, "text/csv", "the CSV body"),
        "split": (
            json.dumps({"dataframe_split": {"columns": names, "data": [[0] * len(names)]}}),
            "application/json",
            "dataframe_split",
        ),
        "records": (
            json.dumps({"dataframe_records": [{name: 0 for name in names}]}),
            "application/json",
            "dataframe_records",
        ),
        "columns": (
            json.dumps({"inputs": {name: [0] for name in names}}),
            "application/json",
            "inputs",
        ),
        "parquet": (
            parquet(pd.DataFrame({name: [0] for name in names})),
            PARQUET,
            "the Parquet body",
        ),
    }
    for body, content_type, what in wide.values():
        refused(
            post(bare_server, body, content_type),
            400,
            "BAD_REQUEST",
            f"{what} holds a table of 10,001 columns; the server takes at most 10,000 (or as "
            "many as the model's signature declares): send wide rows as a tensor",
        )
    status, answer = post(bare_server, json.dumps({"inputs": [[0.5] * 10_001]}))
    assert status == 400 and "the input has 10001" in answer["message"]  # the model's check
    assert post(bare_server, json.dumps({"inputs": [[0.5, 0.5, 0.5]]}))[0] == 200
    assert read_request(CSV, csv, None)[0].shape == (1, 10_001)


def test_a_parquet_body_that_decodes_past_the_limits_is_refused(models):
    zeros = pd.DataFrame({name: np.zeros(200_000) for name in COLUMNS})
    body = parquet(zeros)
    assert len(body) < 8192  # run-length encoded: 600,000 values in a few kilobytes
    server = Server(str(models / "named"), models, "--max-body", "16k").start()
    try:
        refused(
            post(server, body, PARQUET),
            400,
            "BAD_REQUEST",
            "the Parquet body holds 600000 values; the server takes at most 4096 in one "
            "request (gitml serve --max-body raises it)",
        )
        assert post(server, parquet(zeros.iloc[:10]), PARQUET)[0] == 200
    finally:
        assert server.stop()[0] == 0


def hide_pyarrow(tmp_path) -> dict:
    """An environment where `import pyarrow` fails, as where it is not installed."""
    stub = tmp_path / "no-pyarrow" / "pyarrow"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('No module named pyarrow')\n")
    path = os.pathsep.join(p for p in (str(stub.parent), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_without_pyarrow_parquet_is_one_clear_answer(models, tmp_path):
    env = hide_pyarrow(tmp_path)
    _, X = train_sklearn()
    server = Server(str(models / "named"), models)
    server.env = env
    server.start()
    try:
        refused(
            post(server, parquet(X.iloc[:2]), PARQUET),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "this server cannot read it: reading Parquet needs pyarrow, which is not "
            "installed: pip install 'gitml[parquet]'",
        )
        assert post(server, split_payload(X.iloc[:2]))[0] == 200
    finally:
        assert server.stop()[0] == 0
    (tmp_path / "in.parquet").write_bytes(parquet(X.iloc[:2]))
    out = gitml_cli(
        tmp_path, "predict", str(models / "named"), "-i", "in.parquet", env=env, check=False
    )
    assert (out.returncode, out.stdout) == (1, "")
    assert out.stderr == (
        "gitml: error: reading Parquet needs pyarrow, which is not installed: "
        "pip install 'gitml[parquet]'\n"
    )


# gitml predict reads files as gitml serve reads bodies


@pytest.mark.slow  # a gitml predict process per file
def test_gitml_predict_reads_files_as_the_server_reads_bodies(models, tmp_path):
    (tmp_path / "rows.csv").write_text("0.1,0.2,0.3\n0.4,0.5,0.6\n")
    out = gitml_cli(tmp_path, "predict", str(models / "net"), "-i", "rows.csv", check=False)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("gitml: error: rows.csv: the model takes a tensor (float32")
    assert out.stderr.count("\n") == 1
    out = gitml_cli(tmp_path, "predict", "-m", str(models / "bare"), "-i", "rows.csv", check=False)
    assert out.returncode == 1 and "holds only numbers, so it is a row of data" in out.stderr

    request = {"dataframe_records": [{"n": 2.0}], "params": {"k": 5, "evil": 1}}
    (tmp_path / "req.json").write_text(json.dumps(request))
    out = gitml_cli(tmp_path, "predict", "-m", str(models / "echo"), "-i", "req.json")
    assert json.loads(out.stdout) == {"predictions": ['int64 {"k": 5, "mode": "fast"}']}
    assert out.stderr == (
        "gitml: warning: params 'evil' are not declared in the model's signature, so predict "
        "does not get them (as MLflow; declare them with infer_signature(example, "
        "params={...}) or input_example=(data, params))\n"
    )
    (tmp_path / "empty.json").write_text('{"dataframe_records": []}')
    out = gitml_cli(tmp_path, "predict", str(models / "echo"), "-i", "empty.json", "-o", "o.csv")
    assert out.stderr == "gitml: 0 predictions written to o.csv\n"


# MLflow's spellings of gitml serve


def test_serve_takes_mlflow_spellings(models):
    _, X = train_sklearn()
    server = Server(str(models / "named"), models)
    server.command = [sys.executable, "-m", "gitml", "serve", "-m", str(models / "named")]
    server.command += ["-p", str(server.port), "--host", "127.0.0.1", "-t", "5"]
    with server:
        assert post(server, split_payload(X.iloc[:1]))[0] == 200


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["-m", "m", "-h", "0.0.0.0"],
            "gitml: error: -h is help in gitml; to listen on 0.0.0.0 write --host 0.0.0.0 "
            "(MLflow's -h) (see `gitml serve --help`)\n",
        ),
        (
            ["a", "-m", "b"],
            "gitml: error: two models given ('a' and -m 'b'); give one, as MODEL_URI or -m "
            "(see `gitml serve --help`)\n",
        ),
        (
            [],
            "gitml: error: no model given: pass MODEL_URI (or -m MODEL_URI) "
            "(see `gitml serve --help`)\n",
        ),
    ],
)
def test_serve_spellings_that_cannot_be_meant_are_one_line(tmp_path, args, line):
    out = gitml_cli(tmp_path, "serve", *args, check=False)
    assert (out.returncode, out.stdout, out.stderr) == (2, "", line)


def test_mlflow_env_manager_names_are_venv(tmp_path):
    for name in ("virtualenv", "uv"):
        out = gitml_cli(tmp_path, "serve", "-m", "nowhere", "--env-manager", name, check=False)
        assert out.returncode == 1
        assert out.stderr.startswith("gitml: error: 'nowhere' is neither a model folder")
    out = gitml_cli(tmp_path, "serve", "-h")
    assert "Usage: gitml serve" in out.stdout
