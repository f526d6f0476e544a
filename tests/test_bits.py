"""packbits/unpackbits along a named axis, against jax.numpy in every axis order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, Bits, C = nx.Axis("a", 2), nx.Axis("bits", 11), nx.Axis("c", 3)
NAMES = ("a", "bits", "c")
RAW = jax.random.bernoulli(jax.random.key(0), 0.5, (2, 11, 3)).astype(jnp.uint8)
BASE = nx.named(RAW, (A, Bits, C))
ORDERS = list(axis_orders((A, Bits, C)))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("bitorder", ["big", "little"])
def test_packbits_matches_jnp_in_every_axis_order(order, bitorder):
    x = in_order(BASE, order)
    packed = nx.packbits(x, "bits", bitorder=bitorder)
    expected_axes = tuple(ax.resize(2) if ax.name == "bits" else ax for ax in order)
    assert packed.axes == expected_axes
    assert packed.dtype == jnp.uint8
    assert_named_close(packed, jnp.packbits(RAW, axis=1, bitorder=bitorder), NAMES)
    # any other axis too
    packed_c = nx.packbits(x, C, bitorder=bitorder)
    assert packed_c.axis_size("c") == 1
    assert_named_close(packed_c, jnp.packbits(RAW, axis=2, bitorder=bitorder), NAMES)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("bitorder", ["big", "little"])
def test_unpackbits_inverts_packbits_in_every_axis_order(order, bitorder):
    x = in_order(BASE, order)
    packed = nx.packbits(x, "bits", bitorder=bitorder)
    back = nx.unpackbits(packed, "bits", count=Bits.size, bitorder=bitorder)
    assert back.axes == x.axes
    assert_named_close(back, RAW, NAMES)
    full = nx.unpackbits(packed, "bits", bitorder=bitorder)
    assert full.axis_size("bits") == 16
    expected = jnp.unpackbits(
        jnp.packbits(RAW, axis=1, bitorder=bitorder), axis=1, bitorder=bitorder
    )
    assert_named_close(full, expected, NAMES)


@pytest.mark.parametrize("count", [0, 3, 8, -5, 20])
def test_unpackbits_count_sizes_the_axis_as_jnp(count):
    data = nx.named(jnp.array([[7, 200], [1, 255]], dtype=jnp.uint8), ("row", "byte"))
    got = nx.unpackbits(data, "byte", count=count)
    expected = jnp.unpackbits(data.array, axis=1, count=count)
    assert got.axes == (nx.Axis("row", 2), nx.Axis("byte", expected.shape[1]))
    assert_named_close(got, expected)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 20),
    bitorder=st.sampled_from(["big", "little"]),
    as_bool=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_any_length_and_dtype(n, bitorder, as_bool, seed):
    bits = jax.random.bernoulli(jax.random.key(seed), 0.5, (n, 2))
    x = nx.named(bits if as_bool else bits.astype(jnp.int32), ("n", "k"))
    packed = nx.packbits(x, "n", bitorder=bitorder)
    assert packed.axes == (nx.Axis("n", (n + 7) // 8), nx.Axis("k", 2))
    np.testing.assert_array_equal(packed.array, jnp.packbits(x.array, axis=0, bitorder=bitorder))
    back = nx.unpackbits(packed, "n", count=n, bitorder=bitorder)
    np.testing.assert_array_equal(back.array, bits.astype(jnp.uint8))


def test_nonzero_integers_are_one_bits():
    x = nx.named(jnp.array([3, 0, -1, 0, 0, 0, 0, 9], dtype=jnp.int32), "b")
    assert nx.packbits(x, "b").array.tolist() == [0b10100001]


def test_jit_and_vmap():
    packed = jax.jit(lambda x: nx.packbits(x, "bits"))(BASE)
    assert_named_close(packed, jnp.packbits(RAW, axis=1), NAMES)
    back = jax.jit(lambda p: nx.unpackbits(p, "bits", count=11))(packed)
    assert_named_close(back, RAW, NAMES)
    per_a = nx.vmap(lambda x: nx.packbits(x, "bits", bitorder="little"), A)(
        in_order(BASE, (C, Bits, A))
    )
    assert per_a.axes == (A, C, Bits.resize(2))
    assert_named_close(per_a, jnp.packbits(RAW, axis=1, bitorder="little"), NAMES)


def test_errors_name_the_op_and_the_fix():
    with pytest.raises(ValueError, match=r"packbits: no axis 'z' in \{a:2, bits:11, c:3\}"):
        nx.packbits(BASE, "z")
    with pytest.raises(ValueError, match=r"unpackbits: axis 'bits' has size 11"):
        nx.unpackbits(BASE, nx.Axis("bits", 4))
    with pytest.raises(
        TypeError, match=r"packbits: axis must be one axis name or Axis, got tuple .*flatten_axes"
    ):
        nx.packbits(BASE, ("a", "c"))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"unpackbits: axis must be one axis name or Axis, got int 0"
    ):
        nx.unpackbits(BASE, 0)  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"packbits: bitorder must be 'big' or 'little', got 'middle'"
    ):
        nx.packbits(BASE, "bits", bitorder="middle")  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"packbits: a must hold integers or booleans, got dtype float32 .*a > 0"
    ):
        nx.packbits(BASE.astype(jnp.float32), "bits")
    with pytest.raises(
        TypeError, match=r"unpackbits: a must hold bytes \(uint8\), got dtype int32"
    ):
        nx.unpackbits(BASE.astype(jnp.int32), "bits")
    with pytest.raises(
        TypeError, match=r"unpackbits: count must be an int or None .*got float 2.5"
    ):
        nx.unpackbits(BASE, "bits", count=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"packbits: a must be a NamedArray, got ArrayImpl"):
        nx.packbits(RAW, "bits")  # type: ignore[arg-type]
