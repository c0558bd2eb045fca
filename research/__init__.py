"""Evidence scripts: what the method learns, measured under a protocol that cannot tune to the test split."""
