"""Typed uses of the public API, for pyright (`tests/test_public_types.py`); never run.

Every line must type-check, except the lines that end in an `error: <text>` comment: each
of those must get a pyright error whose message contains `<text>`. `assert_type` pins the types an
editor shows. The code sits in functions so that importing this file does nothing.
"""

from __future__ import annotations

from typing import Any, Literal, assert_type

import equinox as eqx
import jax
import jax.numpy as jnp

import namedax as nx
from namedax import Axis, NamedArray

Batch, Embed, Layers = Axis("batch", 4), Axis("embed", 8), Axis("layers", 3)


def reductions(x: NamedArray, a: jax.Array) -> None:
    assert_type(x.mean(Embed), NamedArray)
    assert_type(x.sum(), NamedArray)
    assert_type(nx.sum(x, "embed", where=x > 0, dtype=jnp.float32), NamedArray)
    assert_type(x.std((Batch, Embed), ddof=1), NamedArray)
    assert_type(nx.argmax(x, Embed), NamedArray)
    assert_type(x.sort(Embed, descending=True), NamedArray)
    assert_type(nx.cumsum(x, "embed", dtype=jnp.float32), NamedArray)
    x.mean(axis=Embed, keepdims=True)  # error: No parameter named "keepdims"
    nx.sum(x, Embed, keepdims=True)  # error: No parameter named "keepdims"
    x.sum(Embed, ddof=1)  # error: No parameter named "ddof"
    x.ptp(Embed, where=x > 0)  # error: No parameter named "where"
    x.cumsum()  # error: Argument missing for parameter "axis"
    x.argmax((Batch, Embed))  # error: cannot be assigned to parameter "axis"
    nx.mean(a, Embed)  # error: cannot be assigned to parameter "array"


def elementwise(x: NamedArray, a: jax.Array) -> None:
    assert_type(nx.exp(x), NamedArray)
    assert_type(nx.exp(a), jax.Array)
    assert_type(nx.tanh(x), NamedArray)
    assert_type(nx.round(x, 2), NamedArray)
    assert_type(x.round(decimals=2), NamedArray)
    assert_type(nx.nan_to_num(x, nan=0.0), NamedArray)
    assert_type(nx.rsqrt(x), NamedArray)
    assert_type(nx.frexp(x), tuple[NamedArray, NamedArray])
    assert_type(nx.add(x, 1.0), NamedArray)
    assert_type(nx.add(1.0, x), NamedArray)
    assert_type(nx.add(a, 1.0), jax.Array)
    assert_type(nx.divmod(x, 2), tuple[NamedArray, NamedArray])
    assert_type(x * 2 + x, NamedArray)
    assert_type(abs(x), NamedArray)
    assert_type(nx.nn.gelu(x, approximate=False), NamedArray)
    assert_type(nx.nn.leaky_relu(x, negative_slope=0.1), NamedArray)
    nx.round(x, decimal=2)  # error: No overloads for "__call__"
    nx.exp(x, 2)  # error: No overloads for "__call__"
    nx.nn.gelu(x, approximated=False)  # error: No overloads for "__call__"
    x.round(decimal=2)  # error: No parameter named "decimal"
    nx.add(x)  # error: No overloads for "__call__"


def other_functions(x: NamedArray) -> None:
    assert_type(nx.where(x > 0, x, 0.0), NamedArray)
    assert_type(nx.clip(x, 0.0, 1.0), NamedArray)
    assert_type(nx.zeros((Batch, Embed)), NamedArray)
    assert_type(nx.stack("layers", [x, x]), NamedArray)
    assert_type(nx.isclose(x, x), NamedArray)
    assert_type(nx.dot(x, x, axis=Embed), NamedArray)
    assert_type(nx.rearrange(x, "batch embed -> embed batch"), NamedArray)
    assert_type(nx.unbind(x, Batch), list[NamedArray])
    assert_type(nx.nn.softmax(x, Embed), NamedArray)
    nx.zeros((Batch, Embed), dtype=jnp.float32, fill=1)  # error: No parameter named "fill"


def methods(x: NamedArray) -> None:
    assert_type(x.rename({"embed": "hidden"}), NamedArray)
    assert_type(x.dot(x, axis=Embed), NamedArray)
    assert_type(x[{"batch": 0}], NamedArray)
    assert_type(x.at[{"batch": 0}].set(1.0), NamedArray)
    assert_type(x.take(Batch, 0), NamedArray)
    assert_type(x.clip(0.0, 1.0), NamedArray)
    assert_type(x.matches_axes("batch embed"), bool)
    assert_type(x.split(Embed, [Axis("a", 4), Axis("b", 4)]), list[NamedArray])
    x.rename("embed")  # error: cannot be assigned to parameter "renames"
    x.flatten_axes((Batch, Embed))  # error: Argument missing for parameter "new_axis"


def attention(q: NamedArray, k: NamedArray, v: NamedArray, mask: NamedArray) -> None:
    QPos, KPos, Key = Axis("position", 4), Axis("key_position", 4), Axis("head_dim", 2)
    out = nx.nn.dot_product_attention(KPos, Key, q, k, v, mask=mask)
    assert_type(out, NamedArray)
    older = nx.nn.dot_product_attention(QPos, KPos, Key, q, k, v, mask, scaling_factor=0.5)
    assert_type(older, NamedArray)
    by_name = nx.nn.dot_product_attention(KPos=KPos, Key=Key, query=q, key=k, value=v)
    assert_type(by_name, NamedArray)
    nx.nn.dot_product_attention(KPos, Key, q, k, v, mask=mask, scale=0.5)  # error: No overloads
    nx.nn.dot_product_attention(KPos, Key, q, k)  # error: No overloads


def norm_sq(v: NamedArray) -> NamedArray:
    return (v * v).sum()


def with_aux(v: NamedArray) -> tuple[NamedArray, jax.Array]:
    return v, v.array


def running_total(total: NamedArray, w: NamedArray) -> NamedArray:
    return total + w


def scan_step(total: NamedArray, w: NamedArray) -> tuple[NamedArray, jax.Array]:
    return total + w, w.array


def transforms(x: NamedArray) -> None:
    # vmap, scan, fold and map keep the callee's parameters and return type.
    assert_type(nx.vmap(norm_sq, Batch)(x), NamedArray)
    assert_type(nx.vmap(with_aux, (Batch, Embed))(x), tuple[NamedArray, jax.Array])
    assert_type(nx.scan(scan_step, Layers)(x, x), tuple[NamedArray, jax.Array])
    assert_type(nx.fold(running_total, Layers, remat=True)(x, x), NamedArray)
    assert_type(nx.map(with_aux, Layers)(x), tuple[NamedArray, jax.Array])
    assert_type(nx.vmap(nx.fold(running_total, Layers), Batch)(x, x), NamedArray)
    nx.vmap(norm_sq, Batch)(x, x)  # error: Expected 1 positional argument
    nx.fold(running_total, Layers)(x)  # error: Argument missing for parameter "w"
    nx.map(norm_sq, Layers)(v=x, w=x)  # error: No parameter named "w"
    _ = nx.vmap(norm_sq, Batch)(x).missing  # error: Cannot access attribute "missing"


def builtin_sum(xs: list[NamedArray], x: NamedArray) -> None:
    # sum() starts from the int 0, which NamedArray.__radd__ accepts.
    assert_type(sum(xs), NamedArray | Literal[0])
    assert_type(sum(xs, start=x), NamedArray)
    assert_type(sum(xs, x * 0), NamedArray)


class Block(eqx.Module):
    linear: nx.nn.Linear

    @staticmethod
    def init(Embed: Axis, *, key: jax.Array) -> Block:
        return Block(nx.nn.Linear.init(Embed, Embed, key=key))


def stacked(x: NamedArray, key: jax.Array) -> None:
    stack = nx.nn.Stacked.init(Layers, Block)(Embed, key=key)
    assert_type(stack, nx.nn.Stacked[Block])
    assert_type(stack.stacked.linear, nx.nn.Linear)
    assert_type(stack.stacked.linear.weight, NamedArray)
    linears = nx.nn.Stacked.init(Layers, nx.nn.Linear)(Embed, Embed, key=key)
    assert_type(linears, nx.nn.Stacked[nx.nn.Linear])
    # fold keeps the carry's type; vmap returns what the block's __call__ returns
    assert_type(linears.fold(x), NamedArray)
    assert_type(linears.scan_via(lambda layer, c: (layer(c), c))(x), Any)
    assert_type(linears.vmap(x), NamedArray)
    assert_type(
        nx.nn.BlockSeq.init(Layers, nx.nn.Linear)(Embed, Embed, key=key).vmap(x), NamedArray
    )
    linears.vmap(x, x)  # error: Expected 1 positional argument
    _ = stack.stacked.missing  # error: Cannot access attribute "missing"


def annotated(
    x: NamedArray["batch embed"],
    y: nx.Named[NamedArray, "batch ..."],
    z: nx.typing.Float[NamedArray, "{batch embed}"],
) -> NamedArray["batch"]:  # noqa: F821, UP037  # an axes spec, not a forward reference
    assert_type(x, NamedArray)
    assert_type(y, NamedArray)
    assert_type(z, NamedArray)
    return (x + y + z).sum(Embed)
