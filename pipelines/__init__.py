"""Plain-Python pipeline stages of pyramid: formats, ingest, merge, release; runnable without Dagster."""
