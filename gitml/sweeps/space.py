"""The one grammar of a sweep's parameters: `-P NAME=FORM` on the command line and
`NAME: FORM` in a project file's `sweeps:` section.

A form is one of four searched dimensions, or a fixed value:

    uniform(LOW, HIGH)        a float drawn between LOW and HIGH
    loguniform(LOW, HIGH)     a float drawn on a log scale (0 < LOW < HIGH)
    choice(A, B, ...)         one of the listed words ('quoted' when they hold , ( ) or spaces)
    range(START, STOP[, STEP])  an int of Python's range(): START, START+STEP, ... < STOP
    anything else             the same value for every trial

`parse_form` and `format_form` are exact inverses on dimensions (a form is written back
in one canonical spelling); `fill_command` puts a trial's values into `{name}` fields
of a command. Nothing here imports Optuna: `gitml.sweeps.study` turns dimensions into
Optuna's distributions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from gitml.errors import InvalidValueError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)
FORMS = ("uniform", "loguniform", "choice", "range")
_PLAIN_WORD = re.compile(r"^[^\s,()'\"\\]+$")
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")
MAX_CHOICES = 10_000
MAX_GRID = 100_000


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]


@dataclass(frozen=True)
class IntRange:
    start: int
    stop: int
    step: int = 1

    @property
    def values(self) -> range:
        return range(self.start, self.stop, self.step)

    @property
    def last(self) -> int:
        return self.values[-1]


Dimension = Uniform | Choice | IntRange


@dataclass(frozen=True)
class Space:
    """What every trial of a sweep gets: searched dimensions and fixed values."""

    dimensions: dict[str, Dimension]
    fixed: dict[str, str]

    def forms(self) -> dict[str, str]:
        """Every param in its canonical text form (fixed values as they are)."""
        return {
            **self.fixed,
            **{name: format_form(dim) for name, dim in self.dimensions.items()},
        }

    def grid(self) -> list[dict[str, str]]:
        """Every combination of the dimensions, in order (a grid sweep's trials); only
        for finite dimensions."""
        axes: list[tuple[str, list[str]]] = []
        size = 1
        for name, dim in self.dimensions.items():
            if isinstance(dim, Uniform):
                raise InvalidValueError(
                    f"a grid sweep needs a finite list for every param, and {name} is "
                    f"{format_form(dim)}; use choice(...) or range(...), or --sampler tpe|random"
                )
            texts = [str(value) for value in dim.values]
            size *= len(texts)
            if size > MAX_GRID:
                raise InvalidValueError(
                    f"the grid holds over {MAX_GRID:,} points; narrow the choices or ranges"
                )
            axes.append((name, texts))
        points: list[dict[str, str]] = [{}]
        for name, values in axes:
            points = [{**point, name: value} for point in points for value in values]
        return points


def parse_space(forms: dict[str, str], where: str = "-P") -> Space:
    """The space of `forms` (name → form text); `where` names their origin in errors."""
    dimensions: dict[str, Dimension] = {}
    fixed: dict[str, str] = {}
    for name, text in forms.items():
        check_name(name, where)
        parsed = parse_form(text, f"{where} {name}")
        if isinstance(parsed, str):
            fixed[name] = parsed
        else:
            dimensions[name] = parsed
    return Space(dimensions, fixed)


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=FORM` → (name, form text), the name checked."""
    name, sep, form = text.partition("=")
    if not sep:
        raise InvalidValueError(
            f"-P {text!r} is not NAME=FORM (e.g. -P lr=loguniform(1e-4,1e-1) or -P epochs=10)"
        )
    return check_name(name.strip(), "-P"), form


def check_name(name: str, where: str) -> str:
    if not NAME.match(name):
        raise InvalidValueError(
            f"{where} {name!r}: a param name is letters, digits, '_', '.' and '-', "
            "starting with a letter or '_'"
        )
    return name


def parse_form(text: str, where: str) -> Dimension | str:
    """A dimension, or the fixed value `text` (a string) when it is no call."""
    call = _CALL.match(text)
    if call is None:
        return text
    function, inside = call.group(1), call.group(2)
    if function not in FORMS:
        raise InvalidValueError(
            f"{where}: unknown form {function}(...); use one of uniform(LOW, HIGH), "
            "loguniform(LOW, HIGH), choice(A, B, ...), range(START, STOP[, STEP]) "
            f"(a fixed value that reads like a call: choice('{text.strip()}'))"
        )
    arguments = _split_arguments(inside, f"{where}: {function}(...)")
    if function == "choice":
        return _choice(arguments, where)
    if any(quoted for _, quoted in arguments):
        raise InvalidValueError(f"{where}: {function}(...) takes numbers, not quoted words")
    words = [word for word, _ in arguments]
    if function == "range":
        return _int_range(words, where)
    return _uniform(words, where, log=function == "loguniform")


def format_form(dim: Dimension) -> str:
    """The canonical text of a dimension: `parse_form(format_form(d), ...) == d`."""
    if isinstance(dim, Uniform):
        name = "loguniform" if dim.log else "uniform"
        return f"{name}({dim.low!r}, {dim.high!r})"
    if isinstance(dim, IntRange):
        step = f", {dim.step}" if dim.step != 1 else ""
        return f"range({dim.start}, {dim.stop}{step})"
    return "choice(" + ", ".join(_quote(value) for value in dim.values) + ")"


def _quote(word: str) -> str:
    if _PLAIN_WORD.match(word):
        return word
    return "'" + word.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _split_arguments(text: str, where: str) -> list[tuple[str, bool]]:
    """The comma-separated arguments of a call: (word, whether it was quoted)."""
    arguments: list[tuple[str, bool]] = []
    index, length = 0, len(text)
    while True:
        while index < length and text[index].isspace():
            index += 1
        if index < length and text[index] in "'\"":
            quote, index, chars = text[index], index + 1, []
            while index < length and text[index] != quote:
                if text[index] == "\\" and index + 1 < length:
                    index += 1
                chars.append(text[index])
                index += 1
            if index >= length:
                raise InvalidValueError(f"{where}: a quoted word is not closed")
            arguments.append(("".join(chars), True))
            index += 1
            while index < length and text[index].isspace():
                index += 1
        else:
            start = index
            while index < length and text[index] != ",":
                if text[index] in "()'\"\\":
                    raise InvalidValueError(
                        f"{where}: {text[index]!r} in a word; quote the word ('a,b')"
                    )
                index += 1
            word = text[start:index].strip()
            if not word:
                if not arguments and index >= length:
                    return []
                raise InvalidValueError(f"{where}: an empty argument")
            arguments.append((word, False))
        if index >= length:
            return arguments
        if text[index] != ",":
            raise InvalidValueError(f"{where}: expected ',' after a quoted word")
        index += 1


def _number(word: str, where: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise InvalidValueError(f"{where}: {word!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidValueError(f"{where}: {word!r} is not a finite number")
    return value


def _uniform(words: list[str], where: str, log: bool) -> Uniform:
    name = "loguniform" if log else "uniform"
    if len(words) != 2:
        raise InvalidValueError(f"{where}: {name} takes two numbers, LOW and HIGH")
    low, high = (_number(word, where) for word in words)
    if not low < high:
        raise InvalidValueError(f"{where}: {name}({low!r}, {high!r}) needs LOW < HIGH")
    if log and low <= 0:
        raise InvalidValueError(f"{where}: loguniform needs 0 < LOW (got {low!r})")
    return Uniform(low, high, log)


def _int_range(words: list[str], where: str) -> IntRange:
    if len(words) not in (2, 3):
        raise InvalidValueError(f"{where}: range takes START, STOP and an optional STEP")
    try:
        start, stop, *step = (int(word) for word in words)
    except ValueError:
        raise InvalidValueError(f"{where}: range takes whole numbers") from None
    dim = IntRange(start, stop, step[0] if step else 1)
    if dim.step <= 0:
        raise InvalidValueError(f"{where}: the step of range must be positive")
    if not dim.values:
        raise InvalidValueError(
            f"{where}: range({start}, {stop}) holds no value (STOP is left out, as in Python)"
        )
    return dim


def _choice(arguments: list[tuple[str, bool]], where: str) -> Choice:
    values = tuple(word for word, _ in arguments)
    if not values:
        raise InvalidValueError(f"{where}: choice needs at least one value")
    if len(values) > MAX_CHOICES:
        raise InvalidValueError(f"{where}: choice takes at most {MAX_CHOICES:,} values")
    if len(set(values)) != len(values):
        raise InvalidValueError(f"{where}: choice lists a value twice")
    return Choice(values)


def value_text(value: object) -> str:
    """A sampled value as a param's text: ints plainly, floats in their shortest form."""
    return repr(value) if isinstance(value, float) else str(value)


def command_fields(command: list[str]) -> set[str]:
    """The `{name}` fields of a command's words (`{{` and `}}` are literal braces)."""
    return {match.group(1) for word in command for match in _FIELD.finditer(word) if match.group(1)}


def fill_command(command: list[str], values: dict[str, str]) -> list[str]:
    """The command with each `{name}` replaced by that param's value, as one word's part
    (never split or read by a shell); `{{` and `}}` give literal braces."""

    def replace(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        return values[match.group(1)]

    return [_FIELD.sub(replace, word) for word in command]


def check_command_fields(command: list[str], names: set[str]) -> None:
    """Refuse a `{field}` naming no param of the sweep (a typo would run as text)."""
    unknown = sorted(command_fields(command) - names)
    if unknown:
        raise InvalidValueError(
            f"the command uses {{{unknown[0]}}}, which is no param of the sweep "
            f"(params: {', '.join(sorted(names)) or 'none'}); write {{{{ and }}}} for "
            "literal braces"
        )
