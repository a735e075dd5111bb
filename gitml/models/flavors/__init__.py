"""One module per flavor: how a library's model is written to a folder and read back.

Each module offers `save(model, folder, options) -> dict` (the flavor's MLmodel section
plus the packages it needs) and `load(folder, conf) -> predictor` (an object whose
`predict(data, params)` takes the checked input).
"""
