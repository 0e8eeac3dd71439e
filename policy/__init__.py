"""The reference GR00T-N1-style policy (System 2 vision-language + System 1 flow-matching DiT)."""
