"""Shape operations against NumPy on inputs stored in every axis order, plus their errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
NAMES = ("a", "b", "c")
REF = np.arange(24, dtype=np.float32).reshape(2, 3, 4)  # canonical layout (a, b, c)
BASE = nx.named(jnp.asarray(REF), (A, B, C))


def stored(order):
    return in_order(BASE, order)


def canonical_to(names):
    """The reference values laid out with axes `names` (a subset order of a, b, c)."""
    return np.transpose(REF, [NAMES.index(n) for n in names])


# --- rename ---------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(axis_orders((A, B, C))))
def test_rename_keeps_data_and_order(order):
    x = stored(order)
    y = nx.rename(x, {"a": "x", B: nx.Axis("y", 3)})
    renamed = {"a": "x", "b": "y", "c": "c"}
    assert y.axis_names == tuple(renamed[ax.name] for ax in order)
    assert y.array is x.array
    assert_named_close(y, REF, ("x", "y", "c"))


def test_rename_swaps_names_and_is_a_method():
    y = BASE.rename({"a": "b", "b": "a"})
    assert y.axes == (nx.Axis("b", 2), nx.Axis("a", 3), C)
    assert nx.rename(BASE, {}).axes == BASE.axes


def test_rename_errors():
    with pytest.raises(ValueError, match=r"rename: no axis 'z' in \{a:2, b:3, c:4\}"):
        nx.rename(BASE, {"z": "y"})
    with pytest.raises(ValueError, match=r"rename: axis 'a' has size 2 .* selected as a\(5\)"):
        nx.rename(BASE, {nx.Axis("a", 5): "y"})
    with pytest.raises(ValueError, match=r"rename: the new axis y\(7\) does not match .* 2"):
        nx.rename(BASE, {"a": nx.Axis("y", 7)})
    with pytest.raises(ValueError, match=r"rename: renaming 'a' to 'b' in \{a:2, b:3, c:4\} would"):
        nx.rename(BASE, {"a": "b"})
    with pytest.raises(ValueError, match="axis 'a' is renamed twice"):
        nx.rename(BASE, {"a": "x", A: "y"})
    with pytest.raises(TypeError, match=r"rename: expected a \{old: new\} mapping"):
        nx.rename(BASE, [("a", "x")])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rename: the new axis must be an Axis or a name"):
        nx.rename(BASE, {"a": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rename: expected a NamedArray"):
        nx.rename(jnp.zeros(3), {"a": "b"})  # type: ignore[arg-type]


# --- flatten_axes / unflatten_axis ------------------------------------------------------------


MERGES = [p for k in (1, 2, 3) for p in itertools.permutations(NAMES, k)]


@pytest.mark.parametrize("old", MERGES, ids="".join)
@pytest.mark.parametrize(
    "order", list(axis_orders((A, B, C))), ids=lambda o: "".join(a.name for a in o)
)
def test_flatten_axes_is_row_major_over_the_listed_axes(order, old):
    x = stored(order)
    y = nx.flatten_axes(x, old, "m")
    rest = [n for n in NAMES if n not in old]
    expected = canonical_to([*rest, *old]).reshape(*(REF.shape[NAMES.index(n)] for n in rest), -1)
    assert_named_close(y, expected, (*rest, "m"))
    first = min(x.axis_names.index(n) for n in old)
    assert y.axis_names.index("m") == first
    assert y.axis_size("m") == int(np.prod([x.axis_size(n) for n in old]))
    back = nx.unflatten_axis(y, "m", [x.resolve_axis(n) for n in old])
    assert_named_close(back, REF, NAMES)


def test_flatten_axes_accepts_axes_and_sized_new_axis():
    y = BASE.flatten_axes((C, A), nx.Axis("ca", 8))
    assert y.axes == (nx.Axis("ca", 8), B)
    assert nx.flatten_axes(BASE, "b", "bb").axes == (A, nx.Axis("bb", 3), C)


def test_flatten_axes_errors():
    with pytest.raises(ValueError, match=r"flatten_axes: no axis 'z' in \{a:2, b:3, c:4\}"):
        nx.flatten_axes(BASE, ("a", "z"), "m")
    with pytest.raises(ValueError, match=r"flatten_axes: duplicate axis names \['a'\]"):
        nx.flatten_axes(BASE, ("a", A), "m")
    with pytest.raises(ValueError, match="flatten_axes: no axes to merge"):
        nx.flatten_axes(BASE, (), "m")
    with pytest.raises(ValueError, match=r"flatten_axes: the new axis m\(5\) does not match .* 6"):
        nx.flatten_axes(BASE, ("a", "b"), nx.Axis("m", 5))
    with pytest.raises(ValueError, match=r"flatten_axes: the new axis c\(6\) clashes"):
        nx.flatten_axes(BASE, ("a", "b"), "c")


@pytest.mark.parametrize(
    "order", list(axis_orders((A, B, C))), ids=lambda o: "".join(a.name for a in o)
)
def test_unflatten_axis_in_every_order(order):
    x = stored(order)
    y = nx.unflatten_axis(x, "c", {"h": 2, "w": 2})
    i = x.axis_names.index("c")
    assert y.axis_names == (*x.axis_names[:i], "h", "w", *x.axis_names[i + 1 :])
    assert_named_close(y, REF.reshape(2, 3, 2, 2), ("a", "b", "h", "w"))


def test_unflatten_axis_errors():
    with pytest.raises(
        ValueError, match=r"unflatten_axis: the new axes \{h:2, w:3\} hold 6 .* c\(4\)"
    ):
        nx.unflatten_axis(BASE, "c", {"h": 2, "w": 3})
    with pytest.raises(ValueError, match=r"unflatten_axis: duplicate axis names \['a'\]"):
        nx.unflatten_axis(BASE, "c", {"a": 2, "w": 2})
    with pytest.raises(TypeError, match="unflatten_axis: axis 'h' has no size"):
        nx.unflatten_axis(BASE, "c", ("h", "w"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unflatten_axis: no axis 'z'"):
        nx.unflatten_axis(BASE, "z", {"h": 2, "w": 2})


# --- ravel / flatten -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order", list(axis_orders((A, B, C))), ids=lambda o: "".join(a.name for a in o)
)
def test_ravel_follows_storage_order(order):
    x = stored(order)
    y = nx.ravel(x, "flat")
    assert y.axes == (nx.Axis("flat", 24),)
    np.testing.assert_array_equal(y.array, np.asarray(x.array).reshape(-1))
    assert nx.flatten is nx.ravel
    assert x.flatten(nx.Axis("flat", 24)).axes == y.axes


def test_ravel_scalar_and_errors():
    assert nx.ravel(BASE.sum(), "one").axes == (nx.Axis("one", 1),)
    with pytest.raises(ValueError, match=r"ravel: the new axis flat\(5\) does not match the size"):
        nx.ravel(BASE, nx.Axis("flat", 5))


# --- split / unbind --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order", list(axis_orders((A, B, C))), ids=lambda o: "".join(a.name for a in o)
)
def test_split_matches_numpy(order):
    x = stored(order)
    pieces = nx.split(x, "c", [nx.Axis("c", 1), nx.Axis("d", 3)])
    i = x.axis_names.index("c")
    assert [p.axis_names[i] for p in pieces] == ["c", "d"]
    assert_named_close(pieces[0], REF[:, :, :1], ("a", "b", "c"))
    assert_named_close(pieces[1], REF[:, :, 1:], ("a", "b", "d"))


def test_split_errors():
    with pytest.raises(ValueError, match=r"split: the sizes of \{x:1, y:2\} sum to 3 .* c\(4\)"):
        nx.split(BASE, "c", [nx.Axis("x", 1), nx.Axis("y", 2)])
    with pytest.raises(TypeError, match="split: axis 'x' has no size"):
        nx.split(BASE, "c", ["x", "y"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="split: new_axes must be a sequence of Axis"):
        nx.split(BASE, "c", nx.Axis("x", 4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"split: duplicate axis names \['a'\]"):
        nx.split(BASE, "c", [nx.Axis("a", 2), nx.Axis("y", 2)])


@pytest.mark.parametrize(
    "order", list(axis_orders((A, B, C))), ids=lambda o: "".join(a.name for a in o)
)
def test_unbind_in_every_order(order):
    x = stored(order)
    rows = x.unbind("b")
    assert len(rows) == 3
    for k, row in enumerate(rows):
        assert row.axis_names == tuple(n for n in x.axis_names if n != "b")
        assert_named_close(row, REF[:, k, :], ("a", "c"))


def test_unbind_edge_cases():
    assert nx.unbind(nx.named(jnp.zeros((0, 2)), ("a", "b")), "a") == []
    with pytest.raises(ValueError, match=r"unbind: no axis 'z' in \{a:2, b:3, c:4\}"):
        nx.unbind(BASE, "z")


# --- transformations -------------------------------------------------------------------------


def test_shape_ops_under_jit_and_grad():
    w = jnp.asarray(np.random.default_rng(0).normal(size=24), jnp.float32)

    def named_loss(array):
        x = nx.named(array, ("a", "b", "c"))
        y = nx.flatten_axes(x.rename({"a": "x"}), ("c", "x"), "m")
        y = nx.unflatten_axis(y, "m", {"c": 4, "x": 2})
        parts = nx.split(y, "b", [nx.Axis("b", 1), nx.Axis("b", 2)])
        flat = nx.ravel(nx.rearrange(parts[1], ("x", "b", "c")), "f")
        return (flat.array * w[:16]).sum() + nx.unbind(parts[0], "b")[0].array.sum()

    def positional_loss(array):
        flat = array[:, 1:, :].reshape(-1)
        return (flat * w[:16]).sum() + array[:, 0, :].sum()

    x = jnp.asarray(REF)
    np.testing.assert_allclose(jax.jit(named_loss)(x), positional_loss(x), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(named_loss)(x), jax.grad(positional_loss)(x), rtol=1e-6)


# --- ndim ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations((A, B, C))))
def test_ndim_counts_axes_in_any_order_and_matches_jnp(order):
    x = stored(order)
    assert nx.ndim(x) == 3 == x.ndim
    assert nx.ndim(x.sum("a")) == 2
    assert nx.ndim(x.sum()) == 0
    assert isinstance(nx.ndim(x), int)


@pytest.mark.parametrize(
    "value", [3.0, 2, True, [1, 2], [[1.0], [2.0]], (1, 2), np.zeros((2, 3, 4, 5)), jnp.ones(())]
)
def test_ndim_of_positional_values_is_jnp_ndim(value):
    got = nx.ndim(value)
    assert got == jnp.ndim(jnp.asarray(value)) and isinstance(got, int)


def test_ndim_is_static_under_jit():
    def f(array):
        x = nx.named(array, ("a", "b", "c"))
        assert nx.ndim(x) == 3 and nx.ndim(array) == 3  # a Python int while tracing
        return x.sum().array

    np.testing.assert_allclose(jax.jit(f)(jnp.asarray(REF)), REF.sum())
