"""Benchmarks: namedax against raw JAX (and Haliax/Penzai when installed), as ratios in one run."""
