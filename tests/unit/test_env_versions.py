"""Requirement lines and package names read one way everywhere (pip's rules, by
`packaging`): the local manager's checks, a model's requirements, run diffs, and
the packages a run records."""

from importlib import metadata

from gitml.compare.diff import _packages, changes
from gitml.envs.local import check_local
from gitml.envs.spec import read_spec
from gitml.envs.versions import canonical_name, freeze_versions, parse_requirement
from gitml.models.environment import serving_spec_text
from gitml.models.save import pinned_requirements
from tests.utils import write

CLICK = metadata.version("click")


def _spec(tmp_path, *pip_lines: str):
    lines = "".join(f"    - {line!r}\n" for line in pip_lines)
    return read_spec(write(tmp_path / "conda.yaml", f"dependencies:\n  - pip\n  - pip:\n{lines}"))


def test_names_are_compared_as_pip_compares_them():
    assert canonical_name("Zope.Interface") == canonical_name("zope_interface") == "zope-interface"
    requirement = parse_requirement('Scikit_Learn[all] >=1.3, <2 ; python_version > "3.0"  # ok')
    assert (requirement.name, str(requirement.specifier)) == ("Scikit_Learn", "<2,>=1.3")
    assert [parse_requirement(x) for x in ("--find-links ./w", "# note", "", "-e .")] == [None] * 4


def test_the_local_manager_checks_every_specifier_and_skips_other_platforms(tmp_path):
    spec = _spec(
        tmp_path,
        f"Click>={CLICK}",  # met, whatever the spelling
        "click<1",  # not met: not only == pins are checked
        'surely-missing-gitml-pkg; sys_platform == "nonesuch"',  # not for this platform
        "--no-index",
    )
    assert check_local(spec) == [f"conda.yaml asks for click<1; {CLICK} is installed here"]


def test_a_model_requirement_spelled_differently_is_one_line(tmp_path):
    assert pinned_requirements(["scikit-learn"], ["Scikit_Learn>=1"]) == ["Scikit_Learn>=1"]
    assert pinned_requirements(["click"], ["--extra-index-url https://x.example/simple"]) == [
        f"click=={CLICK}",
        "--extra-index-url https://x.example/simple",
    ]


def test_the_serving_spec_adds_no_second_copy_of_a_listed_server_package():
    text = "dependencies:\n  - pip:\n    - Click==8.0.0; python_version > '3'\n"
    listed = [line for line in serving_spec_text(text, "conda.yaml").splitlines() if "lick" in line]
    assert listed == ["  - Click==8.0.0; python_version > '3'"]


def test_a_package_renamed_between_spellings_is_changed_not_removed_and_added():
    a = _packages("Zope.Interface==5.0\nnumpy==1.26\n")
    b = _packages("zope_interface==6.0\nnumpy==1.26\n")
    assert [(c.key, c.status, c.a, c.b) for c in changes(a, b)] == [
        ("zope-interface", "changed", "5.0", "6.0")
    ]
    assert freeze_versions(["-e ./src", "# comment", "a==1"]) == {"-e ./src": "", "a": "1"}
