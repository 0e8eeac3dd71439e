"""What the models share: the training loop, checkpoints, metrics and intervals, frame pairs from datasets,
the instruction encoder and labelled datasets."""
