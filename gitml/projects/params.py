"""Entry-point parameters: check typed values, then build the command.

Values are shell-quoted into the entry point's command template; `-P` values
the entry point does not declare are appended as `--key value`, as MLflow
does. The resolved values (defaults included) become the run's params.
"""

import re
import shlex
from pathlib import Path
from string import Formatter
from urllib.parse import urlparse

from gitml.errors import InvalidValueError
from gitml.project_file import EntryPoint, Parameter

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}
_SHELL_OPERATORS = {"&&", "||", "|", ";", "&", ">", ">>", "<", "(", ")"}
_EXTRA_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def resolve_params(entry: EntryPoint, given: dict[str, str], cwd: Path) -> dict[str, str]:
    """Every declared parameter's checked value (given, else default), then the extras."""
    resolved = {}
    for name, parameter in entry.parameters.items():
        if name in given:
            resolved[name] = check_value(parameter, given[name], cwd)
        elif parameter.default is not None:
            try:
                resolved[name] = check_value(parameter, parameter.default, cwd)
            except InvalidValueError as error:
                raise InvalidValueError(
                    f"the project file's default for entry point {entry.name!r} is wrong: "
                    f"{error} (fix the default, or pass -P {name}=VALUE)"
                ) from None
        else:
            raise InvalidValueError(
                f"entry point {entry.name!r} needs parameter {name!r} ({parameter.type}): "
                f"pass -P {name}=VALUE"
            )
    for name, value in given.items():
        if name not in entry.parameters:
            if not _EXTRA_KEY.match(name):
                raise InvalidValueError(
                    f"parameter {name!r} is not declared by entry point {entry.name!r} and "
                    "cannot be passed on as --key value (use letters, digits, '_', '-', '.')"
                )
            resolved[name] = value
    return resolved


def check_value(parameter: Parameter, value: str, cwd: Path) -> str:
    """The value in its canonical text form; a clear error when it does not fit the type."""
    kind = parameter.type
    if kind == "float":
        try:
            float(value)
        except ValueError:
            raise _wrong_type(parameter, value, "a number, e.g. 0.5") from None
        return value.strip()
    if kind == "int":
        try:
            int(value)
        except ValueError:
            raise _wrong_type(parameter, value, "a whole number, e.g. 10") from None
        return value.strip()
    if kind == "bool":
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return "true"
        if word in FALSE_WORDS:
            return "false"
        raise _wrong_type(parameter, value, "true or false")
    if kind == "path":
        return _check_path(parameter, value, cwd)
    if kind == "uri":
        return value if urlparse(value).scheme not in ("", "file") else _local_path(value, cwd)
    return value


def _check_path(parameter: Parameter, value: str, cwd: Path) -> str:
    scheme = urlparse(value).scheme
    if scheme not in ("", "file") and len(scheme) > 1:
        raise _wrong_type(parameter, value, "a local path (declare it `uri` for remote data)")
    path = _local_path(value, cwd)
    if parameter.must_exist and not Path(path).exists():
        raise InvalidValueError(
            f"parameter {parameter.name!r} (path): {path} does not exist "
            "(check the path, or mark the parameter `must_exist: false`)"
        )
    return path


def _local_path(value: str, cwd: Path) -> str:
    if value.startswith("file://"):
        value = urlparse(value).path
    return str((cwd / Path(value).expanduser()).absolute())


def _wrong_type(parameter: Parameter, value: str, expected: str) -> InvalidValueError:
    return InvalidValueError(
        f"parameter {parameter.name!r} must be {parameter.type} ({expected}), got {value!r}"
    )


def render_command(entry: EntryPoint, params: dict[str, str]) -> list[str]:
    """The argv to run: the template with quoted values, extras appended as --key value.

    A template without shell operators is split into argv directly (so the
    first word, e.g. `python`, is what runs); one with `&&`, `|`, `>` ... runs
    under `/bin/sh -c`, like MLflow's.
    """
    used = {name for _, name, _, _ in Formatter().parse(entry.command) if name}
    text = entry.command.format(**{k: shlex.quote(v) for k, v in params.items() if k in used})
    extras = [
        f"--{key} {shlex.quote(value)}"
        for key, value in params.items()
        if key not in used and key not in entry.parameters
    ]
    text = " ".join([text, *extras])
    if _has_shell_operators(_skeleton(entry.command)):
        return ["/bin/sh", "-c", text]
    return shlex.split(text)


def _skeleton(template: str) -> str:
    """The template with every field as a plain word: operators come from the author,
    never from a (quoted) value."""
    return "".join(
        literal + ("x" if name is not None else "")
        for literal, name, _, _ in Formatter().parse(template)
    )


def _has_shell_operators(text: str) -> bool:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return any(token in _SHELL_OPERATORS for token in lexer)
    except ValueError:
        return True
