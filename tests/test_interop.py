"""Interop: Haliax (by duck type), Penzai and xarray named arrays to and from namedax;
foreign arrays given to namedax ops; the optional libraries stay unimported."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from penzai import pz

import namedax as nx
from namedax import Axis

Batch, Embed = Axis("batch", 2), Axis("embed", 3)
DATA = jnp.arange(6.0).reshape(2, 3)


class FakeHaliaxAxis:
    def __init__(self, name, size):
        self.name, self.size = name, size


@jax.tree_util.register_pytree_node_class
class FakeHaliaxNamedArray:
    """Haliax's NamedArray as namedax sees it: `.array`, `.axes` of named sized axes, a pytree."""

    def __init__(self, array, axes):
        self.array, self.axes = array, tuple(axes)

    def tree_flatten(self):
        return (self.array,), self.axes

    @classmethod
    def tree_unflatten(cls, axes, children):
        return cls(children[0], axes)


FakeHaliaxNamedArray.__module__ = "haliax.core"
FakeHaliaxAxis.__module__ = "haliax.axis"


def haliax_array(array, *axes):
    return FakeHaliaxNamedArray(array, [FakeHaliaxAxis(a.name, a.size) for a in axes])


@pytest.fixture
def fake_haliax(monkeypatch):
    module = types.ModuleType("haliax")
    module.Axis = FakeHaliaxAxis  # pyright: ignore[reportAttributeAccessIssue]
    module.NamedArray = FakeHaliaxNamedArray  # pyright: ignore[reportAttributeAccessIssue]
    monkeypatch.setitem(sys.modules, "haliax", module)
    return module


@pytest.mark.parametrize("order", [(Batch, Embed), (Embed, Batch)])
def test_from_haliax_keeps_data_and_axes(order):
    data = DATA if order[0] == Batch else DATA.T
    x = nx.from_haliax(haliax_array(data, *order))
    assert x.axes == order
    assert x.array is data
    np.testing.assert_array_equal(nx.rearrange(x, (Batch, Embed)).array, DATA)


def test_from_haliax_under_jit_and_grad():
    f = lambda a: nx.sum(nx.from_haliax(haliax_array(a, Batch, Embed)) ** 2).scalar()
    np.testing.assert_allclose(jax.jit(f)(DATA), jnp.sum(DATA**2))
    np.testing.assert_allclose(jax.grad(f)(DATA), 2 * DATA)


def test_from_haliax_errors():
    with pytest.raises(
        ValueError,
        match=r"from_haliax: the array has shape \(2, 3\) but its axes are \{embed:3, batch:2\}",
    ):
        nx.from_haliax(haliax_array(DATA, Embed, Batch))
    with pytest.raises(
        TypeError,
        match=r"from_haliax: expected a Haliax NamedArray \(with \.array and \.axes\), got",
    ):
        nx.from_haliax(DATA)


class HaliaxBuiltModel(eqx.Module):
    weight: FakeHaliaxNamedArray
    bias: FakeHaliaxNamedArray
    scale: float = eqx.field(static=True, default=2.0)


def test_tree_from_haliax_converts_a_whole_model():
    model = HaliaxBuiltModel(haliax_array(DATA, Batch, Embed), haliax_array(jnp.ones(3), Embed))
    converted = nx.tree_from_haliax({"model": model, "step": 7})
    assert isinstance(converted["model"].weight, nx.NamedArray)
    assert converted["model"].bias.axes == (Embed,)
    assert converted["step"] == 7 and converted["model"].scale == 2.0


def test_to_haliax_round_trip(fake_haliax):
    x = nx.named(DATA, (Batch, Embed))
    h = nx.to_haliax(x)
    assert isinstance(h, fake_haliax.NamedArray)
    assert [(a.name, a.size) for a in h.axes] == [("batch", 2), ("embed", 3)]
    back = nx.from_haliax(h)
    assert back.axes == x.axes and back.array is x.array


def test_to_haliax_without_haliax(monkeypatch):
    monkeypatch.setitem(sys.modules, "haliax", None)
    with pytest.raises(ImportError, match="to_haliax needs Haliax"):
        nx.to_haliax(nx.named(DATA, (Batch, Embed)))
    with pytest.raises(TypeError, match="to_haliax: expected a namedax NamedArray, got ArrayImpl"):
        nx.to_haliax(DATA)  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("names", [("batch", "embed"), ("embed", "batch")])
def test_penzai_round_trip(names):
    p = pz.nx.wrap(DATA).tag("batch", "embed")
    x = nx.from_penzai(p if names == ("batch", "embed") else p.untag("embed", "batch").tag(*names))
    np.testing.assert_array_equal(nx.rearrange(x, ("batch", "embed")).array, DATA)
    back = nx.to_penzai(x)
    assert dict(back.named_shape) == {"batch": 2, "embed": 3}
    np.testing.assert_array_equal(back.unwrap("batch", "embed"), DATA)


def test_from_penzai_errors():
    view = pz.nx.wrap(DATA).tag("batch", "embed").untag("embed")
    with pytest.raises(
        ValueError, match=r"from_penzai: the array has positional axes of shape \(3,\)"
    ):
        nx.from_penzai(view)
    with pytest.raises(TypeError, match="from_penzai: expected a Penzai NamedArray, got ArrayImpl"):
        nx.from_penzai(DATA)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.int32])
def test_xarray_round_trip(dtype):
    x = nx.named(DATA.astype(dtype), (Batch, Embed))
    da = x.to_xarray()
    assert isinstance(da, xr.DataArray) and da.dims == ("batch", "embed")
    assert da.dtype == x.dtype
    np.testing.assert_array_equal(da.values, np.asarray(x.array))
    np.testing.assert_array_equal(da.transpose("embed", "batch").values, np.asarray(x.array).T)
    back = nx.from_xarray(da.transpose("embed", "batch"))
    assert back.axes == (Embed, Batch) and back.dtype == x.dtype


def test_from_xarray_errors():
    with pytest.raises(
        TypeError, match=r"from_xarray: expected an xarray\.DataArray, got ArrayImpl"
    ):
        nx.from_xarray(DATA)


@pytest.mark.parametrize(
    ("foreign", "library", "converter"),
    [
        (haliax_array(DATA, Batch, Embed), "Haliax", "namedax.from_haliax(x)"),
        (pz.nx.wrap(DATA).tag("batch", "embed"), "Penzai", "namedax.from_penzai(x)"),
        (
            xr.DataArray(np.asarray(DATA), dims=("batch", "embed")),
            "xarray",
            "namedax.from_xarray(x)",
        ),
    ],
    ids=["haliax", "penzai", "xarray"],
)
@pytest.mark.parametrize(
    "op",
    [
        lambda f: nx.sum(f, "embed"),
        lambda f: nx.named(jnp.ones((2, 3)), ("batch", "embed")) + f,
        lambda f: nx.rearrange(f, ("embed", "batch")),
        lambda f: nx.named(f, ("batch", "embed")),
    ],
    ids=["sum", "add", "rearrange", "named"],
)
def test_a_foreign_array_is_a_type_error_naming_library_and_converter(
    foreign, library, converter, op
):
    with pytest.raises(TypeError) as info:
        op(foreign)
    message = str(info.value)
    assert f"{library} " in message and f"convert it with {converter}" in message


def test_importing_namedax_does_not_import_the_optional_libraries():
    code = (
        "import sys, namedax, namedax.serialization, namedax.compat.haliax\n"
        "print(sorted(m for m in ('xarray', 'penzai', 'orbax', 'haliax', 'safetensors', 'torch') "
        "if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"
