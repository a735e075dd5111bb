"""Models: any library's model saved as a folder with an `MLmodel` file, loaded back as a
function (`load_model(uri).predict(x)`) and served over HTTP.

Nothing heavy is imported here: numpy, pandas and the model libraries are imported by
the functions that need them.
"""
