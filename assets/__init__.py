"""The two front doors, wiring only: Dagster (assets, resources, definitions) and the ``pyramid`` command line
(``cli.py``). Domain logic lives in plain modules elsewhere."""
