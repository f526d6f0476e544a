"""Creation functions against jax.numpy: filled arrays, ranges, stack/concatenate, repeat/tile."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
ABC = (A, B, C)


def sample(shape=(2, 3, 4), seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


# --- filled arrays ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("named_fn", "reference"), [(nx.zeros, jnp.zeros), (nx.ones, jnp.ones)], ids=["zeros", "ones"]
)
def test_zeros_ones(named_fn, reference):
    for shape in [(A, B), [A, B], {"a": 2, "b": 3}]:
        out = named_fn(shape)
        assert out.axes == (A, B)
        np.testing.assert_array_equal(out.array, reference((2, 3)))
        assert out.dtype == reference((2, 3)).dtype
    assert named_fn(C, dtype=jnp.int8).dtype == jnp.int8
    assert named_fn(C).axes == (C,)
    assert named_fn(()).axes == ()


def test_full_with_scalar_and_named_fill():
    out = nx.full({"a": 2, "b": 3}, 2.5)
    np.testing.assert_array_equal(out.array, jnp.full((2, 3), 2.5))
    assert nx.full((A,), 1, dtype=jnp.float32).dtype == jnp.float32
    fill = nx.named(jnp.array([1.0, 2.0, 3.0]), "b")
    out = nx.full((A, B, C), fill)
    assert out.axes == ABC
    assert_named_close(out, jnp.broadcast_to(fill.array[None, :, None], (2, 3, 4)), "abc")
    fill_cb = in_order(nx.named(sample((3, 4)), (B, C)), (C, B))
    assert_named_close(
        nx.full((A, B, C), fill_cb), jnp.broadcast_to(sample((3, 4)), (2, 3, 4)), "abc"
    )
    assert nx.full((A, B), fill, dtype=jnp.int32).dtype == jnp.int32


@pytest.mark.parametrize(
    ("named_fn", "reference"),
    [(nx.zeros_like, jnp.zeros_like), (nx.ones_like, jnp.ones_like)],
    ids=["zeros_like", "ones_like"],
)
def test_zeros_ones_like(named_fn, reference):
    x = in_order(nx.named(sample(), ABC), (C, A, B))
    out = named_fn(x)
    assert out.axes == x.axes and out.dtype == x.dtype
    np.testing.assert_array_equal(out.array, reference(x.array))
    assert named_fn(x, dtype=jnp.int32).dtype == jnp.int32


def test_full_like():
    x = nx.named(jnp.arange(6).reshape(2, 3), (A, B))
    out = nx.full_like(x, 7)
    assert out.axes == x.axes and out.dtype == jnp.int32
    np.testing.assert_array_equal(out.array, jnp.full((2, 3), 7))
    assert nx.full_like(x, 0.5, dtype=jnp.float32).array[0, 0] == 0.5
    row = nx.named(jnp.array([5, 6]), "a")
    np.testing.assert_array_equal(nx.full_like(x, row).array, [[5, 5, 5], [6, 6, 6]])


def test_filled_array_errors():
    with pytest.raises(TypeError, match=r"zeros: axis 'a' has no size\. Pass an Axis"):
        nx.zeros("a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ones: axis 'b' has no size"):
        nx.ones((A, "b"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"full: duplicate axis names \['a'\]"):
        nx.full((A, A), 1.0)
    with pytest.raises(ValueError, match=r"broadcast_to: the array \{z:2\} has axes \{z:2\}"):
        nx.full((A,), nx.named(jnp.ones(2), "z"))
    with pytest.raises(ValueError, match=r"axis 'a' has size 2 .* a\(5\)|size"):
        nx.full((A,), nx.named(jnp.ones(5), "a"))
    with pytest.raises(TypeError, match=r"full: fill_value is a plain ndarray of shape \(2,\)"):
        nx.full((A,), np.ones(2))
    with pytest.raises(TypeError, match=r"zeros_like: a must be a NamedArray, got a plain"):
        nx.zeros_like(jnp.ones(3))  # type: ignore[arg-type]


# --- ranges -------------------------------------------------------------------------------------


def test_arange_matches_jnp():
    for start, step, dtype in [(0, 1, None), (3, 2, None), (0.5, 0.25, None), (1, 2, jnp.float32)]:
        out = nx.arange(C, start=start, step=step, dtype=dtype)
        want = jnp.arange(start, start + 4 * step, step, dtype=dtype)
        assert out.axes == (C,)
        assert out.dtype == want.dtype
        np.testing.assert_allclose(out.array, want)
    assert nx.arange({"c": 4}).axes == (C,)
    # The length comes from the axis even where a float stop would round up.
    assert nx.arange(nx.Axis("x", 3), start=0.0, step=0.1).shape == {"x": 3}


def test_arange_with_traced_start():
    out = jax.jit(lambda s: nx.arange(B, start=s, step=2.0))(jnp.float32(1.0))
    np.testing.assert_allclose(out.array, [1.0, 3.0, 5.0])


@pytest.mark.parametrize("endpoint", [True, False])
def test_linspace_logspace_geomspace(endpoint):
    got = nx.linspace(C, start=1.0, stop=2.0, endpoint=endpoint)
    np.testing.assert_allclose(got.array, jnp.linspace(1.0, 2.0, 4, endpoint=endpoint))
    got = nx.logspace(C, start=0.0, stop=3.0, endpoint=endpoint, base=2.0)
    want = jnp.logspace(0.0, 3.0, 4, endpoint=endpoint, base=2.0)
    np.testing.assert_allclose(got.array, want, rtol=1e-6)
    got = nx.geomspace({"c": 4}, start=1.0, stop=8.0, endpoint=endpoint, dtype=jnp.float32)
    np.testing.assert_allclose(got.array, jnp.geomspace(1.0, 8.0, 4, endpoint=endpoint), rtol=1e-6)
    assert got.axes == (C,)


def test_range_errors():
    with pytest.raises(TypeError, match=r"arange: axis 'x' has no size\. Pass an Axis"):
        nx.arange("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"linspace: axis 'x' has no size"):
        nx.linspace("x", start=0.0, stop=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"geomspace: needs exactly one axis, got \{a:2, b:3\}"):
        nx.geomspace((A, B), start=1.0, stop=2.0)


@pytest.mark.parametrize("spec", [(A, B), {"b": 3, "a": 2}, (B, A, C)])
def test_arange_over_several_axes_counts_row_major(spec):
    axes = nx.axis_spec_to_tuple(spec)
    sizes = tuple(a.size for a in axes)  # pyright: ignore[reportAttributeAccessIssue]
    got = nx.arange(spec, start=2, step=3)
    assert got.axes == axes
    expected = (jnp.arange(int(np.prod(sizes))) * 3 + 2).reshape(sizes)
    np.testing.assert_array_equal(got.array, expected)
    traced = jax.jit(lambda s: nx.arange(spec, start=s).array)(jnp.int32(5))
    np.testing.assert_array_equal(traced, jnp.arange(int(np.prod(sizes))).reshape(sizes) + 5)


# --- stack and concatenate ----------------------------------------------------------------------


def test_stack_aligns_by_name():
    xs = [sample(seed=i) for i in range(3)]
    want = jnp.stack(xs)
    orders = list(axis_orders(ABC))
    for first_order in orders[:3]:
        arrays = [in_order(nx.named(x, ABC), orders[(i * 2 + 1) % 6]) for i, x in enumerate(xs)]
        arrays[0] = in_order(arrays[0], first_order)
        out = nx.stack("layer", arrays)
        assert out.axes == (nx.Axis("layer", 3), *first_order)
        assert_named_close(out, want, ("layer", "a", "b", "c"))
    out = nx.stack(nx.Axis("layer", 3), arrays)
    assert out.axes[0] == nx.Axis("layer", 3)
    assert nx.stack("s", (nx.named(jnp.float32(1.0), ()),)).axes == (nx.Axis("s", 1),)


def test_stack_gradient():
    def f(x, y):
        return (
            nx.stack("s", [nx.named(x, ABC), in_order(nx.named(y, ABC), (C, B, A))]).std().scalar()
        )

    x, y = sample(seed=1), sample(seed=2)
    got = jax.grad(f, argnums=(0, 1))(x, y)
    want = jax.grad(lambda x, y: jnp.std(jnp.stack([x, y])), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)


def test_stack_errors():
    x = nx.named(jnp.zeros((2, 3)), (A, B))
    y = nx.named(jnp.zeros((2, 4)), (A, C))
    with pytest.raises(
        ValueError, match=r"stack: arrays\[1\] has axes \{a:2, c:4\} but arrays\[0\]"
    ):
        nx.stack("s", [x, y])
    with pytest.raises(ValueError, match=r"stack: arrays\[2\] has axes \{a:2, b:4\}"):
        nx.stack("s", [x, x, nx.named(jnp.zeros((2, 4)), ("a", "b"))])
    with pytest.raises(
        ValueError,
        match=r"stack: the new axis s\(3\) does not match the number of arrays, which is 2",
    ):
        nx.stack(nx.Axis("s", 3), [x, x])
    with pytest.raises(ValueError, match=r"stack: the new axis 'a' already exists"):
        nx.stack("a", [x, x])
    with pytest.raises(ValueError, match=r"stack: needs at least one array"):
        nx.stack("s", [])
    with pytest.raises(TypeError, match=r"stack: arrays\[1\] must be a NamedArray, got a plain"):
        nx.stack("s", [x, jnp.zeros((2, 3))])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"stack: arrays must be a list or tuple"):
        nx.stack("s", x)  # type: ignore[arg-type]


def test_concatenate_aligns_by_name():
    x = sample((2, 3, 4), seed=1)
    y = sample((2, 5, 4), seed=2)
    want = jnp.concatenate([x, y], axis=1)
    for i, ox in enumerate(axis_orders(ABC)):
        oy = ("c", "b", "a") if i % 2 else ("b", "a", "c")
        nx_x = in_order(nx.named(x, ABC), ox)
        nx_y = in_order(nx.named(y, (A, B.resize(5), C)), oy)
        out = nx.concatenate("b", [nx_x, nx_y])
        assert out.axes == tuple(B.resize(8) if a == B else a for a in ox)
        assert_named_close(out, want, "abc")
    out = nx.concatenate(nx.Axis("b", 11), [nx_x, nx_y, nx_x])
    assert out.shape["b"] == 11


def test_concatenate_under_jit_and_grad():
    x, y = sample((2, 3, 4), seed=3), sample((2, 1, 4), seed=4)

    def f(x, y):
        nx_y = in_order(nx.named(y, (A, B.resize(1), C)), (C, B.resize(1), A))
        return nx.concatenate("b", [nx.named(x, ABC), nx_y]).cumsum("b").sum().scalar()

    def ref(x, y):
        return jnp.concatenate([x, y], 1).cumsum(1).sum()

    np.testing.assert_allclose(jax.jit(f)(x, y), ref(x, y), rtol=1e-5)
    np.testing.assert_allclose(jax.grad(f)(x, y), jax.grad(ref)(x, y), rtol=1e-5)


def test_concatenate_errors():
    x = nx.named(jnp.zeros((2, 3)), (A, B))
    with pytest.raises(ValueError, match=r"concatenate: arrays\[1\] \{a:2, c:4\} has no axis 'b'"):
        nx.concatenate("b", [x, nx.named(jnp.zeros((2, 4)), (A, C))])
    with pytest.raises(ValueError, match=r"concatenate: arrays\[0\] \{a:2, b:3\} has no axis 'z'"):
        nx.concatenate("z", [x])
    other = nx.named(jnp.zeros((5, 3)), ("b", "c"))
    with pytest.raises(ValueError, match=r"concatenate: arrays\[1\] has axes \{b:5, c:3\} but arr"):
        nx.concatenate("b", [x, other])
    resized = nx.named(jnp.zeros((3, 1)), ("a", "b"))
    with pytest.raises(ValueError, match=r"all axes other than 'b' must agree"):
        nx.concatenate("b", [x, resized])
    with pytest.raises(
        ValueError, match=r"concatenate: the new axis b\(5\) does not match the sum .* 6"
    ):
        nx.concatenate(nx.Axis("b", 5), [x, x])
    with pytest.raises(TypeError, match=r"concatenate: arrays\[0\] must be a NamedArray"):
        nx.concatenate("b", [np.zeros(3)])  # type: ignore[arg-type]


# --- repeat and tile ----------------------------------------------------------------------------


def test_repeat():
    x = sample((2, 3, 4), seed=5)
    for order in [ABC, (C, B, A)]:
        arr = in_order(nx.named(x, ABC), order)
        out = nx.repeat(arr, 2, "b")
        assert out.axes == tuple(B.resize(6) if a == B else a for a in order)
        assert_named_close(out, jnp.repeat(x, 2, axis=1), "abc")
    counts = jnp.array([1, 0, 3])
    out = nx.repeat(arr, nx.named(counts, B), B)
    assert out.shape["b"] == 4
    assert_named_close(out, jnp.repeat(x, counts, axis=1), "abc")
    out = nx.repeat(arr, counts, "b")
    assert_named_close(out, jnp.repeat(x, counts, axis=1), "abc")


def test_repeat_under_jit_needs_total_length():
    x = nx.named(jnp.arange(3), "b")
    f = jax.jit(lambda r: nx.repeat(x, r, "b", total_repeat_length=5))
    out = f(jnp.array([2, 0, 3]))
    assert out.axes == (nx.Axis("b", 5),)
    np.testing.assert_array_equal(out.array, [0, 0, 2, 2, 2])


def test_repeat_errors():
    x = nx.named(jnp.zeros((2, 3)), (A, B))
    with pytest.raises(ValueError, match=r"repeat: no axis 'z' in \{a:2, b:3\}"):
        nx.repeat(x, 2, "z")
    with pytest.raises(ValueError, match=r"repeat: repeats \{a:2\} must be a scalar or hold only"):
        nx.repeat(x, nx.named(jnp.ones(2, int), "a"), "b")
    with pytest.raises(TypeError, match=r"repeat: a must be a NamedArray"):
        nx.repeat(jnp.zeros(3), 2, "b")  # type: ignore[arg-type]


def test_tile():
    x = sample((2, 3, 4), seed=6)
    for order in [ABC, (B, C, A)]:
        arr = in_order(nx.named(x, ABC), order)
        out = nx.tile(arr, {"c": 2, A: 3})
        assert out.shape == {a.name: a.size * {"a": 3, "c": 2}.get(a.name, 1) for a in order}
        assert_named_close(out, jnp.tile(x, (3, 1, 2)), "abc")
    assert nx.tile(arr, {}).axes == arr.axes


def test_tile_adds_new_axes_in_front_in_reps_order():
    x = sample((2, 3), seed=7)
    for order in [(A, B), (B, A)]:
        arr = in_order(nx.named(x, (A, B)), order)
        stored = np.asarray(arr.array)
        counts = {"a": 2, "b": 1}
        out = nx.tile(arr, {"z": 3, "a": 2, nx.Axis("y", 99): 1})  # a new Axis's size is ignored
        assert out.axes == (
            nx.Axis("z", 3),
            nx.Axis("y", 1),
            *(ax.resize(ax.size * counts[ax.name]) for ax in order),
        )
        reps = (3, 1, *(counts[ax.name] for ax in order))
        np.testing.assert_array_equal(np.asarray(out.array), np.tile(stored, reps))
    one = nx.named(jnp.array([1, 2, 3, 4]), "h")
    assert_named_close(nx.tile(one, {"h": 4, "w": 1}), jnp.tile(one.array, (1, 4)), ("w", "h"))
    tiled = jax.jit(lambda v: nx.tile(v, {"new": 2}))(one)
    assert tiled.axis_names == ("new", "h")


def test_tile_errors():
    x = nx.named(jnp.zeros((2, 3)), (A, B))
    with pytest.raises(ValueError, match=r"tile: duplicate axis names \['z'\]"):
        nx.tile(x, {"z": 2, nx.Axis("z", 2): 2})
    with pytest.raises(TypeError, match=r"tile: reps keys must be axis names or Axis objects"):
        nx.tile(x, {0: 2})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"tile: the count for axis 'z' must be >= 0"):
        nx.tile(x, {"z": -1})
    with pytest.raises(ValueError, match=r"tile: axis 'a' has size 2 .* a\(4\)"):
        nx.tile(x, {nx.Axis("a", 4): 2})
    with pytest.raises(ValueError, match=r"tile: the count for axis 'a' must be >= 0, got -1"):
        nx.tile(x, {"a": -1})
    with pytest.raises(TypeError, match=r"tile: the count for axis 'b' must be an int, got 2.0"):
        nx.tile(x, {"b": 2.0})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"tile: reps must be a dict \{axis: count\}, got tuple"):
        nx.tile(x, (2, 2))  # type: ignore[arg-type]
