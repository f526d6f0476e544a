"""tril, triu, trace, pad and roll act on named axes wherever they sit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

Batch, Row, Col = nx.Axis("batch", 2), nx.Axis("row", 3), nx.Axis("col", 4)
NAMES = ("batch", "row", "col")
X = jax.random.normal(jax.random.key(0), (2, 3, 4))
ORDERS = list(axis_orders((Batch, Row, Col)))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("fn", ["tril", "triu"])
def test_triangles_match_jnp_in_every_axis_order(fn, order):
    x = in_order(nx.named(X, (Batch, Row, Col)), order)
    for k in (-1, 0, 2):
        got = getattr(nx, fn)(x, "row", Col, k=k)
        assert got.axis_names == ("batch", "row", "col")  # Haliax's layout: the two axes last
        assert_named_close(got, getattr(jnp, fn)(X, k), NAMES)
    # rows and columns swapped: the triangle of the transposed matrix
    got = getattr(nx, fn)(x, "col", "row")
    assert got.axis_names == ("batch", "col", "row")
    assert_named_close(got, getattr(jnp, fn)(X.transpose(0, 2, 1)), ("batch", "col", "row"))


def test_triangle_gradient_and_jit():
    x = nx.named(X, (Batch, Row, Col))
    grad = jax.grad(lambda x: nx.tril(x, Row, Col).sum().scalar())(
        in_order(x, ("col", "batch", "row"))
    )
    assert_named_close(grad, jnp.tril(jnp.ones((2, 3, 4))), NAMES)
    jitted = jax.jit(lambda x: nx.triu(x, "row", "col", 1))(x)
    assert_named_close(jitted, jnp.triu(X, 1), NAMES)


@pytest.mark.parametrize("order", ORDERS)
def test_trace_matches_jnp_in_every_axis_order(order):
    x = in_order(nx.named(X, (Batch, Row, Col)), order)
    got = nx.trace(x, "row", "col")
    assert got.axes == (Batch,)
    assert_named_close(got, jnp.trace(X, axis1=1, axis2=2))
    got = x.trace(Col, Row, offset=1)
    assert_named_close(got, jnp.trace(X, offset=1, axis1=2, axis2=1))
    got = nx.trace(x, "batch", "col", dtype=jnp.float16)
    assert got.axes == (Row,) and got.dtype == jnp.float16
    assert_named_close(got, jnp.trace(X, axis1=0, axis2=2, dtype=jnp.float16), rtol=1e-2)


def test_triangle_and_trace_errors():
    x = nx.named(X, (Batch, Row, Col))
    with pytest.raises(ValueError, match=r"tril: axis1 and axis2 both name row\(3\) of \{batch:2"):
        nx.tril(x, "row", Row)
    with pytest.raises(ValueError, match=r"trace: no axis 'depth' in \{batch:2, row:3, col:4\}"):
        nx.trace(x, "depth", "row")
    with pytest.raises(ValueError, match=r"triu: axis 'col' has size 4 .* selected as col\(5\)"):
        nx.triu(x, "row", nx.Axis("col", 5))
    with pytest.raises(TypeError, match=r"trace: axis1 and axis2 must each name one axis"):
        nx.trace(x, ("row", "col"), "batch")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tril: expected a NamedArray, got ArrayImpl"):
        nx.tril(X, "row", "col")  # type: ignore[arg-type]


@pytest.mark.parametrize("order", ORDERS)
def test_pad_by_name_in_every_axis_order(order):
    x = in_order(nx.named(X, (Batch, Row, Col)), order)
    got = nx.pad(x, {"col": (1, 2), Row: 1}, constant_values=7.0)
    assert got.axis_names == x.axis_names
    assert got.shape == {"batch": 2, "row": 5, "col": 7}
    assert_named_close(got, jnp.pad(X, ((0, 0), (1, 1), (1, 2)), constant_values=7.0), NAMES)
    for mode in ("edge", "reflect", "wrap"):
        got = nx.pad(x, {"row": (2, 0)}, mode)
        assert_named_close(got, jnp.pad(X, ((0, 0), (2, 0), (0, 0)), mode), NAMES)


def test_pad_every_axis_options_and_grad():
    x = nx.named(X, (Batch, Row, Col))
    assert_named_close(nx.pad(x, 1), jnp.pad(X, 1), NAMES)
    assert_named_close(nx.pad(x, (0, 2)), jnp.pad(X, (0, 2)), NAMES)
    got = nx.pad(x, {"col": 2}, "linear_ramp", end_values=(1.0, -1.0))
    assert_named_close(
        got, jnp.pad(X, ((0, 0), (0, 0), (2, 2)), "linear_ramp", end_values=(1.0, -1.0))
    )
    assert nx.pad(x, {}).axes == x.axes
    grad = jax.grad(lambda x: (nx.pad(x, {"row": (1, 1)}, "edge") ** 2).sum().scalar())(x)
    want = jax.grad(lambda x: (jnp.pad(x, ((0, 0), (1, 1), (0, 0)), "edge") ** 2).sum())(X)
    assert_named_close(grad, want, NAMES)


def test_pad_errors():
    x = nx.named(X, (Batch, Row, Col))
    with pytest.raises(ValueError, match=r"pad: no axis 'depth' in \{batch:2, row:3, col:4\}"):
        nx.pad(x, {"depth": 1})
    with pytest.raises(ValueError, match=r"pad: pad_width\['row'\] = \(-1, 0\) is negative"):
        nx.pad(x, {"row": (-1, 0)})
    with pytest.raises(
        TypeError, match=r"pad: pad_width\['row'\] must be an int or a \(before, after\)"
    ):
        nx.pad(x, {"row": 1.5})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pad: pad_width must be an int or .* got \[1, 2, 3\]"):
        nx.pad(x, [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pad: constant_values must be a scalar or one"):
        nx.pad(x, {"row": 1}, constant_values=((1, 2), (3, 4), (5, 6)))
    with pytest.raises(TypeError, match=r"pad: constant_values must be a scalar or one"):
        nx.pad(x, {"row": 1}, constant_values=nx.named(jnp.ones(2), "batch"))


@pytest.mark.parametrize("order", ORDERS)
def test_roll_in_every_axis_order(order):
    x = in_order(nx.named(X, (Batch, Row, Col)), order)
    got = nx.roll(x, 1, "col")
    assert got.axes == x.axes
    assert_named_close(got, jnp.roll(X, 1, 2), NAMES)
    assert_named_close(nx.roll(x, (2, -1), ("row", Batch)), jnp.roll(X, (2, -1), (1, 0)), NAMES)
    assert_named_close(nx.roll(x, 1, {"row": 3, "col": 4}), jnp.roll(X, 1, (1, 2)), NAMES)


def test_roll_traced_shift_and_errors():
    x = nx.named(X, (Batch, Row, Col))
    got = jax.jit(lambda s: nx.roll(x, s, "row"))(jnp.array(2))
    assert_named_close(got, jnp.roll(X, 2, 1), NAMES)
    np.testing.assert_array_equal(
        nx.roll(x, nx.named(jnp.array(1), ()), "col").array, jnp.roll(X, 1, 2)
    )
    with pytest.raises(ValueError, match=r"roll: 3 shifts \(1, 2, 3\) for 2 axes \{row:3, col:4\}"):
        nx.roll(x, (1, 2, 3), ("row", "col"))
    with pytest.raises(ValueError, match=r"roll: no axis 'depth'"):
        nx.roll(x, 1, "depth")
    with pytest.raises(TypeError, match=r"roll: shift must be an int or a sequence"):
        nx.roll(x, nx.named(jnp.ones(2, int), "batch"), "row")


# --- pad_left --------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("extra", [0, 1, 5])
def test_pad_left_matches_jnp_in_every_axis_order(order, extra):
    x = in_order(nx.named(X, (Batch, Row, Col)), order)
    new = nx.Axis("row", 3 + extra)
    got = nx.pad_left(x, "row", new, value=-3.0)
    assert got.axes == tuple(new if a.name == "row" else a for a in order)
    assert_named_close(got, jnp.pad(X, ((0, 0), (extra, 0), (0, 0)), constant_values=-3.0), NAMES)
    # an Axis selects too, and new_axis may rename the padded axis in place
    renamed = nx.pad_left(x, Col, nx.Axis("padded", 6))
    assert renamed.axis_names == tuple("padded" if a.name == "col" else a.name for a in order)
    assert_named_close(renamed, jnp.pad(X, ((0, 0), (0, 0), (2, 0))), ("batch", "row", "padded"))


def test_pad_left_value_kinds_dtype_jit_and_grad():
    ints = nx.named(jnp.array([[1, 2], [3, 4]]), ("b", "pos"))
    got = nx.pad_left(ints, "pos", nx.Axis("pos", 4), value=nx.named(jnp.array(9), ()))
    assert got.dtype == ints.dtype
    assert got.array.tolist() == [[9, 9, 1, 2], [9, 9, 3, 4]]
    assert nx.pad_left(ints, "pos", nx.Axis("pos", 3), value=jnp.int32(7)).array[:, 0].tolist() == [
        7,
        7,
    ]
    x = nx.named(X, (Batch, Row, Col))
    jitted = jax.jit(lambda x, v: nx.pad_left(x, "batch", nx.Axis("batch", 4), value=v))(x, 0.5)
    assert_named_close(jitted, jnp.pad(X, ((2, 0), (0, 0), (0, 0)), constant_values=0.5), NAMES)
    grad_x, grad_v = jax.grad(
        lambda x, v: (nx.pad_left(x, Row, nx.Axis("row", 5), value=v) ** 2).sum().scalar(),
        argnums=(0, 1),
    )(x, 1.5)
    assert_named_close(grad_x, 2 * X, NAMES)
    np.testing.assert_allclose(grad_v, 2 * 1.5 * 2 * 2 * 4, rtol=1e-6)  # 16 padded entries


def test_pad_left_errors():
    x = nx.named(X, (Batch, Row, Col))
    with pytest.raises(ValueError, match=r"pad_left: no axis 'depth' in \{batch:2, row:3, col:4\}"):
        nx.pad_left(x, "depth", nx.Axis("depth", 5))
    with pytest.raises(
        ValueError, match=r"pad_left: new_axis row\(2\) is shorter than row\(3\) .*nx\.slice"
    ):
        nx.pad_left(x, "row", nx.Axis("row", 2))
    with pytest.raises(
        ValueError, match=r"pad_left: new_axis col\(5\) has the name of another axis of"
    ):
        nx.pad_left(x, "row", nx.Axis("col", 5))
    with pytest.raises(ValueError, match=r"pad_left: axis 'row' has size 3"):
        nx.pad_left(x, nx.Axis("row", 2), nx.Axis("row", 5))
    with pytest.raises(TypeError, match=r"pad_left: new_axis must be an Axis .* got int 5"):
        nx.pad_left(x, "row", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pad_left: axis must be one axis name or Axis, got tuple"):
        nx.pad_left(x, ("row", "col"), nx.Axis("row", 5))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"pad_left: value must be a scalar, got NamedArray\{batch:2\}"
    ):
        nx.pad_left(x, "row", nx.Axis("row", 5), value=nx.named(jnp.ones(2), "batch"))
    with pytest.raises(
        TypeError, match=r"pad_left: value must be a scalar, got ArrayImpl of shape \(3,\)"
    ):
        nx.pad_left(x, "row", nx.Axis("row", 5), value=jnp.ones(3))
    with pytest.raises(TypeError, match=r"pad_left: expected a NamedArray, got ArrayImpl"):
        nx.pad_left(X, "row", nx.Axis("row", 5))  # type: ignore[arg-type]
