"""Releases: the pyramid built from ingested datasets, published immutably and pulled by trainers."""
