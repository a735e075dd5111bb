"""Which files look like secrets: the one rule for snapshots and artifacts alike.

A run travels to every clone of a remote, so gitml never stores a file named like
a key, a password store or a credentials file unless the user allows that name
(`git config gitml.allowSecrets`, `gitml run --allow-secret`). Names are compared
case-insensitively (`.ENV`, `Server.PEM` are secrets too: case-insensitive file
systems make them the same file). A pattern with a `/` matches the last parts of
a path (`.aws/credentials` in any folder).

Files only, no git: the logging API uses this too and must stay light.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

SECRET_PATTERNS = (
    # environment files
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    # keys and certificates
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.kdbx",
    # credentials of tools and clouds
    "credentials*",
    "*_credentials",
    "*-credentials",
    "*credentials.json",
    "service-account*.json",
    "service_account*.json",
    ".git-credentials",
    ".netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".htpasswd",
    ".docker/config.json",
    ".kube/config",
    "kubeconfig",
    "*.kubeconfig",
    "*.tfstate",
    "*.tfstate.backup",
    "secrets.yaml",
    "secrets.yml",
    "secrets.json",
    "secrets.toml",
    "token",
    "token.txt",
    "*.token",
)

ALLOW_CONFIG = "gitml.allowSecrets"


def parse_patterns(text: str | None) -> tuple[str, ...]:
    """Patterns from a comma- or space-separated list (a config value)."""
    return tuple((text or "").replace(",", " ").split())


def _parts(path: str) -> list[str]:
    return [part for part in path.replace(os.sep, "/").lower().split("/") if part]


def _matches(parts: list[str], pattern: str) -> bool:
    wanted = _parts(pattern)
    if not wanted or len(wanted) > len(parts):
        return False
    return all(map(fnmatch.fnmatchcase, parts[-len(wanted) :], wanted))


@dataclass(frozen=True)
class SecretRule:
    """The secret patterns, minus whatever the user allowed."""

    allowed: tuple[str, ...] = ()

    def secret_pattern(self, path: str) -> str | None:
        """The pattern `path` matches as a secret, None when it is not one (or allowed)."""
        parts = _parts(path)
        if any(_matches(parts, pattern) for pattern in self.allowed):
            return None
        return next((p for p in SECRET_PATTERNS if _matches(parts, p)), None)

    def is_secret(self, path: str) -> bool:
        return self.secret_pattern(path) is not None

    def how_to_allow(self, path: str) -> str:
        """What to tell a user who means to store `path`."""
        name = _parts(path)[-1] if _parts(path) else path
        return (
            f"if you mean to store it, allow it: `gitml run --allow-secret '{name}'` or "
            f"`git config {ALLOW_CONFIG} '{name}'`"
        )
