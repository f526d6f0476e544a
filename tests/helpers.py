"""Shared test helpers: comparing NamedArrays with positional references, axis orders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import namedax as nx


def assert_named_close(
    actual: Any, expected: Any, axes: Sequence[str] | None = None, *, rtol=1e-5, atol=1e-6
) -> None:
    """Asserts `actual` (a NamedArray) equals the positional `expected` laid out in `axes`.

    `axes` defaults to `actual`'s own order. The comparison transposes `actual` into
    that order by name, so it checks values, not layout.
    """
    assert isinstance(actual, nx.NamedArray), f"expected a NamedArray, got {type(actual)}"
    names = tuple(axes) if axes is not None else actual.axis_names
    assert set(names) == set(actual.axis_names), f"axes {actual.axis_names} != {names}"
    perm = [actual.axis_names.index(n) for n in names]
    got = np.transpose(np.asarray(actual.array), perm)
    np.testing.assert_allclose(got, np.asarray(expected), rtol=rtol, atol=atol)


def axis_orders(axes: Sequence[nx.Axis]) -> Iterator[tuple[nx.Axis, ...]]:
    """Every order of `axes`."""
    return itertools.permutations(tuple(axes))


def in_order(x: nx.NamedArray, order: Sequence[nx.Axis | str]) -> nx.NamedArray:
    """The same values as `x`, stored with axes in `order` (a positional transpose)."""
    names = [a if isinstance(a, str) else a.name for a in order]
    perm = [x.axis_names.index(n) for n in names]
    return nx.NamedArray(jnp.transpose(x.array, perm), tuple(x.axes[i] for i in perm))


def tree_allclose(a: Any, b: Any, *, rtol=1e-5, atol=1e-6) -> bool:
    """Whether two pytrees have the same structure and close leaves."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    if ta != tb:
        return False
    return all(
        np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol) for x, y in zip(la, lb)
    )
