"""Runtime helpers every stage uses: Ray sessions and task batches, atomic writes, input and code fingerprints."""
