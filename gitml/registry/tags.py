"""How models are named, built and parsed in one place: model and stage names,
versions, model references and URIs, registry tag names and tag messages.

A model is named one of these ways, each parsed into a `ModelRef`:

    reference    NAME@STAGE  NAME#STAGE  NAME@vX.Y.Z  NAME@X.Y.Z  NAME@latest
    models:/     models:/NAME/VERSION  models:/NAME/STAGE  models:/NAME@STAGE
                 models:/NAME/latest   (MLflow's forms; NAME may hold '/')
    runs:/       runs:/RUN/PATH        (a run id, id prefix or name; a path in its artifacts)

Registry tag names follow GTO's grammar (docs/registry.md) so that `gto show` reads a
gitml registry unchanged:

    register     <model>@v<semver>
    deregister   <model>@v<semver>!#<N>
    assign       <model>#<stage>#<N>
    unassign     <model>#<stage>!#<N>
    deprecate    <model>@deprecated#<N>

`N` orders the events of one model. A version tag carries no counter in its
name (a version is registered once, and its name is what makes it unique);
gitml writes the counter in its message instead, so that every event gitml
writes has a place in the order. Tags written by other tools without a
counter still parse.

Messages are a readable sentence, the user's note, then `Gitml-*` trailers.
Each `build_*`/`*_text` function and its `parse_*` function are exact inverses; no git here.
"""

import re
from dataclasses import dataclass

from gitml.errors import InvalidValueError, ModelError
from gitml.tracking.record import escape_value, unescape

REGISTER = "register"
DEREGISTER = "deregister"
ASSIGN = "assign"
UNASSIGN = "unassign"
DEPRECATE = "deprecate"
KINDS = (REGISTER, DEREGISTER, ASSIGN, UNASSIGN, DEPRECATE)

NAME = r"[a-z][a-z0-9/-]*[a-z0-9]"
# A counter is a number a remote may send: bounded, so that no tag name or message
# can hold one Python refuses to convert (over 4,300 digits) or that slows comparisons.
MAX_COUNTER_DIGITS = 18
_COUNTER_RE = re.compile(rf"[0-9]{{1,{MAX_COUNTER_DIGITS}}}")
SEMVER = (
    r"(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)
_NO_DOUBLE_SLASH = r"(?!.*//)"
NAME_RE = re.compile(rf"^{_NO_DOUBLE_SLASH}{NAME}$")
VERSION_RE = re.compile(rf"^v{SEMVER}$")
TAG_RE = re.compile(
    rf"^{_NO_DOUBLE_SLASH}(?P<model>{NAME})"
    rf"(?:(?:#(?P<stage>{NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?)|@(?P<deprecated>deprecated))"
    rf"(?:#(?P<counter>[1-9][0-9]{{0,{MAX_COUNTER_DIGITS - 1}}}))?$"
)
_SEMVER_PARTS = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?(?:\+.*)?$")

# A tag's name is a file name under .git/refs/tags (a part of at most 255 bytes): a model
# or stage name of 10,000 characters would reach the file system and fail there.
MAX_NAME_LENGTH = 100
MAX_VERSION_LENGTH = 64

NAME_RULE = (
    "lowercase letters, digits, '-' and '/', starting with a letter and ending "
    f"with a letter or digit, 2 to {MAX_NAME_LENGTH} characters"
)


@dataclass(frozen=True)
class TagName:
    """What a registry tag's name says: which event, for which model."""

    kind: str
    model: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def build_tag(tag: TagName) -> str:
    """The tag name for an event; `parse_tag` inverts it."""
    if tag.kind == REGISTER:
        base = f"{tag.model}@{tag.version}"
    elif tag.kind == DEREGISTER:
        base = f"{tag.model}@{tag.version}!"
    elif tag.kind == ASSIGN:
        base = f"{tag.model}#{tag.stage}"
    elif tag.kind == UNASSIGN:
        base = f"{tag.model}#{tag.stage}!"
    elif tag.kind == DEPRECATE:
        base = f"{tag.model}@deprecated"
    else:
        raise ValueError(f"unknown registry event {tag.kind!r}")
    name = base if tag.counter is None else f"{base}#{tag.counter}"
    if parse_tag(name) != tag:
        raise ValueError(f"{tag} does not make a valid registry tag")
    return name


def parse_tag(name: str) -> TagName | None:
    """The event a tag name stands for, or None when it is not a registry tag."""
    match = TAG_RE.match(name)
    if match is None:
        return None
    counter = int(match["counter"]) if match["counter"] else None
    cancel = match["cancel"] == "!"
    if match["deprecated"]:
        return TagName(DEPRECATE, match["model"], counter=counter)
    if match["version"]:
        kind = DEREGISTER if cancel else REGISTER
        return TagName(kind, match["model"], version=match["version"], counter=counter)
    kind = UNASSIGN if cancel else ASSIGN
    return TagName(kind, match["model"], stage=match["stage"], counter=counter)


def is_valid_name(name: str) -> bool:
    """True when `name` can name a model or a stage."""
    return len(name) <= MAX_NAME_LENGTH and bool(NAME_RE.match(name))


def normalize_version(text: str) -> str | None:
    """`v1.2.3` for `v1.2.3` or `1.2.3`; None when it is not a semantic version (or one
    longer than MAX_VERSION_LENGTH)."""
    version = text if text.startswith("v") else "v" + text
    return version if len(version) <= MAX_VERSION_LENGTH and VERSION_RE.match(version) else None


def _semver_parts(version: str) -> tuple[str, str, str, str | None]:
    """Major, minor, patch and pre-release of a semantic version (ValueError if none)."""
    match = _SEMVER_PARTS.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not a semantic version")
    major, minor, patch, pre = match.groups()
    return major, minor, patch, pre


def semver_key(version: str) -> tuple:
    """A sort key giving semantic-version precedence (build metadata ignored)."""
    major, minor, patch, pre = _semver_parts(version)
    if pre is None:
        return (int(major), int(minor), int(patch), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), 0, parts)


def bump(version: str | None, part: str) -> str:
    """The version after `version` (None: none yet) bumping `part` (patch, minor, major)."""
    if version is None:
        return {"patch": "v0.0.1", "minor": "v0.1.0", "major": "v1.0.0"}[part]
    major, minor, patch = (int(x) for x in _semver_parts(version)[:3])
    if part == "major":
        return f"v{major + 1}.0.0"
    if part == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


def next_version(version: str) -> str:
    """The version after `version` when that one is taken: `v1.2.0-rc.2` after
    `v1.2.0-rc.1`, `v1.2.0-beta.1` after `v1.2.0-beta`, else the next patch."""
    release, _, pre = version.partition("+")[0].partition("-")
    if not pre:
        return bump(release, "patch")
    head, _, last = pre.rpartition(".")
    if last.isascii() and last.isdigit():
        return f"{release}-{head + '.' if head else ''}{int(last) + 1}"
    return f"{release}-{pre}.1"


# model references and URIs

LATEST = "latest"
MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"


@dataclass(frozen=True)
class ModelRef:
    """A model as a user names it: a registered model's version, stage or latest
    version (`model` set; neither `version` nor `stage`: the latest), or the model
    in a folder of a run's artifacts (`run` and `path` set)."""

    model: str | None = None
    version: str | None = None  # vX.Y.Z
    stage: str | None = None
    run: str | None = None  # a run id, id prefix or name
    path: str | None = None  # under the run's artifacts

    @property
    def selector(self) -> str:
        """What is asked of a registered model: a version, a stage or `latest`."""
        return self.version or self.stage or LATEST


def registry_ref(model: str, selector: str) -> ModelRef:
    """The reference to `model` at `selector`: `latest`, a version (with or without its
    `v`) or else a stage."""
    if selector == LATEST:
        return ModelRef(model)
    version = normalize_version(selector)
    if version is not None:
        return ModelRef(model, version=version)
    return ModelRef(model, stage=selector)


def parse_reference(text: str) -> ModelRef:
    """The model a reference names: `NAME@SELECTOR` or `NAME#STAGE`."""
    for separator in ("@", "#"):
        model, sep, selector = text.rpartition(separator)
        if sep and model and selector:
            return registry_ref(model, selector)
    raise InvalidValueError(
        f"{text!r} is not a model reference: use NAME@STAGE, NAME@vX.Y.Z or NAME@latest"
    )


def reference_text(ref: ModelRef) -> str:
    """`NAME@SELECTOR`; `parse_reference` inverts it."""
    if ref.model is None:
        raise ValueError(f"{ref} names no registered model")
    return f"{ref.model}@{ref.selector}"


def is_model_uri(text: str) -> bool:
    """Whether `text` is a `models:/` or `runs:/` URI (rather than a folder)."""
    return text.startswith((MODELS_SCHEME, RUNS_SCHEME))


def parse_model_uri(uri: str) -> ModelRef:
    """The model a `models:/` or `runs:/` URI names."""
    if uri.startswith(RUNS_SCHEME):
        run, _, path = uri[len(RUNS_SCHEME) :].partition("/")
        path = path.strip("/")
        if not run or not path:
            raise ModelError(f"{uri!r} is not a run model URI: use runs:/<run>/<path>")
        return ModelRef(run=run, path=path)
    if not uri.startswith(MODELS_SCHEME):
        raise InvalidValueError(f"'{uri}' is not a models:/ URI (e.g. models:/NAME/production)")
    rest = uri[len(MODELS_SCHEME) :].strip("/")
    model, sep, selector = rest.rpartition("@")
    if not sep:
        model, sep, selector = rest.rpartition("/")
    if not (sep and model and selector):
        raise InvalidValueError(
            f"'{uri}' names no version or stage: use models:/NAME/VERSION, "
            "models:/NAME/STAGE or models:/NAME@STAGE"
        )
    return registry_ref(model, selector)


def model_uri(ref: ModelRef) -> str:
    """`runs:/RUN/PATH`, `models:/NAME/VERSION`, `models:/NAME@STAGE` or
    `models:/NAME/latest`; `parse_model_uri` inverts it."""
    if ref.model is None:
        return f"{RUNS_SCHEME}{ref.run}/{ref.path}"
    if ref.stage is not None:
        return f"{MODELS_SCHEME}{ref.model}@{ref.stage}"
    return f"{MODELS_SCHEME}{ref.model}/{ref.selector}"


# messages

TRAILER_PREFIX = "Gitml-"


@dataclass(frozen=True)
class TagMessage:
    """A registry tag's message: the readable part and the facts gitml reads back."""

    text: str
    run_id: str | None = None
    artifact: str | None = None
    version: str | None = None
    counter: int | None = None
    keep_previous: bool = False


_TRAILERS = (
    ("Run", "run_id"),
    ("Artifact", "artifact"),
    ("Version", "version"),
    ("Counter", "counter"),
    ("Keep-Previous", "keep_previous"),
)


_ATTRIBUTES = dict(_TRAILERS)


def build_message(message: TagMessage) -> str:
    """Sentence and note, a blank line, then trailers; `parse_message` inverts it."""
    lines = []
    for trailer, attribute in _TRAILERS:
        value = getattr(message, attribute)
        if value is None or value is False:
            continue
        text = "yes" if value is True else str(value)
        lines.append(f"{TRAILER_PREFIX}{trailer}: {escape_value(text)}")
    body = message.text.rstrip("\n")
    if not lines:
        return body + "\n"
    return f"{body}\n\n" + "\n".join(lines) + "\n"


def parse_message(text: str) -> TagMessage:
    """The facts in a tag message; a message without trailers is all text."""
    text = text.rstrip("\n")
    head, sep, block = text.rpartition("\n\n")
    if not sep:
        return TagMessage(text)
    fields = {}
    skip = len(TRAILER_PREFIX)
    for line in block.split("\n"):
        key, colon, value = line[skip:].partition(": ")
        attribute = _ATTRIBUTES.get(key)
        if attribute is None or not colon or not line.startswith(TRAILER_PREFIX):
            return TagMessage(text)  # not a trailer block: all of it is text
        fields[attribute] = unescape(value) if "%" in value else value
    counter = fields.get("counter", "")
    return TagMessage(
        text=head,
        run_id=fields.get("run_id"),
        artifact=fields.get("artifact"),
        version=fields.get("version"),
        counter=int(counter) if _COUNTER_RE.fullmatch(counter) else None,
        keep_previous=fields.get("keep_previous") == "yes",
    )
