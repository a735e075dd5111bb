"""Plumbing: the repository, git objects, refs, workspace snapshots and run listing.

Nothing here prints or knows what a run means beyond its ref name.
"""

from __future__ import annotations
