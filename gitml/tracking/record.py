"""The run record: its fields, its commit message with trailers, and its file names.

Pure data and text, no git: the same grammar is written when a run is
committed and read back by `gitml ls` from `git for-each-ref` output.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

from gitml.store.ids import is_run_id, run_id_time_ms
from gitml.tracking.ids import NAME_RULE
from gitml.values import check_text, check_utf8, text_problem

FORMAT_VERSION = 1
DEFAULT_EXPERIMENT = "default"  # runs started on a detached HEAD
RUNNING = "running"  # a run in progress; a committed run has one of ENDED
ENDED = ("finished", "failed", "killed")
STATUSES = (RUNNING, *ENDED)
# The status gitml gives a run whose record it cannot read: fetched from a clone that
# wrote it wrong, or written by hand. It is listed, shown with the reason, and removable.
DAMAGED = "damaged"
LISTED_STATUSES = (*STATUSES, DAMAGED)
MAX_MS = (1 << 48) - 1  # the milliseconds a run id can hold (year 10889)
# A run.json is a few KiB; a folder artifact of many thousands of files lists them all.
# One larger than this is not read: the run is shown as damaged.
MAX_RECORD_BYTES = 32 << 20
TRAILER_PREFIX = "Gitml-"
MAX_KEY_LENGTH = 250
_KEY_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_SIGNALS = range(1, 65)  # a command a signal ended exits 128 + its number
_SAFE_FILE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@dataclass
class MetricSummary:
    """A metric summed up: `last` is the value at the highest step (the last logged on
    ties), `min` and `max` ignore NaN. Only `last` is known of a metric read from a
    commit's trailers alone (a run whose run.json cannot be read): the rest is None."""

    last: float
    min: float | None = None
    max: float | None = None
    count: int | None = None
    last_step: int | None = None

    def to_json(self) -> dict:
        return {
            "last": json_float(self.last),
            "min": None if self.min is None else json_float(self.min),
            "max": None if self.max is None else json_float(self.max),
            "count": self.count,
            "last_step": self.last_step,
        }


@dataclass
class RunSummary:
    """What `gitml ls` knows about a run without reading its tree."""

    id: str
    name: str
    experiment: str
    status: str
    start_ms: int
    end_ms: int | None = None
    exit_code: int | None = None
    base: str | None = None
    user: str = ""
    command: str = ""
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    sha: str | None = None
    damage: str | None = None  # why the run is DAMAGED, if it is
    # the branch the run started on; None: detached, or a run committed before the
    # Gitml-Branch trailer (its run.json has it, but a listing reads no run.json)
    branch: str | None = None

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_ms is None else self.end_ms - self.start_ms

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "experiment": self.experiment,
            "status": self.status,
            "exit_code": self.exit_code,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "duration_ms": self.duration_ms,
            "base": self.base,
            "branch": self.branch,
            "user": self.user,
            "command": self.command,
            "params": dict(self.params),
            "metrics": {k: json_float(v) for k, v in self.metrics.items()},
            "tags": dict(self.tags),
            "commit": self.sha,
            "damage": self.damage,
        }


def summary_from_json(data: dict) -> RunSummary:
    """The inverse of `RunSummary.to_json`."""
    return RunSummary(
        id=data["id"],
        name=data["name"],
        experiment=data["experiment"],
        status=data["status"],
        start_ms=data["start_ms"],
        end_ms=data["end_ms"],
        exit_code=data["exit_code"],
        base=data["base"],
        user=data["user"],
        command=data["command"],
        params=data["params"],
        metrics={key: float(value) for key, value in data["metrics"].items()},
        tags=data["tags"],
        sha=data["commit"],
        damage=data.get("damage"),
        branch=data.get("branch"),
    )


# numbers


def json_float(value: float) -> float | str:
    """JSON has no NaN or infinity: write them as the strings 'nan', 'inf', '-inf'."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def format_float(value: float) -> str:
    """Shortest text that reads back to the same float ('nan', 'inf' kept)."""
    return repr(float(value))


def _metric_tokens(data: bytes) -> list[bytes]:
    tokens = data.split()
    if len(tokens) % 3:  # a damaged line: keep only the well-formed ones
        tokens = [t for line in data.splitlines() if len(p := line.split()) == 3 for t in p]
    return tokens


def summarize_metric(data: bytes) -> MetricSummary:
    """Summary of a metric file; 'last' is the value at the highest step (last logged on ties)."""
    tokens = _metric_tokens(data)
    steps, values = list(map(int, tokens[0::3])), list(map(float, tokens[1::3]))
    last_step = max(steps)
    last_index = len(steps) - 1 - steps[::-1].index(last_step)
    finite = [v for v in values if v == v]  # NaN is the only value unequal to itself
    return MetricSummary(
        last=values[last_index],
        min=min(finite) if finite else math.nan,
        max=max(finite) if finite else math.nan,
        count=len(values),
        last_step=last_step,
    )


def parse_status(text: object) -> str:
    """A run status as written by a user, any case (`FINISHED`, MLflow's spelling, too)."""
    status = text.lower() if isinstance(text, str) else text
    if status not in STATUSES:
        from gitml.errors import InvalidValueError

        raise InvalidValueError(
            f"unknown run status {text!r}: use one of {', '.join(STATUSES)} (any case)"
        )
    return status


def describe_end(status: str, exit_code: int | None) -> str:
    """How a run ended, for a person: `failed (exit 2)`; for a command a signal ended,
    the signal by name: `killed by SIGXFSZ (file size limit exceeded), exit 153`."""
    if exit_code is None:
        return status
    if status == "killed" and exit_code - 128 in _SIGNALS:
        from gitml.errors import killed_by

        return f"{killed_by(exit_code - 128)}, exit {exit_code}"
    return f"{status} (exit {exit_code})"


# keys and file names


def validate_key(kind: str, key: object) -> str:
    """Return `key` if it can name a param, metric or tag; else say what is wrong."""
    from gitml.errors import InvalidValueError

    if not isinstance(key, str) or not key.strip():
        raise InvalidValueError(f"{kind} key must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidValueError(
            f"{kind} key is longer than {MAX_KEY_LENGTH} characters: {shown(key)}"
        )
    if _KEY_FORBIDDEN.search(key):
        raise InvalidValueError(f"{kind} key {key!r} contains a control character")
    check_utf8(f"{kind} key", key)
    return key


# MLflow's limits on values: a run's params and tags also travel in its commit message,
# which a reader takes only up to a bound, so a value has a bound too.
MAX_VALUE_LENGTH = {"param": 6000, "tag": 8000}


def validate_value(kind: str, key: str, value: object) -> str:
    """The text a param or tag value is recorded as; text that is not UTF-8 (bytes from
    the command line that did not decode) is refused: no record could hold it; so is
    text longer than MLflow allows, which would make the run's own record too big to list."""
    from gitml.errors import InvalidValueError

    text = check_utf8(f"the value of {kind} {key!r}", str(value))
    limit = MAX_VALUE_LENGTH.get(kind)
    if limit is not None and len(text) > limit:
        raise InvalidValueError(
            f"the value of {kind} {shown(key)} is longer than {limit:,} characters "
            "(log long text as an artifact, e.g. with gitml.log_text)"
        )
    return text


def branch_experiment(branch: str | None) -> str:
    """The experiment of a run started without one: the branch it starts on, and
    "default" where HEAD is detached. `gitml ls` shows that experiment's runs."""
    return branch or DEFAULT_EXPERIMENT


def check_experiment(name: str) -> str:
    """`name` if runs can be filed under it: an experiment shows on a line of `gitml ls`
    and in a trailer of each run's commit."""
    return check_text("experiment", name, "use a name on one line, e.g. the branch's")


MLFLOW_DEFAULT_EXPERIMENT = "Default"  # MLflow's default experiment, whose id is "0"
# the tag where a run keeps what MLflow says of its logged models (beyond their folders):
# gitml.mlflow_plugin.logged_models; a record of the backend, not a tag MLflow shows
LOGGED_MODELS_TAG = "gitml.logged_models"
DATASETS_TAG = "gitml.datasets"  # a run's inputs (MLflow's log_inputs), as JSON


@functools.lru_cache(maxsize=4096)  # a search asks once per run
def experiment_id(name: str) -> str:
    """The MLflow id of experiment `name`, the same on every clone: "0" for MLflow's
    "Default", else a decimal number made from the SHA-256 of the name's UTF-8 bytes
    (60 bits: two names share one with odds of about one in a billion billion)."""
    if name == MLFLOW_DEFAULT_EXPERIMENT:
        return "0"
    import hashlib  # OpenSSL's start: only for the commands that name experiments

    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return str((int.from_bytes(digest[:8], "big") >> 4) or 1)


def is_experiment_id(text: str) -> bool:
    """Whether `text` is what `experiment_id` makes: decimal digits, nothing else."""
    return text.isascii() and text.isdigit()


def validate_pairs(kind: str, pairs: dict) -> dict[str, str]:
    """Every key and value of `pairs` checked, values as the text they are recorded as."""
    return {
        validate_key(kind, key): validate_value(kind, key, value) for key, value in pairs.items()
    }


def key_to_filename(key: str) -> str:
    """A flat, safe file name for a metric key; `filename_to_key` inverts it."""
    out = []
    for index, char in enumerate(key):
        if char in _SAFE_FILE_CHARS and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode())
    return "".join(out) + ".tsv"


def filename_to_key(filename: str) -> str:
    stem = filename[: -len(".tsv")] if filename.endswith(".tsv") else filename
    return re.sub(r"(?:%[0-9A-F]{2})+", _unescaped_bytes, stem)


def _unescaped_bytes(match: re.Match) -> str:
    """The text `%XX` escapes stand for; kept as written when they are no UTF-8 (a
    file name no gitml wrote, in a run fetched from elsewhere)."""
    try:
        return bytes.fromhex(match.group(0).replace("%", "")).decode()
    except UnicodeDecodeError:
        return match.group(0)


# commit message


_ESCAPED = re.compile(r"[%\x00-\x1f\x7f]")
_ESCAPED_KEY = re.compile(r"[%=\x00-\x1f\x7f]")
_ESCAPE_SEQUENCE = re.compile(r"%([0-9A-F]{2})")


def escape_value(text: str) -> str:
    """Trailer values stay on one line and free of git's and our separators (NUL, RS)."""
    return _ESCAPED.sub(lambda m: f"%{ord(m.group(0)):02X}", text)


def escape_key(text: str) -> str:
    return _ESCAPED_KEY.sub(lambda m: f"%{ord(m.group(0)):02X}", text)


def unescape(text: str) -> str:
    return _ESCAPE_SEQUENCE.sub(lambda m: chr(int(m.group(1), 16)), text)


def build_message(summary: RunSummary, note: str = "") -> str:
    """`<name>: <status>`, the note, then trailers carrying the summary."""
    trailers = [
        ("Format", str(FORMAT_VERSION)),
        ("Run", summary.id),
        ("Name", summary.name),
        ("Experiment", summary.experiment),
        ("Status", summary.status),
        ("Start", str(summary.start_ms)),
    ]
    if summary.end_ms is not None:
        trailers.append(("End", str(summary.end_ms)))
    if summary.exit_code is not None:
        trailers.append(("Exit-Code", str(summary.exit_code)))
    if summary.base:
        trailers.append(("Base", summary.base))
    if summary.branch:
        trailers.append(("Branch", summary.branch))
    if summary.user:
        trailers.append(("User", summary.user))
    if summary.command:
        trailers.append(("Command", summary.command))
    lines = [f"{TRAILER_PREFIX}{name}: {escape_value(value)}" for name, value in trailers]
    pairs = [
        *(("Param", key, value) for key, value in summary.params.items()),
        *(("Metric", key, format_float(value)) for key, value in summary.metrics.items()),
        *(("Tag", key, value) for key, value in summary.tags.items()),
    ]
    for name, key, value in pairs:
        lines.append(f"{TRAILER_PREFIX}{name}: {escape_key(key)}={escape_value(value)}")
    body = "\n".join(lines)
    parts = [f"{summary.name}: {summary.status}"]
    note = note.replace("\x00", "").replace("\x1e", "").strip()  # our listing separators
    if note:
        parts.append(note)
    parts.append(body)
    return "\n\n".join(parts) + "\n"


def damaged_summary(run_id: str, sha: str | None, reason: str) -> RunSummary:
    """The summary of a run gitml cannot read at all: its id, its commit and why."""
    start_ms = run_id_time_ms(run_id) if is_run_id(run_id) else 0
    return RunSummary(run_id, "", "", DAMAGED, start_ms, sha=sha, damage=reason)


_MS = re.compile(r"[0-9]{1,15}")
_EXIT_CODE = re.compile(r"-?[0-9]{1,10}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_RUN_NAME = re.compile(NAME_RULE)


# what git refuses in a ref name (`git check-ref-format`): control characters, space,
# ~ ^ : ? * [ \\ and "..", "@{", "//"; a name never starts or ends with "/" or "."
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[/.]|[/.]$|\.lock$|/\.")


def is_branch_name(text: str) -> bool:
    """Whether `text` could be the name of a branch git made (a trailer fetched from
    a clone is checked before it is listed)."""
    return (
        len(text) <= 1024
        and text != "@"
        and text_problem(text) is None  # also no C1 control (git allows those)
        and not _BAD_REF.search(text)
    )


def _trailers(message: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The `Gitml-*` trailers of a message: single fields, and the key=value pairs."""
    block = message.rstrip("\n").rsplit("\n\n", 1)[-1]
    fields: dict[str, str] = {}
    pairs: dict[str, dict[str, str]] = {"Param": {}, "Metric": {}, "Tag": {}}
    prefix_length = len(TRAILER_PREFIX)
    for line in block.split("\n"):  # not splitlines(): it also splits on \x85, \u2028, …
        if not line.startswith(TRAILER_PREFIX):
            continue
        name, separator, raw = line[prefix_length:].partition(": ")
        if not separator:
            continue
        target = pairs.get(name)
        if target is None:
            fields[name] = unescape(raw) if "%" in raw else raw
            continue
        key, separator, value = raw.partition("=")
        if separator:
            if "%" in raw:
                key, value = unescape(key), unescape(value)
            target[key] = value
    return fields, pairs


def shown(value: str, limit: int = 40) -> str:
    """A value from a damaged record, quoted and cut short, for a message."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class _Damage:
    """The problems found while reading one record; the first few make its reason."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    @property
    def reason(self) -> str | None:
        if not self.problems:
            return None
        more = len(self.problems) - 3
        return "; ".join(self.problems[:3]) + (f" (and {more} more problems)" if more > 0 else "")


def _number(fields: dict[str, str], name: str, pattern: re.Pattern, damage: _Damage) -> int | None:
    text = fields.get(name)
    if text is None:
        return None
    if not pattern.fullmatch(text) or (pattern is _MS and int(text) > MAX_MS):
        damage.add(f"its Gitml-{name} trailer {shown(text)} is not a valid number")
        return None
    return int(text)


def parse_message(
    message: str, sha: str | None = None, run_id: str | None = None
) -> RunSummary | None:
    """The summary carried by a run commit's trailers.

    `run_id` is the id in the run's ref name, which decides which run this is; the
    message, fetched from who knows where, is checked against it. Without it (a commit
    a registry tag names), a message with no Gitml-Run trailer is no run: None.

    Never raises: a malformed trailer makes the run DAMAGED, with the reason in
    `damage`, and the fields that did read are kept.
    """
    fields, pairs = _trailers(message)
    damage = _Damage()
    named = fields.get("Run")
    if run_id is None:
        if named is None:
            return None
        run_id = named
        if not is_run_id(run_id):
            damage.add(f"its Gitml-Run trailer {shown(run_id)} is not a run id")
    elif named != run_id:
        damage.add(
            "its commit carries no gitml record (no Gitml-Run trailer)"
            if named is None
            else f"its commit names another run, {shown(named)}"
        )
    name = fields.get("Name", "")
    if not _RUN_NAME.fullmatch(name) and named is not None:
        damage.add(f"its name {shown(name)} is not a run name")
        name = ""
    status = fields.get("Status", "")
    if status not in ENDED:
        if named is not None:
            damage.add(f"its status {shown(status)} is not one a committed run has")
        status = DAMAGED
    start_ms = _number(fields, "Start", _MS, damage)
    end_ms = _number(fields, "End", _MS, damage)
    exit_code = _number(fields, "Exit-Code", _EXIT_CODE, damage)
    if start_ms is None:
        start_ms = run_id_time_ms(run_id) if is_run_id(run_id) else 0
    base = fields.get("Base")
    if base is not None and not _SHA.fullmatch(base):
        damage.add(f"its base {shown(base)} is not a commit id")
        base = None
    branch = fields.get("Branch")
    if branch is not None and not is_branch_name(branch):
        damage.add(f"its branch {shown(branch)} is not a branch name")
        branch = None
    metrics = {}
    for key, text in pairs["Metric"].items():
        try:
            metrics[key] = float(text)
        except ValueError:
            damage.add(f"its metric {shown(key)} has the value {shown(text)}, not a number")
    return RunSummary(
        id=run_id,
        name=name,
        experiment=fields.get("Experiment", ""),
        status=DAMAGED if damage.problems else status,
        start_ms=start_ms,
        end_ms=end_ms,
        exit_code=exit_code,
        base=base,
        user=fields.get("User", ""),
        command=fields.get("Command", ""),
        params=pairs["Param"],
        metrics=metrics,
        tags=pairs["Tag"],
        sha=sha,
        damage=damage.reason,
        branch=branch,
    )
