"""Doctest setup for `namedax/`: strict JAX and the names every docstring example may use."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax
import jax.numpy as jnp
import pytest

import namedax

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace.update(jax=jax, jnp=jnp, nx=namedax, namedax=namedax)
    doctest_namespace.update(
        {name: getattr(namedax, name) for name in ("Axis", "named", "NamedArray", "make_axes")}
    )
