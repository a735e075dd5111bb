"""Sharing runs through git remotes (docs/sharing.md): push, fetch, clean-up.

Runs travel as their refs, `refs/gitml/runs/<id>`, moved by the user's own
git executable (see `gitml.store.gitproc`) so that ssh keys, credential helpers, proxies
and `insteadOf` rules work exactly as they do for `git push`.
"""
