"""What every flavor's `save` returns, and package versions for the model's environment."""

from dataclasses import dataclass, field


@dataclass
class FlavorSave:
    """The flavor's MLmodel sections and the packages a loader will need."""

    flavor: str | None  # None for plain python_function models
    conf: dict
    pyfunc: dict
    packages: list[str] = field(default_factory=list)


def installed_version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
