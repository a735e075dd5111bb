"""Sweeps: hyper-parameter searches run by Optuna, each trial a gitml run on one code
snapshot (space grammar, record, study, trial runner, driver, query)."""
