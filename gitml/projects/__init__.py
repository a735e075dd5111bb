"""Projects: the project file, its entry points and typed params, and what a run will launch."""
