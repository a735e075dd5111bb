"""Tracking: a run's life from start to commit, its record, listing and reproduction.

ids, record (the format and its grammar), staging (a run in progress), run
(start), runner (a wrapped command), commit (staging → run commit), recovery
(after a crash), catalog (which runs exist), checkout (a run's code into the work
tree, nothing lost), reproduce (branch, rerun).
"""

from __future__ import annotations
