"""Every reduction and axis-wise function against jax.numpy, on inputs in every axis order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax.ops._reductions import AXISWISE, REDUCTIONS
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
ABC = (A, B, C)
# Equal sizes let every axis order share jax.numpy's compilations (the suite stays fast);
# values are random, so reducing the wrong axis still fails.
CUBE = (3, 3, 3)
CUBE_AXES = tuple(nx.Axis(n, 3) for n in ("a", "b", "c"))
NAMES = ("a", "b", "c")

MULTI = sorted(n for n, e in REDUCTIONS.items() if not e.one_axis)
ONE = sorted(n for n, e in REDUCTIONS.items() if e.one_axis)
WITH_WHERE = sorted(n for n, e in REDUCTIONS.items() if "where" in e.keywords)
NO_IDENTITY = {"max", "amax", "min", "amin", "nanmax", "nanmin"}  # need `initial` with where=

# Each selection as the user writes it, and the canonical positions (in a, b, c) it means.
SELECTIONS = [
    ("b", 1),
    (CUBE_AXES[1], 1),
    (("c", "a"), (0, 2)),
    ([CUBE_AXES[2], "b"], (1, 2)),
    ({"a": 3, "b": 3}, (0, 1)),
    ((), ()),
    (None, None),
]


def sample(domain: str, shape=(2, 3, 4), seed: int = 0) -> jax.Array:
    key = jax.random.key(seed)
    if domain == "bool":
        return jax.random.bernoulli(key, 0.5, shape)
    x = jax.random.normal(key, shape)
    if domain == "nan":
        x = jnp.where(jax.random.bernoulli(jax.random.key(seed + 1), 0.25, shape), jnp.nan, x)
    return x


def remaining(positions) -> tuple[str, ...]:
    if positions is None:
        return ()
    dropped = {positions} if isinstance(positions, int) else set(positions)
    return tuple(n for i, n in enumerate(NAMES) if i not in dropped)


def close(got, want, names):
    assert_named_close(got, want, names, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MULTI)
def test_reduction_matches_jnp_in_every_axis_order(name):
    entry = REDUCTIONS[name]
    x = sample(entry.domain, CUBE)
    for selection, positions in SELECTIONS:
        want = entry.reference(x, positions)
        keep = remaining(positions)
        for order in axis_orders(CUBE_AXES):
            got = entry.named(in_order(nx.named(x, CUBE_AXES), order), selection)
            assert got.axis_names == tuple(a.name for a in order if a.name in keep)
            assert got.dtype == want.dtype
            close(got, want, keep)


@pytest.mark.parametrize("name", ONE)
def test_arg_reduction_matches_jnp_in_every_axis_order(name):
    entry = REDUCTIONS[name]
    x = sample(entry.domain, CUBE)
    for position, ax in enumerate(CUBE_AXES):
        want = entry.reference(x, position)
        keep = remaining(position)
        for order in axis_orders(CUBE_AXES):
            arr = in_order(nx.named(x, CUBE_AXES), order)
            for selection in (ax.name, ax, (ax.name,)):
                got = entry.named(arr, selection)
                assert got.axis_names == tuple(a.name for a in order if a.name in keep)
                np.testing.assert_array_equal(in_order(got, keep).array, want)


@pytest.mark.parametrize("name", sorted(AXISWISE))
def test_axiswise_matches_jnp_in_every_axis_order(name):
    entry = AXISWISE[name]
    x = sample(entry.domain, CUBE, seed=3)
    for position, ax in enumerate(CUBE_AXES):
        want = entry.reference(x, position)
        for order in axis_orders(CUBE_AXES):
            arr = in_order(nx.named(x, CUBE_AXES), order)
            for selection in (ax.name, ax):
                got = entry.named(arr, selection)
                assert got.axes == arr.axes
                close(got, want, NAMES)


@pytest.mark.parametrize("name", WITH_WHERE)
def test_where_mask_is_broadcast_by_name(name):
    entry = REDUCTIONS[name]
    x = sample(entry.domain, CUBE, seed=5)
    mask_ca = jax.random.bernoulli(jax.random.key(6), 0.6, (3, 3))
    mask_ca = mask_ca.at[:, 0].set(True).at[0, :].set(True)  # no fully masked reduction
    positional_mask = jnp.transpose(mask_ca)[:, None, :]  # (a, 1, c)
    kwargs = {"initial": -1.0 if name.endswith("max") else 1.0} if name in NO_IDENTITY else {}
    mask = nx.named(mask_ca, ("c", "a"))
    for selection, positions in [("c", 2), (None, None)]:
        want = entry.reference(x, positions, where=positional_mask, **kwargs)
        for order in [("a", "b", "c"), ("b", "c", "a")]:
            arr = in_order(nx.named(x, CUBE_AXES), order)
            got = entry.named(arr, selection, where=mask, **kwargs)
            close(got, want, remaining(positions))


@pytest.mark.parametrize("name", ["std", "var", "nanstd", "nanvar"])
def test_ddof(name):
    entry = REDUCTIONS[name]
    x = sample(entry.domain, seed=7)
    got = entry.named(in_order(nx.named(x, ABC), (C, A, B)), ("c", "a"), ddof=1)
    close(got, entry.reference(x, (0, 2), ddof=1), ("b",))


def test_dtype_keyword():
    x = nx.named(jnp.arange(6, dtype=jnp.int32).reshape(2, 3), ("a", "b"))
    got = nx.sum(x, "b", dtype=jnp.float32)
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(got.array, [3.0, 12.0])
    assert nx.mean(x, dtype=jnp.float32).dtype == jnp.float32
    assert nx.cumsum(x, "a", dtype=jnp.float32).dtype == jnp.float32


def test_sort_descending_and_argsort():
    x = nx.named(jnp.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]]), ("a", "b"))
    xt = in_order(x, ("b", "a"))
    assert_named_close(nx.sort(xt, "b", descending=True), [[3, 2, 1], [5, 4, 0]], ("a", "b"))
    np.testing.assert_array_equal(
        in_order(xt.argsort("b"), ("a", "b")).array, [[1, 2, 0], [0, 2, 1]]
    )


def test_full_reduction_is_zero_dimensional():
    x = nx.named(jnp.arange(6.0).reshape(2, 3), ("a", "b"))
    total = x.sum()
    assert total.axes == ()
    assert total.scalar() == 15.0
    assert nx.argmax(nx.named(jnp.array([1, 7, 3]), "a")).scalar() == 1
    assert nx.argmax(nx.named(jnp.array(4.0), ())).axes == ()


def test_methods_are_the_free_functions():
    for name in ["all", "any", "argmax", "argmin", "argsort", "cumprod", "cumsum", "max", "mean",
                 "min", "prod", "product", "ptp", "sort", "std", "sum", "var"]:  # fmt: skip
        assert getattr(nx.NamedArray, name) is getattr(nx, name)
        assert getattr(nx, name) is (REDUCTIONS.get(name) or AXISWISE[name]).named


def test_signatures_are_documented():
    import inspect

    assert str(inspect.signature(nx.sum)) == (
        "(array: 'NamedArray', axis: 'AxisSelection | None' = None, *, "
        "where: 'NamedArray | bool | None' = None, dtype: 'DTypeLike | None' = None, "
        "initial: 'ArrayLike | None' = None) -> 'NamedArray'"
    )
    assert "ddof: 'int' = 0" in str(inspect.signature(nx.std))
    assert str(inspect.signature(nx.cumsum)).startswith("(array: 'NamedArray', axis: 'AxisSel")
    for entry in [*REDUCTIONS.values(), *AXISWISE.values()]:
        assert (entry.named.__doc__ or "").startswith("Named version of `jax.numpy.")


@pytest.mark.parametrize("name", ["sum", "mean", "max", "std"])
def test_gradients_match_jnp(name):
    entry = REDUCTIONS[name]
    x = sample("real", seed=9)

    def named_fn(a):
        y = in_order(nx.named(a, ABC), (C, A, B))
        return (entry.named(y, ("b", "c")) ** 2).sum().scalar()

    def ref_fn(a):
        return (entry.reference(a, (1, 2)) ** 2).sum()

    np.testing.assert_allclose(jax.grad(named_fn)(x), jax.grad(ref_fn)(x), rtol=1e-5, atol=1e-6)


def test_gradient_of_a_composite():
    x = sample("real", seed=9)

    def named_fn(a):
        y = nx.named(a, ABC)
        return (nx.exp(y - y.max("c")).sum("c") * y.mean("c")).sum().scalar()

    def ref_fn(a):
        return (jnp.exp(a - a.max(2, keepdims=True)).sum(2) * a.mean(2)).sum()

    np.testing.assert_allclose(jax.grad(named_fn)(x), jax.grad(ref_fn)(x), rtol=1e-5, atol=1e-6)


def test_jit():
    x = in_order(nx.named(sample("real", seed=11), ABC), (B, C, A))

    @jax.jit
    def f(y):
        return y.sum("c", where=y > 0), y.argmin("b"), nx.cumsum(y, C), y.std()

    total, idx, cum, std = f(x)
    assert total.axis_names == ("b", "a") and idx.axis_names == ("c", "a")
    assert cum.axes == x.axes and std.axes == ()
    close(total, jnp.sum(x.array, 1, where=x.array > 0), ("b", "a"))
    np.testing.assert_array_equal(idx.array, jnp.argmin(x.array, 0))
    np.testing.assert_allclose(std.array, jnp.std(x.array), rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    order=st.permutations(NAMES),
    chosen=st.lists(st.sampled_from(NAMES), unique=True, max_size=3),
    as_axis=st.booleans(),
)
def test_sum_of_any_subset_in_any_order(order, chosen, as_axis):
    x = sample("real", CUBE, seed=13)
    by_name = {a.name: a for a in CUBE_AXES}
    selection = tuple(by_name[n] if as_axis else n for n in chosen)
    got = nx.sum(in_order(nx.named(x, CUBE_AXES), order), selection)
    positions = tuple(sorted(NAMES.index(n) for n in chosen))
    assert got.axis_names == tuple(n for n in order if n not in chosen)
    close(got, jnp.sum(x, positions), remaining(positions))


# --- errors -----------------------------------------------------------------------------------

X = nx.named(jnp.zeros((2, 3)), ("a", "b"))


def test_missing_axis_names_the_array_axes():
    with pytest.raises(ValueError, match=r"sum: no axis 'z' in \{a:2, b:3\}\. Available axes"):
        X.sum("z")
    with pytest.raises(ValueError, match=r"mean: no axis 'z' in \{a:2, b:3\}"):
        nx.mean(X, ["a", "z"])
    with pytest.raises(ValueError, match=r"cumsum: no axis 'z'"):
        X.cumsum("z")


def test_axis_of_the_wrong_size_names_both_sizes():
    with pytest.raises(ValueError, match=r"max: axis 'b' has size 3 .* selected as b\(5\)"):
        X.max(nx.Axis("b", 5))
    with pytest.raises(ValueError, match=r"var: axis 'a' has size 2 .* selected as a\(7\)"):
        X.var({"a": 7})
    with pytest.raises(ValueError, match=r"sort: axis 'a' has size 2"):
        X.sort(nx.Axis("a", 3))


def test_axis_selected_twice():
    with pytest.raises(ValueError, match=r"sum: axis 'a' is selected more than once"):
        X.sum(("a", nx.Axis("a", 2)))


def test_positional_integer_axis_is_a_type_error():
    with pytest.raises(
        TypeError, match=r"^sum: axis must select axes by name, got int 0; .*\{a:2, b:3\}.*axis='a'"
    ):
        X.sum(0)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match=r"^sum: axis must select axes by name, got list \[0\]"):
        X.sum([0])  # pyright: ignore[reportArgumentType]  # the error is the point


def test_where_mask_errors():
    extra = nx.named(jnp.ones((2, 4), bool), ("a", "z"))
    with pytest.raises(ValueError, match=r"sum: the where= mask \{a:2, z:4\} has axes \{z:4\}"):
        X.sum("a", where=extra)
    resized = nx.named(jnp.ones(5, bool), "b")
    with pytest.raises(ValueError, match=r"sum: axis 'b' has size 3 in the array .* size 5"):
        X.sum(where=resized)
    with pytest.raises(TypeError, match=r"mean: where= is a plain ndarray of shape \(2, 3\)"):
        X.mean(where=np.ones((2, 3), bool))  # pyright: ignore[reportArgumentType]  # the error is the point


@pytest.mark.parametrize("mask_dtype", [jnp.float32, jnp.int32, jnp.bfloat16])
def test_where_numeric_mask_nonzero_is_true(mask_dtype):
    values = np.array([0.0, 1.0, 3.0, 2.0])
    mask = nx.named(jnp.asarray(values, mask_dtype), "b")
    x = nx.named(jnp.arange(8.0).reshape(2, 4), ("a", "b"))
    expected = jnp.sum(x.array, axis=1, where=values != 0)
    np.testing.assert_array_equal(x.sum("b", where=mask).array, expected)
    inverse = jnp.broadcast_to((1 - values) != 0, (2, 4))
    np.testing.assert_array_equal(
        nx.mean(x, where=1 - mask).array, jnp.mean(x.array, where=inverse)
    )


def test_where_scalar_mask():
    np.testing.assert_array_equal(X.sum("a", where=False).array, [0.0, 0.0, 0.0])


def test_unsupported_keyword():
    with pytest.raises(TypeError, match=r"sum: unexpected keyword argument\(s\) \['ddof'\]"):
        X.sum(ddof=1)  # pyright: ignore[reportCallIssue]  # the error is the point
    with pytest.raises(TypeError, match=r"ptp: unexpected keyword argument\(s\) \['where'\]"):
        X.ptp(where=X > 0)  # pyright: ignore[reportCallIssue]  # the error is the point
    with pytest.raises(TypeError, match=r"keepdims"):
        X.sum("a", keepdims=True)  # pyright: ignore[reportCallIssue]  # the error is the point


def test_plain_array_input_follows_jax_numpy():
    raw = jnp.arange(24.0).reshape(2, 3, 4)
    for name, entry in REDUCTIONS.items():
        axis = 1
        got = entry.named(raw, axis)
        np.testing.assert_array_equal(got, entry.reference(raw, axis), err_msg=name)
    assert bool(nx.all(raw >= 0)) and not bool(nx.any(raw < 0))  # pyright: ignore[reportArgumentType]
    np.testing.assert_array_equal(nx.sum(raw, (0, 2)), jnp.sum(raw, (0, 2)))  # pyright: ignore[reportArgumentType]
    np.testing.assert_array_equal(nx.sort(-raw, 2), jnp.sort(-raw, 2))  # pyright: ignore[reportArgumentType]
    assert nx.sum(3.0) == 3.0  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"sum: a plain ArrayImpl .* has no axis names"):
        nx.sum(raw, "a")  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match=r"sort: expected a NamedArray, got"):
        nx.sort("text", "a")  # pyright: ignore[reportArgumentType]  # the error is the point


@pytest.mark.parametrize("order", list(axis_orders(ABC)))
def test_arg_reductions_without_axis_give_the_flat_stored_index(order):
    x = in_order(nx.named(sample("real"), ABC), order)
    for name in ("argmax", "argmin", "nanargmax", "nanargmin"):
        out = getattr(nx, name)(x)
        assert out.axes == ()
        assert int(out.array) == int(getattr(jnp, name)(x.array)), name
    np.testing.assert_array_equal(nx.argsort(x, None), jnp.argsort(x.array, axis=None))


def test_argmax_takes_one_axis():
    with pytest.raises(ValueError, match=r"flatten_axes"):
        X.argmin(("a", "b"))  # pyright: ignore[reportArgumentType]  # the error is the point


def test_axiswise_requires_an_axis():
    with pytest.raises(TypeError, match=r"cumsum: pass the axis to work along"):
        nx.cumsum(X, None)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match=r"missing 1 required positional argument"):
        X.sort()  # pyright: ignore[reportCallIssue]  # the error is the point
    with pytest.raises(ValueError, match=r"argsort: takes exactly one axis, got 2"):
        X.argsort(("a", "b"))  # pyright: ignore[reportArgumentType]  # the error is the point
