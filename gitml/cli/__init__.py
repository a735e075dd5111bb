"""The command line: thin click commands that call the domain and format results."""
