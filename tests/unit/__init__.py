"""Tests of pure code (grammars, records, specs, docs): no repository, server or gitml process."""
