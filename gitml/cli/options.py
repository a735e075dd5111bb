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
