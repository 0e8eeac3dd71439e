"""LAPA-style latent action model: a VQ-VAE over frame pairs that labels action-less video."""
