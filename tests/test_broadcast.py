"""Broadcasting by name: result order, union broadcasting, explicit broadcast functions."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from tests.helpers import assert_named_close

SIZES = {"a": 2, "b": 3, "c": 4, "d": 5}
AXES = {name: nx.Axis(name, size) for name, size in SIZES.items()}


def positional(values: np.ndarray, axes: tuple[str, ...], target: tuple[str, ...]) -> np.ndarray:
    """Explicit positional alignment: transpose into `target` order and insert size-1 dims."""
    present = [n for n in target if n in axes]
    moved = np.transpose(values, [axes.index(n) for n in present])
    return moved.reshape([SIZES[n] if n in axes else 1 for n in target])


subsets = st.lists(st.sampled_from(sorted(SIZES)), unique=True, max_size=4)


@settings(max_examples=40, deadline=None)
@given(left=subsets, right=subsets, seed=st.integers(0, 2**16))
def test_binary_broadcasting_equals_explicit_positional_alignment(left, right, seed):
    rng = np.random.default_rng(seed)
    lv = rng.normal(size=[SIZES[n] for n in left]).astype(np.float32)
    rv = rng.normal(size=[SIZES[n] for n in right]).astype(np.float32)
    x = nx.named(jnp.asarray(lv), tuple(left))
    y = nx.named(jnp.asarray(rv), tuple(right))
    # the documented result order
    if set(right) <= set(left):
        expected_order = tuple(left)
    elif set(left) < set(right):
        expected_order = tuple(right)
    else:  # not nested: refused, as in Haliax; broadcast_arrays is the explicit spelling
        with pytest.raises(ValueError, match=r"subtract: cannot broadcast x1 .* with x2 "):
            x - y
        expected_order = tuple(left) + tuple(n for n in right if n not in left)
        x, y = nx.broadcast_arrays(x, y)
    out = x - y
    assert out.axis_names == expected_order
    ref = positional(lv, tuple(left), expected_order) - positional(rv, tuple(right), expected_order)
    assert_named_close(out, ref)


NOT_NESTED = (
    "add: cannot broadcast x1 {batch:2, embed:3} with x2 {batch:2, hidden:4}: neither holds all "
    "the other's axes (x1 alone has {embed:3}, x2 alone has {hidden:4}). Elementwise operations "
    "only add an operand's missing axes when the other has them all. If the outer combination "
    "is meant, say so: nx.broadcast_arrays(a, b) gives both the union of the axes, "
    "nx.broadcast_axis(a, b.axes) adds b's axes to a, and nx.nmap(f) maps f over the axes the "
    "operands do not share."
)


def test_not_nested_operands_are_an_error_naming_both_shapes_and_the_fixes():
    x = nx.named(jnp.ones((2, 3)), ("batch", "embed"))
    h = nx.named(jnp.ones((2, 4)), ("batch", "hidden"))
    with pytest.raises(ValueError) as info:
        x + h
    assert str(info.value) == NOT_NESTED
    with pytest.raises(
        ValueError, match=r"^where: cannot broadcast condition \{batch:2, embed:3\}"
    ):
        nx.where(x > 0, h, 0.0)
    with pytest.raises(ValueError, match=r"^add: cannot broadcast"):
        jax.jit(lambda a, b: a + b)(x, h)


def test_the_explicit_spellings_of_an_outer_combination_agree():
    x = nx.named(jnp.arange(6.0).reshape(2, 3), ("batch", "embed"))
    h = nx.named(jnp.arange(8.0).reshape(2, 4), ("batch", "hidden"))
    ref = np.arange(6.0).reshape(2, 3, 1) + np.arange(8.0).reshape(2, 1, 4)
    bx, bh = nx.broadcast_arrays(x, h)
    assert_named_close(bx + bh, ref, ("batch", "embed", "hidden"))
    assert_named_close(nx.broadcast_axis(x, h.axes) + h, ref, ("batch", "embed", "hidden"))
    grad = jax.grad(lambda a: (nx.broadcast_axis(a, h.axes) * h).sum().array)(x)
    assert_named_close(grad, np.broadcast_to(np.arange(8.0).reshape(2, 4).sum(1)[:, None], (2, 3)))


def test_nested_operands_broadcast_in_every_axis_order():
    big = nx.named(jnp.arange(24.0).reshape(2, 3, 4), ("a", "b", "c"))
    small = nx.named(jnp.arange(4.0) * 10, "c")
    for order in itertools.permutations(("a", "b", "c")):
        x = nx.rearrange(big, order)
        assert (small + x).axis_names == order
        assert (x * small).axis_names == order
        assert_named_close(
            x + small, np.arange(24.0).reshape(2, 3, 4) + np.arange(4.0) * 10, ("a", "b", "c")
        )


@settings(max_examples=20, deadline=None)
@given(names=st.permutations(sorted(SIZES)), seed=st.integers(0, 2**16))
def test_broadcast_to_puts_axes_in_target_order(names, seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(SIZES["b"],)).astype(np.float32)
    x = nx.named(jnp.asarray(v), "b")
    target = tuple(AXES[n] for n in names)
    out = nx.broadcast_to(x, target)
    assert out.axes == target
    assert_named_close(out, np.broadcast_to(positional(v, ("b",), tuple(names)), out.array.shape))


def test_broadcast_axis_adds_missing_axes_in_front():
    x = nx.named(jnp.arange(3.0), "b")
    out = nx.broadcast_axis(x, (AXES["a"], AXES["b"], AXES["c"]))
    assert out.axis_names == ("a", "c", "b")
    assert_named_close(out, np.broadcast_to(np.arange(3.0), (2, 4, 3)))
    assert nx.broadcast_axis(x, AXES["b"]) is x


def test_broadcast_to_extra_axes():
    x = nx.named(jnp.ones((2, 3)), ("a", "b"))
    with pytest.raises(
        ValueError,
        match=r"broadcast_to: the array \{a:2, b:3\} has axes \{a:2\}.*enforce_no_extra_axes=False",
    ):
        nx.broadcast_to(x, AXES["b"])
    out = nx.broadcast_to(x, (AXES["c"], AXES["b"]), enforce_no_extra_axes=False)
    assert out.axis_names == ("a", "c", "b")
    loose = nx.broadcast_to(x, AXES["c"], ensure_order=False, enforce_no_extra_axes=False)
    assert loose.axis_names == ("c", "a", "b")


def test_broadcast_to_size_mismatch():
    x = nx.named(jnp.ones(3), "b")
    with pytest.raises(
        ValueError, match=r"axis 'b' has size 3 in \{b:3\} but was selected as b\(4\)"
    ):
        nx.broadcast_to(x, nx.Axis("b", 4))


def test_broadcast_to_needs_sizes():
    x = nx.named(jnp.ones(3), "b")
    with pytest.raises(TypeError, match=r"broadcast_to: axis 'b' has no size"):
        nx.broadcast_to(x, ("b", "c"))  # type: ignore[arg-type]


def test_broadcast_arrays_union():
    x = nx.named(jnp.arange(2.0), "a")
    y = nx.named(jnp.arange(3.0), "b")
    bx, by, s = nx.broadcast_arrays(x, y, 2.0)
    assert bx.axis_names == by.axis_names == ("a", "b")
    assert_named_close(bx, np.broadcast_to(np.arange(2.0)[:, None], (2, 3)))
    assert_named_close(by, np.broadcast_to(np.arange(3.0)[None, :], (2, 3)))
    assert s == 2.0


def test_three_operand_error_names_broadcast_history():
    x = nx.named(jnp.ones(2), "a")
    y = nx.named(jnp.ones(3), "b")
    z = nx.named(jnp.ones(4), "a")
    with pytest.raises(
        ValueError,
        match=r"axis 'a' has size 2 in the broadcast of arrays\[0\] and arrays\[1\] \{a:2, b:3\} but size 4 in arrays\[2\]",
    ):
        nx.broadcast_arrays(x, y, z)


def test_broadcast_arrays_haliax_keywords():
    a = nx.named(jnp.arange(2.0), "a")
    b = nx.named(jnp.arange(3.0), "b")
    x, y = nx.broadcast_arrays(a, b, ensure_order=False)
    assert x.axis_names == y.axis_names == ("a", "b")
    assert_named_close(y, jnp.broadcast_to(jnp.arange(3.0), (2, 3)), ("a", "b"))
    with pytest.raises(
        ValueError, match=r"^broadcast_arrays: cannot broadcast arrays\[0\] \{a:2\}"
    ):
        nx.broadcast_arrays(a, b, require_subset=True)
    ab = nx.broadcast_arrays(a, b)[0]
    x, y = nx.broadcast_arrays(ab, b, require_subset=True)  # nested: fine
    assert y.axis_names == ("a", "b")
