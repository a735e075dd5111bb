"""Options and value parsing shared by several commands."""

import click

from gitml.errors import InvalidValueError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def parse_pairs(items: tuple[str, ...], kind: str) -> dict[str, str]:
    """KEY=VALUE strings to a dict; a clear error for anything else, or for a key or value
    no run could record (checked here too, before any environment is built)."""
    from gitml.tracking.record import validate_pairs

    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidValueError(f"{kind} {item!r} is not KEY=VALUE (e.g. --{kind} lr=0.01)")
        pairs[key.strip()] = value
    return validate_pairs(kind, pairs)


class EnvManagerChoice(click.Choice):
    """One of `managers`, or an MLflow alias of one (`virtualenv`, `uv`: venv), given
    back as the manager it means."""

    def __init__(self, managers: tuple[str, ...]):
        from gitml.envs import ENV_MANAGER_ALIASES

        aliases = [alias for alias, meant in ENV_MANAGER_ALIASES.items() if meant in managers]
        super().__init__([*managers, *aliases])

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        from gitml.envs import canonical_manager

        return canonical_manager(super().convert(value, param, ctx))
