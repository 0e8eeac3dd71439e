"""Dagster wiring: assets, resources and definitions. Domain logic lives in plain modules elsewhere."""
