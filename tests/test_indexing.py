"""Indexing by name against NumPy, on arrays stored in every axis order; `.at`, `take`,
`slice`, `updated_slice`; jit, grad, the lowering, and every error message."""

import builtins
import itertools

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from jax import lax

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 3), nx.Axis("b", 4), nx.Axis("c", 5)
K, M = nx.Axis("k", 2), nx.Axis("m", 3)
X = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
ORDERS = list(axis_orders((A, B, C)))


def x_in(order):
    return in_order(nx.named(jnp.asarray(X), (A, B, C)), order)


def reference(x: np.ndarray, axes, index: dict, out: nx.NamedArray) -> np.ndarray:
    """What `x[index]` must hold, element by element, laid out in `out`'s axis order.

    Every result position is a `{name: i}` dict; each axis of `x` maps it to a source
    position on its own, so this never relies on how NumPy orders advanced indices.
    """
    result = np.zeros(tuple(ax.size for ax in out.axes), dtype=x.dtype)
    index = {
        k: (v, np.asarray(v.array)) if isinstance(v, nx.NamedArray) else v for k, v in index.items()
    }
    for coords in itertools.product(*(range(ax.size) for ax in out.axes)):
        at = dict(zip(out.axis_names, coords))
        source = []
        for ax in axes:
            value = index.get(ax.name, builtins.slice(None))
            if isinstance(value, int):
                source.append(value % ax.size)
            elif isinstance(value, builtins.slice):
                source.append(range(*value.indices(ax.size))[at[ax.name]])
            elif isinstance(value, nx.dslice):
                start = min(max(int(value.start), 0), ax.size - value.size)
                source.append(start + at[ax.name])
            else:  # a NamedArray of ints, with its values
                named, values = value
                source.append(int(values[tuple(at[i] for i in named.axis_names)]))
        result[coords] = x[tuple(source)]
    return result


def check(out: nx.NamedArray, index: dict, expected_names: set[str]):
    assert set(out.axis_names) == expected_names
    assert out.array.shape == tuple(ax.size for ax in out.axes)
    np.testing.assert_array_equal(np.asarray(out.array), reference(X, (A, B, C), index, out))


# --- basic indexing ---------------------------------------------------------------------------

index_value = st.one_of(
    st.integers(-5, 4),
    st.builds(
        builtins.slice,
        st.none() | st.integers(-6, 6),
        st.none() | st.integers(-6, 6),
        st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]),
    ),
)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from("abc"), index_value, max_size=3), st.sampled_from(ORDERS))
def test_random_ints_and_slices_match_numpy(index, order):
    sizes = {"a": 3, "b": 4, "c": 5}
    index = {k: v for k, v in index.items() if not isinstance(v, int) or -sizes[k] <= v < sizes[k]}
    kept = {n for n in "abc" if not isinstance(index.get(n), int)}
    check(x_in(order)[index], index, kept)


BASIC = [
    {"a": 1},
    {"b": -1, "c": builtins.slice(1, None, 2)},
    {"a": builtins.slice(None, None, -1), "c": 4},
    {"a": 2, "b": builtins.slice(-3, -1), "c": builtins.slice(4, 0, -3)},
    {"a": 0, "b": 3, "c": -5},
]


@pytest.mark.parametrize("order", ORDERS)
def test_ints_and_slices_match_numpy_in_every_order(order):
    for index in BASIC:
        kept = {n for n in "abc" if not isinstance(index.get(n), int)}
        check(x_in(order)[index], index, kept)


def test_shorthand_equals_dict_form_and_accepts_axis_keys():
    x = x_in((B, A, C))
    by_dict = x[{"a": 1, "c": builtins.slice(1, 4)}]
    assert by_dict.axes == x["a", 1, "c", 1:4].axes == x[A, 1, "c", 1:4].axes
    np.testing.assert_array_equal(by_dict.array, x[A, 1, C, 1:4].array)
    np.testing.assert_array_equal(x["a", 2].array, X[2])


def test_indexing_every_axis_away_gives_a_0d_named_array():
    out = x_in((C, A, B))[{"a": 1, "b": -1, "c": 2}]
    assert isinstance(out, nx.NamedArray)
    assert out.axes == () and out.array.shape == ()
    assert out.item() == X[1, -1, 2]


def test_empty_index_and_whole_slices_return_the_array():
    x = x_in((A, B, C))
    assert x[{}] is x
    assert x["a", :, "c", :] is x


def test_numpy_and_0d_jax_ints():
    x = x_in((A, C, B))
    np.testing.assert_array_equal(x["b", np.int64(2)].array, x["b", 2].array)
    check(x["b", jnp.array(-1)], {"b": -1}, {"a", "c"})


# --- dynamic starts under jit ----------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS[:3])
def test_traced_ds_and_ints_under_jit(order):
    x = x_in(order)
    f = jax.jit(lambda x, i, j: x[{"b": nx.ds(i, 2), "c": j, "a": builtins.slice(0, 2)}])
    for i, j in [(0, 0), (2, -1), (1, 3)]:
        check(
            f(x, i, j),
            {"b": builtins.slice(i, i + 2), "c": j, "a": builtins.slice(0, 2)},
            {"a", "b"},
        )


def test_traced_ds_start_is_clamped_like_dynamic_slice():
    x = x_in((A, B, C))
    out = jax.jit(lambda x, i: x["c", nx.ds(i, 3)])(x, 4)
    np.testing.assert_array_equal(out.array, X[:, :, 2:5])
    out = jax.jit(lambda x, i: x["c", nx.ds(i, 3)])(x, -7)
    np.testing.assert_array_equal(out.array, X[:, :, 0:3])


def test_traced_ds_with_strided_slice_and_with_advanced_index():
    x = x_in((C, B, A))
    f = jax.jit(lambda x, i: x[{"c": nx.ds(i, 2), "b": builtins.slice(None, None, 2)}])
    check(f(x, 1), {"c": builtins.slice(1, 3), "b": builtins.slice(None, None, 2)}, {"a", "b", "c"})
    idx = nx.named(jnp.array([2, 0]), K)
    g = jax.jit(lambda x, i: x[{"c": nx.ds(i, 3), "a": idx}])
    check(g(x, 1), {"c": builtins.slice(1, 4), "a": idx}, {"k", "b", "c"})


def test_ds_block_and_static_ds():
    assert repr(nx.ds.block(2, 3)) == "dslice(6, 3)"
    blocks = jax.jit(lambda x, i: x["b", nx.dblock(i, 2)])
    np.testing.assert_array_equal(blocks(x_in((A, B, C)), 1).array, X[:, 2:4])
    assert nx.ds(1, 2).to_slice() == builtins.slice(1, 3)
    x = x_in((B, C, A))
    check(x["c", nx.ds(2, 3)], {"c": builtins.slice(2, 5)}, {"a", "b", "c"})


# --- advanced indices --------------------------------------------------------------------------

I_K = nx.named(jnp.array([2, 0]), K)  # indexes a (size 3)
I_KM = nx.named(jnp.array([[3, 0, 1], [1, 1, 4]]), (K, M))  # indexes c (size 5)
I_M = nx.named(jnp.array([3, 0, 1]), M)  # indexes b (size 4)

ADVANCED = {
    "one": ({"a": I_K}, {"k", "b", "c"}),
    "one_with_int": ({"a": I_K, "c": -2}, {"k", "b"}),
    "one_with_slice": ({"c": I_KM, "b": builtins.slice(3, 0, -2)}, {"a", "b", "k", "m"}),
    "shared_axis": ({"a": I_K, "c": I_KM}, {"k", "m", "b"}),
    "disjoint_axes": ({"a": I_K, "b": I_M}, {"k", "m", "c"}),
    "three": ({"a": I_K, "b": I_M, "c": I_KM}, {"k", "m"}),
    "reuses_eliminated_name": (
        {"b": nx.named(jnp.array([0, 3]), "a"), "a": I_K.rename({"k": "a"})},
        {"a", "c"},
    ),
}


@pytest.mark.parametrize("case", sorted(ADVANCED))
def test_advanced_indices_in_every_order(case):
    index, names = ADVANCED[case]
    f = jax.jit(lambda x: x[index])  # one compile per layout instead of one per primitive
    for order in ORDERS:
        check(f(x_in(order)), index, names)


def test_single_advanced_index_is_spliced_in_place():
    out = x_in((A, B, C))["b", I_KM]
    assert out.axis_names == ("a", "k", "m", "c")


def test_index_axis_named_like_a_kept_axis_selects_elementwise():
    labels = nx.named(jnp.array([4, 0, 2]), A)  # one c per a: take_along_axis
    for order in ORDERS:
        out = x_in(order)[{"c": labels}]
        assert set(out.axis_names) == {"a", "b"}
        want = np.take_along_axis(X, np.array([4, 0, 2])[:, None, None], axis=2)[..., 0]
        assert_named_close(out, want, ("a", "b"))
    sliced = x_in((C, A, B))[
        {"c": nx.named(jnp.array([1, 3]), nx.Axis("a", 2)), "a": builtins.slice(1, 3)}
    ]
    assert_named_close(sliced, X[[1, 2], :, [1, 3]], ("a", "b"))


def test_plain_lists_and_1d_arrays_are_named_after_the_indexed_axis():
    x = x_in((C, A, B))
    for idx in ([3, 1], np.array([3, 1]), jnp.array([3, 1])):
        out = x["b", idx]
        assert out.shape == {"c": 5, "a": 3, "b": 2}
        assert_named_close(out, X[:, [3, 1]], ("a", "b", "c"))
    assert x["b", []].shape["b"] == 0


def test_advanced_index_traced_under_jit():
    f = jax.jit(lambda x, i: x[{"c": i}])
    for order in ORDERS[:2]:
        check(f(x_in(order), I_KM), {"c": I_KM}, {"a", "b", "k", "m"})


# --- where advanced indices put their axes ------------------------------------------------------

H4, W4, D4, C4 = nx.Axis("h", 3), nx.Axis("w", 4), nx.Axis("d", 5), nx.Axis("c", 2)
X4 = np.arange(120, dtype=np.float32).reshape(3, 4, 5, 2)
BIG = nx.named(jnp.array([[0, 3], [1, 2], [3, 3]]), ("p", "q"))  # {p:3, q:2}, 6 elements
SMALL = nx.named(jnp.array([[1, 0], [2, 4]]), ("r", "q"))  # {r:2, q:2}, 4 elements
BROADCAST = ("r", "p", "q")  # the larger index keeps its order; the smaller adds r in front


def positional_reference(stored: nx.NamedArray, index: dict[str, nx.NamedArray]):
    """`stored[index]` by jnp indexing on positions, and the axis names NumPy's rule gives."""
    common = (nx.Axis("r", 2), nx.Axis("p", 3), nx.Axis("q", 2))
    key, advanced = [], []
    for p, ax in enumerate(stored.axes):
        if ax.name in index:
            key.append(nx.broadcast_to(index[ax.name], common).array)
            advanced.append(p)
        else:
            key.append(builtins.slice(None))
    kept = [ax.name for ax in stored.axes if ax.name not in index]
    if advanced[-1] - advanced[0] + 1 == len(advanced):
        before = [ax.name for ax in stored.axes[: advanced[0]]]
        names = (*before, *BROADCAST, *kept[len(before) :])
    else:
        names = (*BROADCAST, *kept)
    return stored.array[tuple(key)], names


@pytest.mark.parametrize("keys", [("w", "d"), ("d", "w"), ("w", "c"), ("h", "c")])
def test_advanced_axes_follow_numpy_placement_and_haliax_broadcast_order(keys):
    for order in list(axis_orders((H4, W4, D4, C4)))[::5]:
        stored = in_order(nx.named(jnp.asarray(X4), (H4, W4, D4, C4)), order)
        sizes = stored.shape
        # SMALL's values fit every axis here except c (size 2); clip to each axis's size
        index = {keys[0]: SMALL % sizes[keys[0]], keys[1]: BIG % sizes[keys[1]]}
        want, names = positional_reference(stored, index)
        got = stored[index]
        assert got.axis_names == names
        np.testing.assert_array_equal(np.asarray(got.array), np.asarray(want))


def test_index_broadcast_order_does_not_depend_on_dict_order():
    x = nx.named(jnp.asarray(X4), (H4, W4, D4, C4))
    first = x[{"w": SMALL, "d": BIG}]
    second = x[{"d": BIG, "w": SMALL}]
    assert first.axis_names == second.axis_names == ("h", *BROADCAST, "c")
    np.testing.assert_array_equal(first.array, second.array)


# --- take's layout -----------------------------------------------------------------------------

BATCH, EMBED, BLOCK = nx.Axis("batch", 3), nx.Axis("embed", 4), nx.Axis("block", 2)
LOGITS = np.arange(24, dtype=np.float32).reshape(3, 4, 2) * 0.5
LABELS = np.array([[3, 0], [1, 2], [2, 2]])  # {batch, block} -> an embed position


def logits_in(order):
    return in_order(nx.named(jnp.asarray(LOGITS), (BATCH, EMBED, BLOCK)), order)


def labels_in(order):
    return in_order(nx.named(jnp.asarray(LABELS), (BATCH, BLOCK)), order)


@pytest.mark.parametrize("order", list(axis_orders((BATCH, EMBED, BLOCK))))
def test_take_with_shared_axes_keeps_the_array_order(order):
    want = np.take_along_axis(LOGITS, LABELS[:, None, :], axis=1)[:, 0, :]
    remaining = tuple(ax.name for ax in order if ax.name != "embed")
    for labels_order in [(BATCH, BLOCK), (BLOCK, BATCH)]:
        got = nx.take(logits_in(order), "embed", labels_in(labels_order))
        assert got.axis_names == remaining
        assert_named_close(got, want, ("batch", "block"))


@pytest.mark.parametrize("order", list(axis_orders((BATCH, EMBED, BLOCK)))[::2])
def test_take_puts_the_index_new_axes_first_in_its_order(order):
    k = nx.named(jnp.asarray(np.stack([LABELS, 3 - LABELS])), ("k", "batch", "block"))
    want = np.stack(
        [
            np.take_along_axis(LOGITS, lab[:, None, :], axis=1)[:, 0, :]
            for lab in (LABELS, 3 - LABELS)
        ]
    )
    remaining = tuple(ax.name for ax in order if ax.name != "embed")
    for k_order in [("k", "batch", "block"), ("block", "k", "batch")]:
        got = logits_in(order).take("embed", k.rearrange(k_order))
        assert got.axis_names == ("k", *remaining)
        assert_named_close(got, want, ("k", "batch", "block"))
    # an index axis named like the taken axis is new too (top_k's indices)
    top = nx.named(jnp.asarray(np.stack([LABELS, 3 - LABELS])), ("embed", "batch", "block"))
    got = logits_in(order).take("embed", top.rearrange(("batch", "embed", "block")))
    assert got.axis_names == ("embed", *remaining)
    assert_named_close(got, want, ("embed", "batch", "block"))


def test_take_with_a_disjoint_index_splices_it_in_place():
    for order in ORDERS:
        got = x_in(order).take("c", I_KM)
        want = [n for ax in order for n in (("k", "m") if ax.name == "c" else (ax.name,))]
        assert got.axis_names == tuple(want)
        check(got, {"c": I_KM}, {"a", "b", "k", "m"})


def test_take_values_of_top_k_indices_are_the_top_k_values():
    x = nx.named(jax.random.uniform(jax.random.key(1), (3, 4, 5)), ("h", "w", "d"))
    for axis in x.axis_names:
        values, indices = nx.top_k(x, axis, 2)
        taken = x.take(axis, indices)
        assert taken.axis_names == (axis, *(n for n in x.axis_names if n != axis))
        assert_named_close(taken, values.rearrange(taken.axis_names).array)


def test_take_under_jit_and_grad_matches_take_along_axis():
    weights = jnp.asarray(np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(3, 2))

    def positional(logits):
        picked = jnp.take_along_axis(logits, jnp.asarray(LABELS)[:, None, :], axis=1)[:, 0, :]
        return (picked * weights).sum()

    want = jax.grad(positional)(jnp.asarray(LOGITS))
    w = nx.named(weights, (BATCH, BLOCK))

    @jax.jit
    def named(logits, labels):
        return (nx.take(logits, "embed", labels) * w).sum().array

    for order in list(axis_orders((BATCH, EMBED, BLOCK)))[::2]:
        for labels_order in [(BATCH, BLOCK), (BLOCK, BATCH)]:
            x, labels = logits_in(order), labels_in(labels_order)
            np.testing.assert_allclose(named(x, labels), positional(jnp.asarray(LOGITS)))
            assert_named_close(jax.grad(named)(x, labels), want, ("batch", "embed", "block"))


# --- plain index arrays --------------------------------------------------------------------------


def test_plain_1d_array_matching_a_kept_axis_is_refused_with_the_fix():
    x = nx.named(jnp.arange(15).reshape(3, 5), ("batch", "vocab"))
    idx = jnp.array([0, 2, 4])
    fix = r"namedax.named\(index, 'batch'\) picks one 'vocab' entry per 'batch'"
    message = (
        r"the index for axis 'vocab' is a plain ArrayImpl of shape \(3,\) without axis names, "
        r"and the array \{batch:3, vocab:5\} keeps axis 'batch' of the same size 3.*" + fix
    )
    with pytest.raises(ValueError, match="index: " + message):
        x["vocab", idx]
    with pytest.raises(ValueError, match="take: " + message):
        nx.take(x, "vocab", idx)
    with pytest.raises(ValueError, match=r"at: the index for axis 'vocab' is a plain ndarray"):
        x.at["vocab", np.array([0, 2, 4])].set(0)
    with pytest.raises(ValueError, match="keeps axis 'batch'"):
        x[{"vocab": idx, "batch": builtins.slice(0, 3)}]
    # the fixes the message names
    picked = x["vocab", nx.named(idx, "batch")]
    assert picked.axis_names == ("batch",)
    np.testing.assert_array_equal(picked.array, x.array[jnp.arange(3), idx])
    assert x["vocab", nx.named(idx, "vocab")].shape == {"batch": 3, "vocab": 3}


def test_plain_1d_array_without_a_same_sized_kept_axis_is_named_after_its_axis():
    x = nx.named(jnp.arange(15).reshape(3, 5), ("batch", "vocab"))
    idx = jnp.array([0, 2, 4])
    out = x[{"batch": 1, "vocab": idx}]  # batch is indexed away, nothing to pair with
    assert out.axis_names == ("vocab",)
    np.testing.assert_array_equal(out.array, x.array[1, idx])
    out = x["vocab", jnp.array([4, 1])]
    assert out.shape == {"batch": 3, "vocab": 2}
    # a list is named after its axis whatever the sizes (as Haliax hands lists to jax as is)
    assert x["vocab", [0, 2, 4]].shape == {"batch": 3, "vocab": 3}


# --- gradients and lowering ----------------------------------------------------------------------


def test_gradients_through_indexing_match_positional():
    w = jax.random.normal(jax.random.key(0), (2, 4, 3))

    def named_loss(x):
        y = x[{"a": I_K, "c": nx.ds(1, 3)}]  # {k, b, c(3)}
        return (y.rearrange(("k", "b", "c")).array * w).sum()

    def positional_loss(x):
        return (x[jnp.array([2, 0]), :, 1:4] * w).sum()

    want = jax.grad(positional_loss)(jnp.asarray(X))
    named_grad = jax.jit(jax.grad(named_loss))
    for order in ORDERS:
        got = named_grad(x_in(order))
        assert_named_close(got, want, ("a", "b", "c"))


def primitives(fn, *args):
    return [eqn.primitive.name for eqn in jax.make_jaxpr(fn)(*args).eqns]


def test_each_index_lowers_to_one_positional_op():
    x = x_in((A, B, C))
    static = primitives(lambda x: x[{"a": 1, "c": builtins.slice(0, 5, 2)}], x)
    assert static == ["slice", "squeeze"]
    dynamic = primitives(lambda x, i: x[{"b": nx.ds(i, 2), "a": 0}], x, 1)
    assert dynamic.count("dynamic_slice") == 1 and "gather" not in dynamic
    gather = primitives(lambda x: x[{"a": I_K, "c": I_KM, "b": 1}], x)
    assert gather.count("gather") == 1
    assert not {"slice", "dynamic_slice", "transpose"} & set(gather)


# --- .at ----------------------------------------------------------------------------------------

UPDATE_METHODS = ["set", "add", "subtract", "multiply", "mul", "divide", "power", "min", "max"]


@pytest.mark.parametrize("method", UPDATE_METHODS)
def test_at_updates_match_jax_at_in_every_order(method):
    values = np.arange(1, 10, dtype=np.float32).reshape(3, 3) / 4  # (a, c[1:4])
    want = getattr(jnp.asarray(X).at[:, 2, 1:4], method)(values)
    update = jax.jit(lambda x, v: getattr(x.at[{"b": 2, "c": builtins.slice(1, 4)}], method)(v))
    for order in ORDERS:
        for v_order in [(A, C.resize(3)), (C.resize(3), A)]:
            v = in_order(nx.named(jnp.asarray(values), (A, C.resize(3))), v_order)
            got = update(x_in(order), v)
            assert got.axes == x_in(order).axes
            assert_named_close(got, want, ("a", "b", "c"))


def test_at_broadcasts_a_subset_of_region_axes_and_scalars():
    row = nx.named(jnp.array([1.0, 2.0, 3.0]), "a")
    got = x_in((C, B, A)).at["b", 1].set(row)
    want = jnp.asarray(X).at[:, 1, :].set(jnp.array([1.0, 2.0, 3.0])[:, None])
    assert_named_close(got, want, ("a", "b", "c"))
    assert_named_close(
        x_in((B, A, C)).at["c", -1].add(1.0), jnp.asarray(X).at[..., -1].add(1.0), "abc"
    )


def test_at_with_advanced_index_get_apply_and_keywords():
    idx = nx.named(jnp.array([1, 1, 3]), M)
    for order in ORDERS[:3]:
        x = x_in(order)
        got = x.at["b", idx].add(nx.named(jnp.ones(3), M))  # repeated indices accumulate
        assert_named_close(got, jnp.asarray(X).at[:, jnp.array([1, 1, 3])].add(1.0), "abc")
        assert_named_close(
            x.at["c", 2].apply(jnp.sin), jnp.asarray(X).at[:, :, 2].apply(jnp.sin), "abc"
        )
        check(x.at["b", idx].get(), {"b": idx}, {"a", "m", "c"})
    far = nx.named(jnp.array([0, 9]), K)
    out = x_in((A, B, C)).at["b", far].get(mode="fill", fill_value=-1.0)
    assert_named_close(
        out, np.where(np.array([0, 9])[None, :, None] < 4, X[:, [0, 3]], -1.0), ("a", "k", "c")
    )


def test_at_with_traced_ds_under_jit():
    f = jax.jit(lambda x, i: x.at["c", nx.ds(i, 2)].set(0.0))
    got = f(x_in((C, A, B)), 2)
    assert_named_close(got, jnp.asarray(X).at[:, :, 2:4].set(0.0), "abc")


def test_gradient_through_at_set():
    x = x_in((B, C, A))
    v = nx.named(jnp.ones(3), A)
    grad = jax.grad(lambda v: (x.at["b", 0, "c", 0].set(v) ** 2).sum().array)(v)
    np.testing.assert_allclose(grad.array, 2.0)


# --- take, slice, updated_slice ------------------------------------------------------------------


def test_take_int_and_named_index():
    for order in ORDERS:
        x = x_in(order)
        check(nx.take(x, "b", 3), {"b": 3}, {"a", "c"})
        check(x.take(C, I_KM), {"c": I_KM}, {"a", "b", "k", "m"})
        assert_named_close(
            x.take("c", nx.named(jnp.array([4, 0, 2]), A)),
            np.take_along_axis(X, np.array([4, 0, 2])[:, None, None], axis=2)[..., 0],
            ("a", "b"),
        )


@pytest.mark.parametrize("order", ORDERS)
def test_slice_single_axis_forms(order):
    x = x_in(order)
    check(nx.slice(x, "c", start=1, length=3), {"c": builtins.slice(1, 4)}, {"a", "b", "c"})
    check(x.slice("b", start=1), {"b": builtins.slice(1, 4)}, {"a", "b", "c"})
    renamed = x.slice("c", nx.Axis("w", 2), start=3)
    assert renamed.shape["w"] == 2 and "c" not in renamed.shape
    assert_named_close(renamed.rename({"w": "c"}), X[:, :, 3:5], "abc")
    named_only = nx.slice(x, "c", "w", start=0, length=4)
    assert named_only.shape["w"] == 4
    traced = jax.jit(lambda x, i: nx.slice(x, "c", start=i, length=2))(x, 2)
    assert_named_close(traced, X[:, :, 2:4], "abc")


@pytest.mark.parametrize("order", ORDERS[:3])
def test_slice_dict_form(order):
    x = x_in(order)
    out = nx.slice(x, start={"a": 1, "c": 2}, length={"c": 2, "b": 3})
    assert_named_close(out, X[1:, :3, 2:4], "abc")
    assert_named_close(nx.slice(x, {"b": 1}, {"b": 2}), X[:, 1:3], "abc")
    f = jax.jit(lambda x, i: x.slice(start={"a": i, "b": 0}, length={"a": 2, "b": 2}))
    assert_named_close(f(x, 1), X[1:3, 0:2], "abc")
    jaxpr_ops = primitives(
        lambda x, i: nx.slice(x, start={"a": i, "c": 1}, length={"a": 1, "c": 3}), x, 0
    )
    assert jaxpr_ops.count("dynamic_slice") == 1


@pytest.mark.parametrize("order", ORDERS[:3])
def test_updated_slice_matches_dynamic_update_slice(order):
    x = x_in(order)
    upd = np.full((2, 4, 3), -1.0, np.float32)
    want = lax.dynamic_update_slice(jnp.asarray(X), upd, (1, 0, 2))
    for u_order in [(A.resize(2), B, C.resize(3)), (C.resize(3), A.resize(2), B)]:
        u = in_order(nx.named(jnp.asarray(upd), (A.resize(2), B, C.resize(3))), u_order)
        got = nx.updated_slice(x, {"a": 1, "c": 2}, u)
        assert got.axes == x.axes
        assert_named_close(got, want, "abc")
        traced = jax.jit(lambda x, i, u: x.updated_slice({"a": i, "c": 2}, u))(x, 1, u)
        assert_named_close(traced, want, "abc")


def test_updated_slice_missing_axes_broadcast_or_write_one_position():
    x = x_in((B, C, A))
    row = nx.named(jnp.arange(5.0), C)
    assert_named_close(
        nx.updated_slice(x, {"b": 2}, row), jnp.asarray(X).at[:, 2, :].set(jnp.arange(5.0)), "abc"
    )
    assert_named_close(
        nx.updated_slice(x, {}, row), jnp.broadcast_to(jnp.arange(5.0), X.shape), "abc"
    )
    ints = nx.named(jnp.arange(5), C)  # cast to the array's dtype, like .at[].set
    assert nx.updated_slice(x, {"b": 0, "a": 0}, ints).dtype == x.dtype


# --- errors -----------------------------------------------------------------------------------

x0 = x_in((A, B, C))


@pytest.mark.parametrize(
    ("key", "error", "match"),
    [
        (
            0,
            TypeError,
            r"index: a NamedArray\{a:3, b:4, c:5\} cannot be indexed by position .*x\[\{'a': 0\}\]",
        ),
        ((builtins.slice(None), 1), TypeError, "cannot be indexed by position"),
        (Ellipsis, TypeError, "cannot be indexed by position"),
        ("a", TypeError, r"axis 'a' is named without an index. Write x\['a', i\]"),
        (("a", 1, "b"), TypeError, "must alternate axis names and indices"),
        (("a", 1, "a", 2), ValueError, "axis 'a' is indexed twice"),
        ({"a": 0, A: 1}, ValueError, "axis 'a' is indexed twice"),
        ({"z": 0}, ValueError, r"index: no axis 'z' in \{a:3, b:4, c:5\}"),
        ({nx.Axis("b", 9): 0}, ValueError, r"axis 'b' has size 4 .* selected as b\(9\)"),
        (
            {"b": 4},
            ValueError,
            r"index 4 is out of range for axis 'b' of size 4 \(array \{a:3, b:4, c:5\}\). Valid indices are -4 to 3",
        ),
        ({"b": -5}, ValueError, "out of range"),
        ({"b": 1.0}, TypeError, "cannot index axis 'b' with float"),
        ({"b": True}, TypeError, "cannot index axis 'b' with bool"),
        ({0: 1}, TypeError, "index keys must be axis names or Axis objects"),
        ({"b": builtins.slice(0, 2, 0)}, ValueError, "has step 0"),
        ({"b": nx.ds(0, 5)}, ValueError, r"dslice\(0, 5\) is larger than axis 'b' of size 4"),
        (
            {"b": nx.ds(3, 2)},
            ValueError,
            r"dslice\(3, 2\) does not fit in axis 'b' of size 4 .* 0 to 2",
        ),
        (
            {"b": nx.named(jnp.array([True, False]), "k")},
            TypeError,
            "must be integer. Boolean masks are not supported; use namedax.where",
        ),
        (
            {"b": jnp.zeros((2, 2), int)},
            TypeError,
            r"plain ArrayImpl of shape \(2, 2\).*namedax.named",
        ),
        (
            {"b": nx.named(jnp.array([0, 1]), nx.Axis("a", 2))},
            ValueError,
            "axis 'a' has size 3 in the kept axis 'a'.* size 2 in the index for 'b'",
        ),
        (
            {"a": I_K, "b": nx.named(jnp.zeros(3, int), nx.Axis("k", 3))},
            ValueError,
            r"axis 'k' has size 2 in the index for 'a' \{k:2\} but size 3",
        ),
    ],
)
def test_index_errors(key, error, match):
    with pytest.raises(error, match=match):
        x0[key]


def test_traced_slice_bound_error_points_at_ds():
    with pytest.raises(TypeError, match=r"non-static bound .* namedax.ds\(start, size\)"):
        jax.jit(lambda x, i: x["b", i:])(x0, 1)


def test_dslice_construction_errors():
    with pytest.raises(TypeError, match="size must be a static int"):
        jax.jit(lambda n: nx.ds(0, n))(2)
    with pytest.raises(ValueError, match="size must be >= 0"):
        nx.ds(0, -1)
    with pytest.raises(TypeError, match="start must be an int"):
        nx.ds(0.5, 2)
    with pytest.raises(TypeError, match="the start is not static"):
        jax.jit(lambda i: nx.ds(i, 2).to_slice())(1)


def test_at_errors():
    with pytest.raises(
        ValueError,
        match=r"at\[...\].set: the update \{d:2\} has axis 'd' that the region lacks; the indexed region is \{a:3, c:5\}",
    ):
        x0.at["b", 0].set(nx.named(jnp.ones(2), "d"))
    with pytest.raises(ValueError, match=r"has size 4 on axis 'c' where the region has 5"):
        x0.at["b", 0].add(nx.named(jnp.ones(4), "c"))
    with pytest.raises(
        TypeError, match=r"at\[...\].set: the update is a plain ArrayImpl of shape \(3,\).*named"
    ):
        x0.at["b", 0].set(jnp.ones(3))
    with pytest.raises(
        TypeError, match=r"at: a NamedArray\{a:3, b:4, c:5\} cannot be indexed by position"
    ):
        x0.at[0]


def test_take_slice_and_updated_slice_errors():
    with pytest.raises(ValueError, match=r"take: no axis 'z'"):
        nx.take(x0, "z", 0)
    with pytest.raises(
        TypeError, match=r"take: the index must be an int or a NamedArray.*namedax.slice"
    ):
        nx.take(x0, "a", builtins.slice(0, 2))
    with pytest.raises(TypeError, match="take: expected a NamedArray"):
        nx.take(X, "a", 0)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"slice: a window of length 3 at start 3 does not fit in axis 'c' of size 5 .* 0 to 2",
    ):
        nx.slice(x0, "c", start=3, length=3)
    with pytest.raises(ValueError, match=r"slice: length 6 does not fit in axis 'c' of size 5"):
        nx.slice(x0, "c", length=6)
    with pytest.raises(
        TypeError, match="is traced, so the length cannot be inferred; pass length="
    ):
        jax.jit(lambda x, i: nx.slice(x, "c", start=i))(x0, 1)
    with pytest.raises(TypeError, match="length for axis 'c' must be a static int"):
        jax.jit(lambda x, n: nx.slice(x, "c", length=n))(x0, 1)
    with pytest.raises(ValueError, match=r"slice: duplicate axis names \['a'\]"):
        nx.slice(x0, "c", "a", length=2)
    with pytest.raises(ValueError, match=r"length=2 disagrees with new_axis=w\(3\)"):
        nx.slice(x0, "c", nx.Axis("w", 3), length=2)
    with pytest.raises(TypeError, match="slice: give the axis to slice"):
        nx.slice(x0)
    with pytest.raises(TypeError, match="lengths must be a \\{axis: length\\} dict"):
        nx.slice(x0, {"a": 0}, 2)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError,
        match=r"updated_slice: the update \{d:2\} has axes \{d:2\} that are not in the "
        r"original array with shape \{a:3, b:4, c:5\}",
    ):
        nx.updated_slice(x0, {}, nx.named(jnp.ones(2), "d"))
    with pytest.raises(
        ValueError, match=r"updated_slice: a window of length 3 at start 3 does not fit in axis 'c'"
    ):
        nx.updated_slice(x0, {"c": 3}, nx.named(jnp.ones(3), "c"))
    with pytest.raises(TypeError, match="updated_slice: the update must be a NamedArray"):
        nx.updated_slice(x0, {"c": 0}, 1.0)  # type: ignore[arg-type]
