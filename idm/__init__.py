"""Inverse dynamics models: pseudo-actions for video of a known embodiment."""
