"""`gitml env create|show|path|prune|export`: the environment cache and specs."""

from pathlib import Path

import click

from gitml.cli import format as fmt
from gitml.cli.options import EnvManagerChoice, json_option
from gitml.cli.output import echo, echo_block, echo_data, echo_json, say
from gitml.envs import BUILDING_MANAGERS

file_option = click.option(
    "-f",
    "--file",
    "spec_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Environment spec (default: the project's conda_env, else ./conda.yaml).",
)
manager_option = click.option(
    "--env-manager",
    type=EnvManagerChoice(BUILDING_MANAGERS),
    help="Kind of environment (default: the project file's env_manager, else venv); "
    "MLflow's virtualenv and uv mean venv.",
)


@click.group("env")
def env() -> None:
    """Environments built from conda.yaml, cached under $XDG_CACHE_HOME/gitml/envs."""


@env.command("create")
@file_option
@manager_option
@click.pass_obj
def create(obj, spec_file, env_manager) -> None:
    """Build the environment for the spec (nothing to do when it is cached); print its path."""
    from gitml.envs.manager import prepare_environment
    from gitml.projects.launch import default_env_manager, find_spec

    spec = find_spec(obj.directory, spec_file)
    manager = env_manager or default_env_manager(obj.directory)
    prepared = prepare_environment(manager, spec, say)
    for note in prepared.notes:
        say(f"warning: {note}")
    state = "built" if prepared.built else "cached"
    say(f"environment {state} for {spec.path}")
    echo(str(prepared.activation.prefix))


@env.command("path")
@file_option
@manager_option
@click.pass_obj
def path(obj, spec_file, env_manager) -> None:
    """Print the cached environment's folder for the spec (error when not built yet)."""
    from gitml.envs.cache import entry_name, lookup
    from gitml.errors import EnvironmentBuildError
    from gitml.projects.launch import default_env_manager, find_spec

    spec = find_spec(obj.directory, spec_file)
    manager = env_manager or default_env_manager(obj.directory)
    found = lookup(entry_name(spec.hash, manager))
    if found is None:
        raise EnvironmentBuildError(
            f"no {manager} environment is cached for {spec.path}; "
            f"build it with `gitml env create --env-manager {manager}`"
        )
    echo(str(found.path))


@env.command("show")
@click.argument("name", required=False)
@json_option
def show(name, as_json) -> None:
    """List cached environments, or show one (NAME: a prefix of its hash)."""
    from gitml.envs.cache import find_env, list_envs

    if name:
        _show_one(find_env(name), as_json)
        return
    envs = list_envs()
    items = [_entry(e) for e in envs]
    if as_json:
        echo_json(items)
        return
    if not items:
        echo("no cached environments (build one with `gitml env create`)")
        return
    rows = [
        [
            i["name"],
            i["manager"],
            i["python"] or "-",
            fmt.size(i["size"]),
            fmt.when(int(i["last_used"] * 1000)),
            i["spec_file"],
        ]
        for i in items
    ]
    headers = ["NAME", "MANAGER", "PYTHON", "SIZE", "LAST USED", "SPEC"]
    echo_block(fmt.table(headers, rows, fixed=2))


def _entry(env) -> dict:
    return {
        "name": env.name,
        "path": str(env.path),
        "manager": env.info.get("manager"),
        "hash": env.info.get("hash"),
        "python": env.info.get("python"),
        "installer": env.info.get("installer") or env.info.get("tool"),
        "spec_file": env.info.get("spec_file"),
        "requirements": env.info.get("requirements", []),
        "created": env.info.get("created"),
        "last_used": env.last_used,
        "size": env.size(),
    }


def _show_one(env, as_json: bool) -> None:
    from gitml.envs.cache import user_cache_dir
    from gitml.envs.packages import installed_packages

    entry = _entry(env)
    entry["packages"] = installed_packages(str(env.path / "bin" / "python"), user_cache_dir())
    if as_json:
        echo_json(entry)
        return
    for key in ("name", "path", "manager", "hash", "python", "installer", "spec_file"):
        echo(f"{key:<12}{entry[key] or '-'}")
    echo(f"{'created':<12}{fmt.when(int((entry['created'] or 0) * 1000))}")
    echo(f"{'last used':<12}{fmt.when(int(entry['last_used'] * 1000))}")
    echo(f"{'size':<12}{fmt.size(entry['size'])}")
    echo("packages")
    for package in entry["packages"]:
        echo(f"  {package}")


@env.command("prune")
@click.option("--all", "everything", is_flag=True, help="Delete every cached environment.")
@click.option(
    "--unused-days",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Also delete environments no run has used for DAYS days.",
)
def prune(everything, unused_days) -> None:
    """Delete interrupted builds (and, if asked, unused or all environments)."""
    from gitml.envs.cache import prune as prune_cache

    removed = prune_cache(everything=everything, unused_days=unused_days)
    for name in removed:
        echo(f"removed {name}")
    if not removed:
        echo("nothing to prune")


@env.command("export")
@click.option("--name", default=None, help="The spec's `name` (default: the folder's name).")
@click.pass_obj
def export(obj, name) -> None:
    """Print a conda.yaml for this interpreter: its Python version and pip packages.

    Use it as `gitml env export > conda.yaml`. Packages installed in editable
    mode (your own code) are left out.
    """
    from gitml.envs.spec import export_current

    echo_data(export_current(name or obj.directory.absolute().name), nl=False)
