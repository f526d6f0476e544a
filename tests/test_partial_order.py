"""Orders with several `...`: `rearrange_for_partial_order` and the ops that take such orders.

`rearrange`, `einsum` and `dot(out_axes=)` place the axes an order leaves free the same
way `rearrange_for_partial_order` does; the tests check the placement by hand on small
cases, its invariants on every permutation, and that the ops agree with it and with
`jnp.transpose` of the positional array.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax.compat.haliax.axis import rearrange_for_partial_order
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C, D = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4), nx.Axis("d", 5)
REF = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
BASE = nx.named(jnp.asarray(REF), (A, B, C, D))


@pytest.mark.parametrize(
    ("order", "axes", "expected"),
    [
        # free axes follow the named axis they came after in the input
        (("a", ..., "b", ...), ("b", "a", "c"), ("a", "b", "c")),
        (("a", ..., "b", ...), ("a", "c", "b", "d"), ("a", "c", "b", "d")),
        ((..., "c", ..., "a", ...), ("a", "b", "c"), ("c", "a", "b")),
        # free axes before any named one fill the first ellipsis
        ((..., "d", ...), ("a", "b", "d", "c"), ("a", "b", "d", "c")),
        # one ellipsis: the free axes keep their relative order there
        ((..., "a"), ("a", "b", "c"), ("b", "c", "a")),
        # no ellipsis: a full order
        (("c", "a", "b"), ("a", "b", "c"), ("c", "a", "b")),
    ],
)
def test_placement_by_hand(order, axes, expected):
    assert rearrange_for_partial_order(order, axes) == expected


def test_axis_objects_and_string_ellipsis():
    got = rearrange_for_partial_order(("...", B, "..."), (A, B, C))
    assert got == (A, B, C)
    assert all(isinstance(a, nx.Axis) for a in got)


@settings(max_examples=60, deadline=None)
@given(st.permutations("abcde"), st.data())
def test_invariants_on_every_input_order(names, data):
    fixed = data.draw(st.lists(st.sampled_from("abcde"), unique=True, max_size=3))
    slots = data.draw(st.lists(st.booleans(), min_size=len(fixed) + 1, max_size=len(fixed) + 1))
    order: list = []
    for i, name in enumerate(fixed):
        if slots[i]:
            order.append(...)
        order.append(name)
    if slots[-1] or ... not in order:
        order.append(...)
    got = rearrange_for_partial_order(order, names)
    assert sorted(got) == sorted(names)  # a permutation
    assert [n for n in got if n in fixed] == fixed  # named axes in the order given
    free = [n for n in names if n not in fixed]
    assert [n for n in got if n not in fixed] == free  # free axes keep their input order


@pytest.mark.parametrize(
    ("order", "axes", "message"),
    [
        (("a", ..., "a"), ("a", "b"), r"names \['a'\] more than once"),
        (("z", ...), ("a", "b"), r"names \['z'\], which are not among the axes"),
        (("a", "b"), ("a", "b", "c"), "must name each of the axes"),
        (("a", ...), ("a", "a", "b"), "axis 'a' occurs more than once"),
    ],
)
def test_errors(order, axes, message):
    with pytest.raises(ValueError, match=rf"^rearrange_for_partial_order: .*{message}"):
        rearrange_for_partial_order(order, axes)


ORDERS = [("b", ..., "d", ...), (..., "c", ..., "a", ...), (..., "d", ..., "b", ...)]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("stored", list(axis_orders((A, B, C, D)))[::5])
def test_rearrange_sequence_with_several_ellipses(order, stored):
    x = in_order(BASE, stored)
    got = nx.rearrange(x, order)
    expected = rearrange_for_partial_order(order, x.axis_names)
    assert got.axis_names == expected
    assert_named_close(got, jnp.transpose(REF, ["abcd".index(n) for n in expected]), expected)


@pytest.mark.parametrize("stored", list(axis_orders((A, B, C, D)))[::5])
def test_rearrange_pattern_output_with_several_ellipses(stored):
    x = in_order(BASE, stored)
    got = x.rearrange("{a b} -> ... a ... b ...")
    expected = rearrange_for_partial_order((..., "a", ..., "b", ...), x.axis_names)
    assert got.axis_names == expected
    assert_named_close(got, jnp.transpose(REF, ["abcd".index(n) for n in expected]), expected)


@pytest.mark.parametrize("stored", list(axis_orders((A, B, C, D)))[::7])
def test_einsum_output_with_several_ellipses(stored):
    x = in_order(BASE, stored)
    w = nx.named(jnp.arange(4.0), "c")
    got = nx.einsum("{b c} -> ... b ...", x, w)
    kept = tuple(n for n in x.axis_names if n != "c")
    expected = rearrange_for_partial_order((..., "b", ...), kept)
    assert got.axis_names == expected
    want = jnp.einsum("abcd,c->abd", REF, jnp.arange(4.0))
    assert_named_close(got, jnp.transpose(want, ["abd".index(n) for n in expected]), expected)


@pytest.mark.parametrize("stored", list(axis_orders((A, B, C, D)))[::7])
def test_dot_out_axes_with_several_ellipses_and_grad(stored):
    x = in_order(BASE, stored)
    w = nx.named(jnp.ones((4, 5)), ("c", "d"))
    got = nx.dot(x, w, axis="c", out_axes=(..., "d", ...))
    assert set(got.axis_names) == {"a", "b", "d"}
    want = jnp.einsum("abcd,cd->abd", REF, jnp.ones((4, 5)))
    perm = ["abd".index(n) for n in got.axis_names]
    assert_named_close(got, jnp.transpose(want, perm), got.axis_names)
    grad = jax.grad(lambda w: nx.dot(x, w, axis="c", out_axes=(..., "d", ...)).sum().scalar())(w)
    assert_named_close(grad, REF.sum((0, 1)), ("c", "d"))  # d(sum)/dw[c, d] = sum_ab x[a, b, c, d]


def test_same_placement_everywhere():
    """rearrange, einsum and dot put the free axes in the same places for one order."""
    for stored in itertools.islice(axis_orders((A, B, C)), 6):
        x = in_order(BASE.sum("d"), stored)
        by_rearrange = nx.rearrange(x, (..., "b", ...)).axis_names
        by_einsum = nx.einsum("-> ... b ...", x).axis_names
        one = nx.named(jnp.ones(()), ())
        by_dot = nx.dot(x, one, axis=(), out_axes=(..., "b", ...)).axis_names
        assert by_rearrange == by_einsum == by_dot
