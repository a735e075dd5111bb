"""`gitml ui`: a web view of the repository's runs, comparisons and registry.

A Starlette app on uvicorn (`gitml[ui]`) that serves a JSON API (docs/ui.md) and the
pages under `static/`. It reads runs only through the run reader
(`gitml.tracking.readers`, `gitml.tracking.catalog`), filters with the filter grammar
(`gitml.compare.search`) and writes registry events with `gitml.registry`.
"""
