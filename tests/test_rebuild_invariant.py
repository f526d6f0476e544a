"""The NamedArray invariant where JAX rebuilds arrays from leaves.

A plain `jax.vmap`, `lax.scan`, `lax.map` or `jax.tree.map` that changes positional
dimensions rebuilds NamedArrays whose axes no longer describe their arrays. Using
such an array (any namedax operation, `.axes`, `.array`, conversion) raises a
`ValueError` naming the axes, the shape and the fix. Library plumbing that only hands
the leaves back to JAX (Optax's tree reductions and factored states, Equinox's
checkpointed loops, `eval_shape`, Orbax restore arguments) keeps working.
"""

from __future__ import annotations

from typing import Any, cast

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import namedax as nx
from namedax import Axis

from .helpers import assert_named_close

Batch, Embed, Hidden, Layers = (
    Axis("batch", 3),
    Axis("embed", 4),
    Axis("hidden", 5),
    Axis("layers", 2),
)
X = nx.named(jnp.arange(12.0).reshape(3, 4), (Batch, Embed))
PLAIN = jnp.arange(15.0).reshape(3, 5)


class Model(eqx.Module):
    w: nx.NamedArray
    b: nx.NamedArray

    def __call__(self, x: nx.NamedArray) -> nx.NamedArray:
        return nx.dot(x, self.w, axis=Embed) + self.b


MODEL = Model(
    nx.named(jnp.arange(20.0).reshape(4, 5) / 10, (Embed, Hidden)),
    nx.named(jnp.arange(5.0), Hidden),
)


def _message(axes: str, shape: str) -> str:
    return (
        rf"axes \{{{axes}\}} but holds an array of shape \({shape}\).*jax\.vmap, jax\.lax\.scan, "
        r"jax\.lax\.map or jax\.tree\.map.*nx\.vmap, nx\.scan or nx\.map.*x\.array"
    )


# Each case: a plain transform that changes positional dimensions, then the first use.
BODY_CASES = {
    # the mislabelled array is used inside the transformed function
    "jax.vmap in": lambda: jax.vmap(lambda v: v.sum("batch"))(X),
    "jax.vmap in_axes=1": lambda: jax.vmap(lambda v: v * 2, in_axes=1)(X),
    "lax.scan xs": lambda: jax.lax.scan(lambda c, v: (c + v.sum().scalar(), None), 0.0, X),
    "lax.map": lambda: jax.lax.map(lambda v: v * 2, X),
    "lax.map batch_size": lambda: jax.lax.map(lambda v: v * 2, X, batch_size=2),
    "eqx.filter_vmap in": lambda: eqx.filter_vmap(lambda v: v + 1)(X),
    "jax.vmap of a model": lambda: jax.vmap(MODEL)(X),
    "jit(tree.map) then use": lambda: jax.jit(lambda t: jax.tree.map(lambda a: a.sum(0), t) * 2)(X),
}

# the transform returns the mislabelled array; reading it raises
RESULT_CASES = {
    "jax.vmap out": (lambda: jax.vmap(lambda a: nx.named(a, Hidden))(PLAIN), "hidden:5", "3, 5"),
    "eqx.filter_vmap out": (
        lambda: eqx.filter_vmap(lambda a: nx.named(a, Hidden))(PLAIN),
        "hidden:5",
        "3, 5",
    ),
    "lax.scan ys": (
        lambda: jax.lax.scan(lambda c, a: (c, nx.named(a, Hidden)), 0.0, PLAIN)[1],
        "hidden:5",
        "3, 5",
    ),
    "lax.map out": (lambda: jax.lax.map(lambda a: nx.named(a, Hidden), PLAIN), "hidden:5", "3, 5"),
    "tree.map a[0]": (lambda: jax.tree.map(lambda a: a[0], X), "batch:3, embed:4", "4,"),
    "tree.map a.sum()": (lambda: jax.tree.map(jnp.sum, X), "batch:3, embed:4", ""),
    "tree.map to numpy": (
        lambda: jax.tree.map(lambda a: np.asarray(a)[:, 0], X),
        "batch:3, embed:4",
        "3,",
    ),
    "jax.jit returning": (
        lambda: jax.jit(lambda t: jax.tree.map(lambda a: a[None], t))(X),
        "batch:3, embed:4",
        "1, 3, 4",
    ),
    "eval_shape of jax.vmap": (
        lambda: jax.eval_shape(jax.vmap(lambda a: nx.named(a, Hidden)), PLAIN),
        "hidden:5",
        "3, 5",
    ),
    "ShapeDtypeStruct of another shape": (
        lambda: jax.tree.map(lambda a: jax.ShapeDtypeStruct((7,), a.dtype), X),
        "batch:3, embed:4",
        "7,",
    ),
}


@pytest.mark.parametrize("case", BODY_CASES, ids=list(BODY_CASES))
def test_plain_transform_relabelling_raises_on_use_inside(case):
    with pytest.raises(ValueError, match=r"has axes \{.*\} but holds an array of shape.*nx\.vmap"):
        BODY_CASES[case]()


def test_vmap_in_names_the_axes_and_the_shape():
    with pytest.raises(ValueError, match=_message("batch:3, embed:4", "4,")):
        jax.vmap(lambda v: v.sum("batch"))(X)


USES = {
    "axes": lambda y: y.axes,
    "array": lambda y: y.array,
    "shape": lambda y: y.shape,
    "dtype": lambda y: y.dtype,
    "arithmetic": lambda y: y + 1,
    "reduction": lambda y: y.sum(),
    "nx function": lambda y: nx.exp(y),
    "jnp function": lambda y: jnp.sin(y),
    "nx.vmap over it": lambda y: nx.vmap(lambda v: v, "hidden")(y),
    "float": lambda y: float(y),
    "to_xarray": lambda y: y.to_xarray(),
}


@pytest.mark.parametrize("case", RESULT_CASES, ids=list(RESULT_CASES))
@pytest.mark.parametrize("use", USES, ids=list(USES))
def test_plain_transform_result_raises_on_any_use(case, use):
    make, axes, shape = RESULT_CASES[case]
    out = make()
    assert isinstance(out, nx.NamedArray)
    with pytest.raises(ValueError, match=_message(axes, shape)):
        USES[use](out)
    assert "mismatched" in repr(out)  # displays say what is wrong instead of raising


def test_model_mapped_positionally_fails_when_called():
    firsts = jax.tree.map(lambda a: a[0], MODEL)
    with pytest.raises(ValueError, match=_message("embed:4, hidden:5", "5,")):
        firsts(nx.named(jnp.ones(4), Embed))
    assert "mismatched" in eqx.tree_pformat(firsts)


def test_shape_preserving_plain_transforms_keep_names():
    # the identity through vmap/scan restacks the same dimension: nothing is relabelled
    assert_named_close(jax.vmap(lambda v: v)(X), X.array)
    assert_named_close(jax.lax.scan(lambda c, v: (c, v), 0.0, X)[1], X.array)
    assert_named_close(jax.tree.map(lambda a: a * 2, X), X.array * 2)
    assert_named_close(jax.jit(lambda t: jax.tree.map(jnp.tanh, t))(X), jnp.tanh(X.array))
    carry = jax.lax.scan(lambda c, a: (c + a.sum(), None), X, jnp.ones(3))[0]
    assert_named_close(carry, X.array + 3)
    # a NamedArray not mapped (in_axes=None) is passed whole
    out = jax.vmap(lambda x, a: (x * a).sum().scalar(), in_axes=(None, 0))(X, jnp.arange(5.0))
    np.testing.assert_allclose(out, X.array.sum() * jnp.arange(5.0))


def test_named_transforms_are_the_fix():
    summed = nx.vmap(lambda v: v.sum(), Batch)(X)
    assert_named_close(summed, X.array.sum(1), ("batch",))
    hidden = nx.vmap(lambda a: nx.named(a, Hidden), Batch, default=0)(PLAIN)
    assert_named_close(hidden, PLAIN, ("batch", "hidden"))
    carry, ys = nx.scan(lambda c, v: (c + v.sum(), v * 2), Batch)(0.0, X)
    assert_named_close(ys, X.array * 2, ("batch", "embed"))
    np.testing.assert_allclose(carry.array if isinstance(carry, nx.NamedArray) else carry, 66.0)
    assert_named_close(nx.map(lambda v: v * 2, Batch)(X), X.array * 2, ("batch", "embed"))
    folded = nx.fold(lambda c, v: c + v, Batch)(nx.zeros(Embed), X)
    assert_named_close(folded, X.array.sum(0), ("embed",))
    first = nx.named(jax.tree.map(lambda a: a[0], X.array), ("embed",))  # the x.array route
    assert_named_close(first, X.array[0])


# --- placeholders and library plumbing stay allowed ---------------------------------------


def test_placeholder_leaves_are_not_checked():
    treedef = jax.tree_util.tree_structure(X)
    sentinel = object()
    for leaf in (None, sentinel, "name", 3, np.dtype("float32")):
        rebuilt = jax.tree_util.tree_unflatten(treedef, [leaf])
        assert rebuilt.axes == X.axes and rebuilt.array is leaf
    dtypes = jax.tree.map(lambda a: a.dtype, X)
    assert dtypes.array == jnp.float32
    spec = jax.eval_shape(lambda x: x * 2, X)
    assert spec.axes == X.axes and spec.array.shape == (3, 4)
    spec = eqx.filter_eval_shape(lambda m: m(X), MODEL)
    assert spec.axes == (Batch, Hidden)
    params, static = eqx.partition(MODEL, eqx.is_array)
    assert eqx.combine(params, static).w.axes == (Embed, Hidden)


def test_mismatched_intermediate_flattens_back_to_its_leaf():
    sums = jax.tree.map(jnp.sum, MODEL)  # what optax.tree.norm does
    total = jax.tree.reduce(lambda a, b: a + b, sums)
    np.testing.assert_allclose(total, MODEL.w.array.sum() + MODEL.b.array.sum())
    assert jax.tree_util.tree_structure(sums) == jax.tree_util.tree_structure(MODEL)
    # mapping it together with the original tree works, and restores the names
    back = jax.tree.map(lambda s, a: a * 0 + s, sums, MODEL)
    assert_named_close(back.b, jnp.full(5, MODEL.b.array.sum()))
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(sums)[0]]
    assert paths == [".w.array", ".b.array"]


def _grads(model: Model) -> Model:
    return jax.grad(lambda m: (m(X) ** 2).mean().scalar())(model)


@pytest.mark.parametrize(
    "optimizer",
    [
        pytest.param(
            lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2)), id="clip-adamw"
        ),
        pytest.param(lambda: optax.adafactor(1e-2, min_dim_size_to_factor=2), id="adafactor"),
        pytest.param(lambda: optax.apply_if_finite(optax.adam(1e-2), 3), id="apply_if_finite"),
        pytest.param(lambda: optax.zero_nans(), id="zero_nans"),
        pytest.param(lambda: optax.add_noise(0.1, 0.5, 0), id="add_noise"),
        pytest.param(
            lambda: optax.masked(optax.adam(1e-2), lambda p: jax.tree.map(lambda a: a.ndim > 1, p)),
            id="masked",
        ),
        pytest.param(lambda: optax.MultiSteps(optax.lion(1e-2), 1), id="multisteps"),
    ],
)
def test_optax_optimizers_keep_working(optimizer):
    tx = optimizer()
    grads = _grads(MODEL)
    updates, _ = jax.jit(tx.update)(grads, tx.init(MODEL), MODEL)
    new = cast(Model, optax.apply_updates(MODEL, updates))  # pyright: ignore[reportArgumentType]
    assert new.w.axes == MODEL.w.axes and new.b.axes == MODEL.b.axes
    # the same step on the positional arrays (same tree order) gives the same parameters
    plain = Model(MODEL.w.array, MODEL.b.array)  # pyright: ignore[reportArgumentType]
    plain_grads = Model(grads.w.array, grads.b.array)  # pyright: ignore[reportArgumentType]
    plain_updates, _ = jax.jit(tx.update)(plain_grads, tx.init(plain), plain)
    want = cast(Model, optax.apply_updates(plain, plain_updates))  # pyright: ignore[reportArgumentType]
    np.testing.assert_allclose(new.w.array, want.w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.b.array, want.b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optax.tree.norm(grads), optax.tree.norm(plain_grads), rtol=1e-6)


def test_optax_lbfgs_keeps_its_history_in_parameter_shaped_trees():
    tx = optax.lbfgs()
    loss = lambda m: (m(X) ** 2).mean().scalar()
    params = cast(Any, MODEL)  # optax types parameters as arrays, not modules
    state = tx.init(params)
    value, grads = jax.value_and_grad(loss)(MODEL)
    updates, state = tx.update(grads, state, params, value=value, grad=grads, value_fn=loss)
    new = cast(Model, optax.apply_updates(params, updates))
    assert new.w.axes == MODEL.w.axes


@pytest.mark.parametrize("kind", ["lax", "checkpointed", "bounded"])
def test_equinox_while_loops_keep_working(kind):
    def run(x):
        _, out = eqxi.while_loop(
            lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 2), (0, x), max_steps=4, kind=kind
        )
        return out

    assert_named_close(jax.jit(run)(X), X.array * 8)
    if kind != "lax":  # reverse mode needs a bounded loop
        grad = jax.grad(lambda x: run(x).sum().scalar())(X)
        assert_named_close(grad, jnp.full((3, 4), 8.0))


def test_orbax_restore_arguments_are_placeholders():
    restore = ocp.checkpoint_utils.construct_restore_args(MODEL)
    assert isinstance(restore.w, nx.NamedArray) and restore.w.axes == MODEL.w.axes
