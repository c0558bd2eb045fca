"""Performance scripts (speed, memory, throughput), run from the repository root as `python -m bench.<name>`."""
