"""Neural trajectories: an image-to-video model, its generations, and their labelled, filtered dataset."""
