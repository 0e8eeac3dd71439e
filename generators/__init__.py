"""Synthetic-data generators: simulated rollouts (sim/) and image-to-video neural trajectories (video/)."""
