"""Tests of pure code: grammars, records, parsers, docs. No repository, no server, no gitml process."""
