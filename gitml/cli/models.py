"""`gitml predict` and `gitml serve`: use a logged model as a function, in batch or over HTTP."""

from collections.abc import Callable

import click

from gitml.cli.options import EnvManagerChoice
from gitml.cli.output import echo_json_text, say
from gitml.envs import LOCAL, VENV

SERVE_MANAGERS = (LOCAL, VENV)  # those a model is served under


class ByteSize(click.ParamType):
    """A byte count in git's size syntax: 1048576, 512k, 64m, 1g."""

    name = "size"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        from gitml.store.repository import parse_size

        if isinstance(value, int):
            return value
        try:
            size = parse_size(str(value))
        except ValueError:
            size = 0
        if size <= 0:
            self.fail(f"{value!r} is not a size: write bytes, or a number with k, m or g", param)
        return size


def model_uri_option(command: Callable) -> Callable:
    """MODEL_URI as an argument, or as MLflow spells it: -m/--model-uri."""
    command = click.argument("model_uri", required=False)(command)
    return click.option(
        "-m",
        "--model-uri",
        "model_option",
        metavar="URI",
        help="The model, as MLflow spells it (instead of the MODEL_URI argument).",
    )(command)


def _one_model_uri(argument: str | None, option: str | None) -> str:
    if argument and option and argument != option:
        raise click.UsageError(
            f"two models given ({argument!r} and -m {option!r}); give one, as MODEL_URI or -m"
        )
    uri = argument or option
    if not uri:
        raise click.UsageError("no model given: pass MODEL_URI (or -m MODEL_URI)")
    return uri


class ServeCommand(click.Command):
    """`gitml serve`, where `-h` stays help, as in every gitml command: MLflow's
    `-h HOST` is refused in one line naming --host, rather than showing help and
    serving nothing."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        for flag, value in zip(args, args[1:], strict=False):
            if flag == "--":
                break
            if flag == "-h" and not value.startswith("-"):
                raise click.UsageError(
                    f"-h is help in gitml; to listen on {value} write --host {value} (MLflow's -h)",
                    ctx,
                )
        return super().parse_args(ctx, args)


@click.command("predict")
@model_uri_option
@click.option(
    "-i",
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Input file: .csv (with a header), .json (a scoring request, records or columns) "
    "or .parquet.",
)
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False),
    help='Output file: .json ({"predictions": [...]}) or .csv. Default: JSON on stdout.',
)
@click.pass_obj
def predict(obj, model_uri, model_option, input_path, output_path) -> None:
    """Predict with MODEL_URI (runs:/RUN/PATH, models:/NAME@STAGE, a folder) on a file."""
    from pathlib import Path

    from gitml.models.batch import check_output_path, predict_file
    from gitml.models.load import ignored_params_note

    model_uri = _one_model_uri(model_uri, model_option)
    output = Path(output_path) if output_path else None
    if output is not None:
        check_output_path(output)
    model = _load(obj, model_uri)
    scored, text = predict_file(model, Path(input_path), output)
    if scored.ignored_params:
        say(f"warning: {ignored_params_note(scored.ignored_params)}")
    if text is not None:
        echo_json_text(text)
    else:
        say(f"{scored.rows} predictions written to {output_path}")


@click.command("serve", cls=ServeCommand)
@model_uri_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback exposes the model to the network. "
    "(MLflow's -h is help here, as in every gitml command.)",
)
@click.option(
    "--port",
    "-p",
    default=5000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port, printed at start-up).",
)
@click.option(
    "--workers",
    "-w",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (forked after the model is loaded).",
)
@click.option(
    "--env-manager",
    type=EnvManagerChoice(SERVE_MANAGERS),
    default=LOCAL,
    show_default=True,
    help="local: this Python; venv (MLflow's virtualenv or uv): a cached virtual environment "
    "built from the model's conda.yaml.",
)
@click.option(
    "--max-body",
    type=ByteSize(),
    default="64m",
    show_default=True,
    help="Largest request body (k, m, g suffixes); a larger one gets a 413.",
)
@click.option(
    "--max-inflight",
    type=ByteSize(),
    default="128m",
    show_default=True,
    help="Request bytes a worker reads and predicts on at once; past it a request gets a 503.",
)
@click.option(
    "--request-timeout",
    "-t",
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a client has to send a whole request (headers and body); then a 408. "
    "-t/--timeout: the same (MLflow's spelling); a prediction is never cut short.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Open connections per worker; a new one pushes out the one that has waited longest.",
)
@click.pass_obj
def serve(
    obj,
    model_uri,
    model_option,
    host,
    port,
    workers,
    env_manager,
    max_body,
    max_inflight,
    request_timeout,
    max_connections,
) -> None:
    """Serve MODEL_URI over HTTP with MLflow's scoring protocol (POST /invocations)."""
    import gitml
    from gitml.models.server import ScoringApp, ServeOptions, is_loopback
    from gitml.models.server import serve as run_server

    model_uri = _one_model_uri(model_uri, model_option)
    if not is_loopback(host):
        say(f"warning: listening on {host}: anyone who can reach this address can call the model")
    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        max_body_bytes=max_body,
        max_inflight_bytes=max_inflight,
        request_timeout=request_timeout,
        max_connections=max_connections,
    )
    options.check()
    if env_manager == VENV:
        from gitml.models.environment import serve_in_venv

        serve_in_venv(_folder(obj, model_uri), options, say)
    model = _load(obj, model_uri)
    app = ScoringApp(model, gitml.__version__, options, say)
    code = run_server(app, options, say)
    raise SystemExit(code)


def _folder(obj, model_uri: str):
    from gitml.models.load import model_folder

    return model_folder(model_uri, _repo_dir(obj, model_uri))


def _load(obj, model_uri: str):
    from gitml.models.load import load_model

    return load_model(model_uri, _repo_dir(obj, model_uri))


def _repo_dir(obj, model_uri: str):
    """The repository folder for run and registry URIs; None for a plain folder."""
    from gitml.registry.tags import is_model_uri

    return obj.repo if is_model_uri(model_uri) else None
