"""MimicGen/DexMimicGen-style simulated rollouts: a few source demos multiplied into many in robosuite."""
