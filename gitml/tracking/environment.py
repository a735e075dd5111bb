"""Facts about the machine a run ran on and the processes that keep it alive (the
packages of the Python it ran: `gitml.envs.packages`)."""

import getpass
import hashlib
import json
import os
import platform
import socket
from pathlib import Path


def machine_facts() -> dict:
    """User, host, Python version and platform of this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {
        "user": user,
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def spec_hash(text: str) -> str:
    """A hash of an environment spec that ignores key order and formatting."""
    from gitml.documents import load_yaml

    try:
        normalized = json.dumps(load_yaml(text, "environment spec"), sort_keys=True, default=str)
    except Exception:  # an unreadable spec (or one gitml refuses to expand) is hashed as text
        normalized = text
    return hashlib.sha256(normalized.encode()).hexdigest()


def process_start_token(pid: int) -> str | None:
    """Something that tells this process apart from a later one with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start_token: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start_token is None:
        return True
    current = process_start_token(pid)
    if current is None:
        return True
    if current != start_token:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
