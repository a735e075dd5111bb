"""The params a model's `predict` takes, as its signature declares them (MLflow's form:
`[{"name", "type", "default", "shape"}]`, `shape` null for one value or `[-1]` for a list).

Only declared params reach the model, as in MLflow: an undeclared one is dropped (the
caller warns about it), a declared one not given takes its default, a value that does
not fit its declared type is refused. A model that declares none gets none.
"""

from gitml.errors import DocumentError, ModelError, ModelInputError, SignatureMismatchError
from gitml.models.signature import INTEGER_TYPES, PARAM_TYPES

_INTEGER_BITS = {"integer": 31, "long": 63}


def param_specs(signature: dict | None) -> list[dict] | None:
    """The params the signature declares, checked; None when it declares none.
    ModelError when they are malformed (MLflow writes them as a JSON string)."""
    specs = (signature or {}).get("params")
    return validate_param_specs(specs) if specs else None


def resolve_params(specs: list[dict] | None, given: object) -> tuple[dict | None, list[str]]:
    """(the params `predict` gets, the names given that `specs` do not declare)."""
    if given is not None and not isinstance(given, dict):
        raise ModelInputError(
            f"params must be a mapping of name: value, not a {type(given).__name__}"
        )
    given = given or {}
    if not specs:
        return None, sorted(map(str, given))
    declared = {spec["name"]: spec for spec in specs}
    resolved = {
        name: _param_value(spec, given.get(name, spec.get("default")))
        for name, spec in declared.items()
    }
    return resolved, sorted(str(name) for name in given if name not in declared)


def _param_value(spec: dict, value):
    """`value` as the param's declared type, or SignatureMismatchError."""
    if value is None:
        return None
    if spec.get("shape"):
        if not isinstance(value, list):
            raise _wrong(spec, value, f"a list of {spec['type']} values")
        return [_param_scalar(spec, item) for item in value]
    return _param_scalar(spec, value)


def _param_scalar(spec: dict, value):
    kind = spec["type"]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in INTEGER_TYPES and number and float(value).is_integer():
        if abs(int(value)) < 2 ** _INTEGER_BITS[kind]:
            return int(value)
        raise _wrong(spec, value, f"{kind} (a whole number within {_INTEGER_BITS[kind] + 1} bits)")
    if kind in ("float", "double") and number:
        return float(value)
    if kind in ("string", "binary") and isinstance(value, str):
        return value
    if kind == "datetime" and isinstance(value, str):
        import datetime

        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _wrong(spec, value, kind)


def _wrong(spec: dict, value, expected: str) -> SignatureMismatchError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return SignatureMismatchError(
        f"param {spec['name']!r} must be {expected} as the model's signature declares, got {shown}"
    )


def infer_param_specs(params: dict) -> list[dict]:
    """MLflow's param specs for `{name: default}`, each type read from its default."""
    specs = []
    for name, value in params.items():
        if isinstance(value, list | tuple):
            kinds = {_param_type(name, item) for item in value}
            if len(kinds) != 1:
                raise ModelError(
                    f"param {name!r}: a list default needs values of one type to read it from"
                )
            kind, default, shape = kinds.pop(), [_plain(item) for item in value], [-1]
        else:
            kind, default, shape = _param_type(name, value), _plain(value), None
        specs.append({"name": str(name), "type": kind, "default": default, "shape": shape})
    return specs


def _plain(value):
    """A numpy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _param_type(name, value) -> str:
    value = _plain(value)
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    raise ModelError(
        f"param {name!r}: cannot read a type from {type(value).__name__} {value!r}; a param's "
        "default is a boolean, a number, text, or a list of one of them"
    )


def validate_param_specs(specs: object) -> list[dict]:
    """The param specs, parsed (a JSON string, as MLflow writes them) and checked."""
    if isinstance(specs, str):
        from gitml.documents import load_json

        try:
            specs = load_json(specs, "the signature's params")
        except DocumentError:
            specs = None
    if not isinstance(specs, list) or not all(
        isinstance(spec, dict) and isinstance(spec.get("name"), str) for spec in specs
    ):
        raise ModelError(
            "the signature's params must be a list of {'name': …, 'type': …, 'default': …} "
            "(gitml.models.signature.infer_signature(example, params={...}) builds one)"
        )
    for spec in specs:
        if spec.get("type") not in PARAM_TYPES:
            raise ModelError(
                f"the signature's param {spec['name']!r} has type {spec.get('type')!r}; "
                f"param types are: {', '.join(PARAM_TYPES)}"
            )
        if spec.get("shape") not in (None, [-1]):
            raise ModelError(
                f"the signature's param {spec['name']!r} has shape {spec.get('shape')!r}; "
                "use null (one value) or [-1] (a list)"
            )
        try:
            _param_value(spec, spec.get("default"))
        except SignatureMismatchError as error:
            raise ModelError(f"the signature's default is wrong: {error}") from None
    return specs
