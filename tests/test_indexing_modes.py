"""`mode=` and `fill_value=` on every indexing path, and index dtypes of any width.

Each case is compared with `jax.numpy`'s own `.at[]` (or `jnp.take`) on the positional
array, for the NamedArray stored in several axis orders, with the index traced (under
`jit`) and static. Without `mode=`, namedax's rule (negative counts from the end, a
traced index is clamped) is JAX's `mode="clip"`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import Axis

from .helpers import assert_named_close, axis_orders, in_order

A, B, C = Axis("a", 3), Axis("b", 5), Axis("c", 2)
X = nx.named(jnp.arange(30.0).reshape(3, 5, 2), (A, B, C))
ORDERS = list(axis_orders((A, B, C)))
UPDATE = nx.named(jnp.arange(6.0).reshape(2, 3) + 100.0, (C, A))  # stored in another order
UPDATE_POSITIONAL = UPDATE.array.T  # (a, c), the shape of x[:, i, :]

INT_DTYPES = [jnp.int8, jnp.uint8, jnp.int16, jnp.uint16, jnp.int32, jnp.uint32]
UPDATES = ["set", "add", "multiply", "mul", "min", "max", "subtract"]
FILL = -1.0


def _jnp_method(method: str) -> str:
    return "multiply" if method == "mul" else method


def _reference(method: str, i: int, mode: str | None) -> jax.Array:
    """jax.numpy's result on the positional array (axes a, b, c) with an int32 index."""
    ref = X.array.at[:, jnp.int32(i), :]
    jmode = "clip" if mode is None else mode
    if method == "get":
        return ref.get(mode=jmode, fill_value=FILL if mode == "fill" else None)
    return getattr(ref, _jnp_method(method))(UPDATE_POSITIONAL, mode=jmode)


@functools.cache
def _named_fn(method: str, mode: str | None, traced: bool):
    def fn(x, i):
        ref = x.at["b", i]
        kwargs: dict[str, Any] = {} if mode is None else {"mode": mode}
        if method == "get":
            if mode == "fill":
                kwargs["fill_value"] = FILL
            return ref.get(**kwargs)
        return getattr(ref, method)(UPDATE, **kwargs)

    return jax.jit(fn) if traced else fn


@settings(max_examples=120, deadline=None)
@given(
    method=st.sampled_from(["get", *UPDATES]),
    mode=st.sampled_from([None, "drop", "fill", "clip"]),
    dtype=st.sampled_from(INT_DTYPES),
    value=st.integers(-9, 9),
    order=st.sampled_from(ORDERS),
    traced=st.booleans(),
)
def test_at_honours_mode_like_jax_numpy(method, mode, dtype, value, order, traced):
    if method == "get" and mode == "drop":
        mode = "fill"
    if np.iinfo(dtype).min == 0 and value < 0:
        value = -value
    x = in_order(X, order)
    index = jnp.asarray(value, dtype) if traced else np.asarray(value, dtype)[()]
    if mode is None and not traced and not -5 <= value < 5:
        with pytest.raises(ValueError, match=r"at: index -?\d+ is out of range for axis 'b'"):
            _named_fn(method, mode, traced)(x, index)
        return
    got = _named_fn(method, mode, traced)(x, index)
    want = _reference(method, value, mode)
    assert_named_close(got, want, ("a", "c") if method == "get" else ("a", "b", "c"))


def test_traced_out_of_range_write_is_dropped_and_read_is_filled():
    """The issue's example: the index must reach JAX unclamped."""
    row = nx.named(jnp.full(2, -5.0), C)
    write = jax.jit(lambda x, i: x.at["b", i].set(row, mode="drop"))
    assert_named_close(write(X, 7), X.array, ("a", "b", "c"))
    assert_named_close(write(X, -6), X.array, ("a", "b", "c"))
    read = jax.jit(lambda x, i: x.at["b", i].get(mode="fill", fill_value=9.0))
    assert_named_close(read(X, 5), jnp.full((3, 2), 9.0), ("a", "c"))
    assert_named_close(read(X, -1), X.array[:, -1], ("a", "c"))  # in range: counts from the end
    assert_named_close(X.at["b", 99].get(mode="fill", fill_value=9.0), jnp.full((3, 2), 9.0))
    assert_named_close(X.at["b", 99].set(row, mode="drop"), X.array, ("a", "b", "c"))
    assert_named_close(X.at["b", 99].get(mode="clip"), X.array[:, 4], ("a", "c"))


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from([None, "fill", "clip", "wrap"]),
    dtype=st.sampled_from(INT_DTYPES),
    value=st.integers(-9, 9),
    order=st.sampled_from(ORDERS),
    traced=st.booleans(),
)
def test_take_honours_mode_like_jnp_take(mode, dtype, value, order, traced):
    if np.iinfo(dtype).min == 0 and value < 0:
        value = -value
    x = in_order(X, order)
    index = jnp.asarray(value, dtype) if traced else np.asarray(value, dtype)[()]
    fill = {"fill_value": FILL} if mode == "fill" else {}

    def take(x, i):
        return nx.take(x, "b", i, mode=mode, **fill)

    if mode is None and not traced and not -5 <= value < 5:
        with pytest.raises(ValueError, match="out of range"):
            take(x, index)
        return
    got = jax.jit(take)(x, index) if traced else take(x, index)
    if mode is None:
        want = X.array.at[:, jnp.int32(value), :].get(mode="clip")
    else:
        want = jnp.take(
            X.array, jnp.int32(value), axis=1, mode=mode, fill_value=fill.get("fill_value")
        )
    assert_named_close(got, want, ("a", "c"))


def test_take_with_an_index_array_and_mode():
    pick = nx.named(jnp.array([0, 4, 7, -1, -8]), "k")
    for mode in ("fill", "clip", "wrap"):
        got = nx.take(X, "b", pick, mode=mode, fill_value=FILL)
        want = jnp.take(X.array, pick.array, axis=1, mode=mode, fill_value=FILL)
        assert_named_close(got, want, ("a", "k", "c"))
    got = X.at["b", pick].set(UPDATE.broadcast_axis(pick.axes[0]), mode="drop")
    want = X.array.at[:, pick.array, :].set(
        jnp.broadcast_to(UPDATE_POSITIONAL[:, None, :], (3, 5, 2)), mode="drop"
    )
    assert_named_close(got, want, ("a", "b", "c"))


def _window_reference(start: int, size: int, mode: str, method: str) -> np.ndarray:
    """A window read or written element by element: each position in or out of range."""
    n = 5
    begin = start + n if start < 0 else start
    positions = [begin + j for j in range(size)]
    base = np.asarray(X.array)
    if method == "get":
        out = np.full((3, size, 2), FILL, np.float32)
        for j, p in enumerate(positions):
            if mode == "clip":
                out[:, j] = base[:, min(max(p, 0), n - 1)]
            elif 0 <= p < n:
                out[:, j] = base[:, p]
        return out
    out = base.copy()
    for p in positions:
        if mode == "clip":
            out[:, min(max(p, 0), n - 1)] = 7.0
        elif 0 <= p < n:
            out[:, p] = 7.0
    return out


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["get", "set"]),
    mode=st.sampled_from(["fill", "clip"]),
    start=st.integers(-9, 9),
    size=st.integers(1, 4),
    dtype=st.sampled_from([jnp.int8, jnp.int16, jnp.int32]),
    order=st.sampled_from(ORDERS),
    traced=st.booleans(),
)
def test_dynamic_windows_honour_mode(method, mode, start, size, dtype, order, traced):
    x = in_order(X, order)
    if method == "set" and mode == "fill":
        mode = "drop"

    def fn(x, s):
        ref = x.at["b", nx.ds(s, size)]
        if method == "get":
            return ref.get(mode=mode, fill_value=FILL)
        return ref.set(7.0, mode=mode)

    s = jnp.asarray(start, dtype) if traced else start
    got = jax.jit(fn)(x, s) if traced else fn(x, s)
    want = _window_reference(start, size, mode, method)
    assert_named_close(got, want, ("a", "b", "c"))


def test_window_without_mode_keeps_namedax_rule():
    row = jax.jit(lambda x, s: x.at["b", nx.ds(s, 2)].get())(X, 4)  # clamped to fit
    assert_named_close(row, X.array[:, 3:5], ("a", "b", "c"))
    with pytest.raises(ValueError, match="does not fit"):
        X.at["b", nx.ds(4, 2)].get()


def test_unknown_mode_is_a_value_error_naming_the_operation():
    with pytest.raises(ValueError, match=r"^at: unknown mode 'wrap'"):
        X.at["b", 1].get(mode="wrap")
    with pytest.raises(ValueError, match=r"^take: invalid mode 'drop'"):
        nx.take(X, "b", 1, mode="drop")


# --- narrow index dtypes on long axes -------------------------------------------------------

LONG = nx.named(jnp.arange(600.0).reshape(300, 2), ("pos", "c"))


@pytest.mark.parametrize("dtype", [jnp.int8, jnp.uint8, jnp.int16, jnp.uint16])
@pytest.mark.parametrize("value", [0, 5, 100, 127, -1, -128, 255])
def test_narrow_traced_index_on_a_long_axis(dtype, value):
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        return
    i = jnp.asarray(value, dtype)
    v = int(value)
    pos = v + 300 if v < 0 else v
    base = LONG.array
    cases = {
        "getitem": (lambda x, i: x["pos", i], base[pos]),
        "at get": (lambda x, i: x.at["pos", i].get(), base[pos]),
        "at get fill": (
            lambda x, i: x.at["pos", i].get(mode="fill", fill_value=-1.0),
            base[pos],
        ),
        "at set drop": (
            lambda x, i: x.at["pos", i].set(-1.0, mode="drop"),
            base.at[pos].set(-1.0),
        ),
        "at add": (lambda x, i: x.at["pos", i].add(1.0), base.at[pos].add(1.0)),
        "take": (lambda x, i: nx.take(x, "pos", i), base[pos]),
        "take clip": (lambda x, i: nx.take(x, "pos", i, mode="clip"), base[max(v, 0)]),
        "ds": (lambda x, i: x["pos", nx.ds(i, 2)], base[min(pos, 298) : min(pos, 298) + 2]),
        "at ds fill": (
            lambda x, i: x.at["pos", nx.ds(i, 1)].get(mode="fill", fill_value=0.0),
            base[pos : pos + 1],
        ),
        "slice": (
            lambda x, i: nx.slice(x, "pos", start=i, length=2),
            base[min(pos, 298) : min(pos, 298) + 2],
        ),
        "updated_slice": (
            lambda x, i: nx.updated_slice(x, {"pos": i}, nx.full({"c": 2}, -1.0)),
            base.at[pos].set(-1.0),
        ),
    }
    for name, (fn, want) in cases.items():
        got = jax.jit(fn)(LONG, i)
        np.testing.assert_allclose(got.array, want, err_msg=name)
