"""Environments a run executes in: the current interpreter (`local`), a cached
virtual environment (`venv`) or a conda environment (`conda`), built from the
project's `conda.yaml`. Submodules are imported by the code that needs them."""
