"""Unique axis names at every door, and what NumPy and JAX conversions of a NamedArray give.

Every way of making a NamedArray from outside data (constructors, converters from
other libraries, operations that take target axes) refuses a repeated axis name with
a `ValueError` naming the operation. `np.asarray` gives the number of a 0-d
NamedArray and a `TypeError` naming `.array` for one with axes, and `jnp.asarray`
does the same.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from penzai import pz

import namedax as nx
from namedax import Axis

A, A3, B = Axis("a", 2), Axis("a", 3), Axis("b", 2)


class HaliaxLike:
    """What a Haliax NamedArray looks like to namedax (duck-typed)."""

    def __init__(self, array, axes):
        self.array, self.axes = array, axes


def _dup_dataarray() -> xr.DataArray:
    with warnings.catch_warnings():  # xarray warns about, but allows, repeated dims
        warnings.simplefilter("ignore")
        return xr.DataArray(np.ones((2, 2)), dims=("a", "a"))


def _dup_penzai():
    """A Penzai-like array whose named shape repeats a name (Penzai's dict cannot)."""

    class PenzaiLike:
        positional_shape = ()

        def __init__(self):
            self.named_shape = _RepeatingDict()

        def unwrap(self, *names):
            return jnp.ones((2,) * len(names))

    return PenzaiLike()


class _RepeatingDict(dict):
    """A mapping whose iteration repeats a key, as a buggy converter could produce."""

    def __init__(self):
        super().__init__(a=2)

    def __iter__(self):
        return iter(["a", "a"])


X = nx.named(jnp.arange(4.0).reshape(2, 2), (A, B))

DOORS = {
    "NamedArray(...)": lambda: nx.NamedArray(jnp.ones((2, 2)), (A, A)),
    "named": lambda: nx.named(jnp.ones((2, 2)), ("a", "a")),
    "named with Axis": lambda: nx.named(jnp.ones((2, 2)), (A, A)),
    "from_xarray": lambda: nx.from_xarray(_dup_dataarray()),
    "from_haliax": lambda: nx.from_haliax(HaliaxLike(jnp.ones((2, 2)), (A, A))),
    "tree_from_haliax": lambda: nx.tree_from_haliax([HaliaxLike(jnp.ones((2, 3)), (A, A3))]),
    "from_penzai": lambda: nx.from_penzai(_dup_penzai()),
    "rename onto a kept axis": lambda: X.rename({"b": "a"}),
    "rename two onto one": lambda: nx.named(jnp.ones((2, 2, 2)), ("a", "b", "c")).rename(
        {"b": "z", "c": "z"}
    ),
    "zeros": lambda: nx.zeros((A, A)),
    "full": lambda: nx.full((A, A), 1.0),
    "random.normal": lambda: nx.random.normal(jax.random.key(0), (A, A)),
    "broadcast_axis": lambda: X.broadcast_axis((Axis("c", 2), Axis("c", 2))),
    "broadcast_to": lambda: nx.broadcast_to(X, (A, B, B)),
    "broadcast_to a scalar": lambda: nx.broadcast_to(1.0, (A, A)),
    "unflatten_axis": lambda: X.unflatten_axis("b", (Axis("a", 2),)),
    "split": lambda: X.split("b", (Axis("a", 1), Axis("c", 1))),
    "slice new_axis": lambda: nx.slice(X, "b", new_axis="a", start=0, length=2),
    "dot out_axes": lambda: nx.dot(X, X, axis=(), out_axes=("a", "a", "b")),
    "LayerNorm.init": lambda: nx.nn.LayerNorm.init((B, B)),
    "RmsNorm.init": lambda: nx.nn.RmsNorm.init((B, B)),
}


@pytest.mark.parametrize("door", DOORS, ids=list(DOORS))
def test_every_door_refuses_a_repeated_axis_name(door):
    with pytest.raises(ValueError, match=r"'a'|\['a'\]|\['z'\]|'z'|\['b'\]|'b'|'c'|\['c'\]"):
        DOORS[door]()


def test_converter_errors_name_the_converter():
    with pytest.raises(ValueError, match=r"^from_xarray: the DataArray has dims \('a', 'a'\)"):
        nx.from_xarray(_dup_dataarray())
    with pytest.raises(ValueError, match=r"^from_haliax: duplicate axis names \['a'\]"):
        nx.from_haliax(HaliaxLike(jnp.ones((2, 2)), (A, A)))
    with pytest.raises(ValueError, match=r"^from_penzai: duplicate axis names \['a'\]"):
        nx.from_penzai(_dup_penzai())
    with pytest.raises(ValueError, match=r"^broadcast_to: duplicate axis names \['b'\]"):
        nx.broadcast_to(X, (A, B, B))


def test_converters_still_check_shapes_and_convert_distinct_names():
    with pytest.raises(ValueError, match=r"^from_haliax: the array has shape \(2, 2\)"):
        nx.from_haliax(HaliaxLike(jnp.ones((2, 2)), (A, A3)))
    da = xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("a", "c"))
    x = nx.from_xarray(da)
    assert x.axes == (A, Axis("c", 3))
    np.testing.assert_array_equal(x.array, da.values)
    p = pz.nx.wrap(jnp.arange(6.0).reshape(2, 3)).tag("a", "c")
    assert nx.from_penzai(p).axes == (A, Axis("c", 3))


def test_from_xarray_of_a_dataset_is_a_clear_type_error():
    ds = xr.Dataset({"temp": (("x",), np.ones(2)), "wind": (("x",), np.zeros(2))})
    with pytest.raises(
        TypeError,
        match=r"^from_xarray: expected an xarray.DataArray, got an xarray.Dataset "
        r"with variables \['temp', 'wind'\].*from_xarray\(ds\['temp'\]\)",
    ):
        nx.from_xarray(ds)
    assert nx.from_xarray(ds["temp"]).axes == (Axis("x", 2),)


# --- NumPy and JAX conversions ---------------------------------------------------------------

ARRAY_MESSAGE = r"axes \{a:2, b:2\} cannot become a NumPy or JAX array.*`x\.array`"


def test_np_asarray_of_a_0d_named_array_is_its_number():
    total = X.sum()
    got = np.asarray(total)
    assert got.shape == () and got.dtype == np.float32 and float(got) == 6.0
    assert np.asarray(total, dtype=np.int64).dtype == np.int64
    assert float(np.array(total, copy=True)) == 6.0
    np.testing.assert_allclose(np.float32(1.0) + np.asarray(total), 7.0)
    assert float(jnp.asarray(total)) == 6.0


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(np.asarray, id="np.asarray"),
        pytest.param(np.array, id="np.array"),
        pytest.param(lambda x: np.array(x, copy=True), id="np.array copy"),
        pytest.param(jnp.asarray, id="jnp.asarray"),
        pytest.param(jnp.array, id="jnp.array"),
        pytest.param(lambda x: np.testing.assert_allclose(x, 0.0), id="assert_allclose"),
    ],
)
def test_converting_an_array_with_axes_names_dot_array(convert):
    with pytest.raises(TypeError, match=ARRAY_MESSAGE):
        convert(X)


def test_a_traced_named_array_converts_like_a_traced_jax_array():
    with pytest.raises(jax.errors.TracerArrayConversionError):
        jax.jit(lambda x: np.asarray(x.sum()))(X)
    # jax.numpy still takes a 0-d NamedArray, traced or not
    np.testing.assert_allclose(jax.jit(lambda x: jnp.sin(x.sum()))(X), np.sin(6.0))
