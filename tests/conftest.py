"""Strict JAX for the whole suite: rank promotion raises, and 8 CPU devices are simulated."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "standard")

collect_ignore = ["typed_usage.py"]  # pyright input for test_public_types.py, not a test
