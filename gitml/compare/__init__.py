"""Comparing runs: the filter grammar, sorting, diff, side-by-side, metric history, plots."""
