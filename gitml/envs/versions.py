"""Version specs and requirement lines, read by `packaging` (pip's own rules).

Every place gitml reads a Python version constraint, a requirement line
(`scikit-learn[extra]>=1.3; python_version > "3.8"`) or a `name==version`
line of installed packages goes through here, so names compare the same
everywhere (PEP 503: `Scikit_Learn` is `scikit-learn`) and versions by PEP 440
(`>3.11` holds for 3.11.5, `!=3.11` for 3.11.4).

`packaging` is imported on first use (its markers and tags modules cost
tens of milliseconds), so a run without an environment spec never loads it.
"""

from typing import TYPE_CHECKING

from gitml.errors import EnvironmentBuildError

if TYPE_CHECKING:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet


def canonical_name(name: str) -> str:
    """The name pip compares: lowercase, runs of `-`, `_` and `.` made one `-`."""
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def python_specifier(constraint: str) -> "SpecifierSet":
    """A spec's `python` constraint (`3.11`, `3.11.7`, `>=3.9,<3.13`) as a PEP 440
    specifier set. Conda's bare version means that release and all below it
    (`3.11` is `3.11.*`); every other clause reads as pip reads it."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    clauses = [c.strip() for c in constraint.split(",")]
    clauses = [f"=={c.removesuffix('.*')}.*" if c[:1].isdigit() else c for c in clauses]
    try:
        return SpecifierSet(",".join(clauses))
    except InvalidSpecifier:
        raise EnvironmentBuildError(f"python version {constraint!r} is not understood") from None


def python_matches(constraint: str | None, version: tuple[int, ...]) -> bool:
    """Whether Python `version` (e.g. (3, 11, 5)) meets `constraint` (None: any)."""
    if not constraint:
        return True
    return python_specifier(constraint).contains(".".join(map(str, version)), prereleases=True)


def parse_requirement(line: str) -> "Requirement | None":
    """A requirement line as pip reads it; None for what is no requirement (a blank line,
    a comment, an option such as `--find-links`) or does not parse."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("#", "-")):
        return None
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def satisfies(version: str, requirement: "Requirement") -> bool:
    """Whether an installed `version` meets `requirement`'s version specifier."""
    from packaging.version import InvalidVersion, Version

    try:
        return requirement.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def freeze_versions(lines: list[str]) -> dict[str, str]:
    """`name==version` lines (as recorded) → {canonical name: version}. Another line
    (`-e ./src`) is kept whole, with no version; comments are left out."""
    found: dict[str, str] = {}
    for line in map(str.strip, lines):
        name, sep, version = line.partition("==")
        if sep and name:
            found[canonical_name(name)] = version.strip()
        elif line and not line.startswith("#"):
            found[line] = ""
    return found
