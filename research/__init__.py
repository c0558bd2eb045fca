"""Evidence scripts of the method, run from the repository root as `python -m research.<name>`."""
