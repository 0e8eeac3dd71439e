"""Ingest: turn teleop demos, Open X-Embodiment RLDS shards and human video into contract episodes."""
