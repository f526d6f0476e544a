"""The NamedArray type: construction, properties, repr, and passage through JAX transforms."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from tests.helpers import assert_named_close

A, B = nx.Axis("a", 2), nx.Axis("b", 3)


def make(values=None):
    values = jnp.arange(6.0).reshape(2, 3) if values is None else values
    return nx.named(values, (A, B))


def test_named_infers_sizes_and_checks_given_ones():
    x = nx.named(jnp.zeros((2, 3)), ("a", B))
    assert x.axes == (A, B)
    assert nx.named(np.zeros(3), "b").axes == (B,)
    assert isinstance(nx.named(np.zeros(3), "b").array, jax.Array)
    assert nx.named(jnp.zeros((2, 3)), {"a": 2, "b": 3}).axes == (A, B)
    with pytest.raises(
        ValueError, match=r"named: axis 'b' was given size 3 but the array has size 4"
    ):
        nx.named(jnp.zeros((2, 4)), ("a", B))
    with pytest.raises(
        ValueError, match=r"named: array of shape \(2, 3\) has 2 dimensions but 1 axes"
    ):
        nx.named(jnp.zeros((2, 3)), "a")


def test_constructor_checks_shape_and_duplicates():
    with pytest.raises(
        ValueError, match=r"NamedArray: array of shape \(3, 2\) does not match axes \{a:2, b:3\}"
    ):
        nx.NamedArray(jnp.zeros((3, 2)), (A, B))
    with pytest.raises(
        ValueError, match=r"NamedArray: duplicate axis names \['a'\] in \{a:2, a:2\}"
    ):
        nx.NamedArray(jnp.zeros((2, 2)), (A, A))
    with pytest.raises(
        TypeError, match=r"NamedArray: axes must be Axis objects.*named\(array, names\)"
    ):
        nx.NamedArray(jnp.zeros(2), ("a",))  # type: ignore[arg-type]


def test_properties():
    x = make()
    assert x.shape == {"a": 2, "b": 3}
    assert x.axis_names == ("a", "b")
    assert x.dtype == jnp.float32 and x.ndim == 2 and x.size == 6 and x.nbytes == 24
    assert x.axis_size("b") == 3 and x.axis_size((A, B)) == 6
    assert x.axis_indices("b") == 1 and x.axis_indices(("b", "z")) == (1, None)
    assert x.has_axis(A) and not x.has_axis(nx.Axis("a", 7)) and not x.has_axis("z")
    assert x.resolve_axis("a") == A
    with pytest.raises(ValueError, match=r"NamedArray.resolve_axis: no axis 'z' in \{a:2, b:3\}"):
        x.resolve_axis("z")
    assert x.astype(jnp.int32).dtype == jnp.int32
    assert nx.named(jnp.asarray(4.0), ()).item() == 4.0


def test_scalar_requires_no_axes():
    with pytest.raises(ValueError, match=r"scalar: the array still has axes \{a:2, b:3\}"):
        make().scalar()
    assert nx.named(jnp.asarray(1.5), ()).scalar() == 1.5


def test_repr_shows_dtype_named_shape_and_values():
    assert repr(make()) == "NamedArray(f32{a:2, b:3},\n[[0. 1. 2.]\n [3. 4. 5.]])"
    assert (
        repr(nx.named(jnp.zeros((20, 20), jnp.int32), ("x", "y"))) == "NamedArray(i32{x:20, y:20})"
    )
    seen = []
    jax.jit(lambda x: seen.append(repr(x)) or x)(make())
    assert seen == ["NamedArray(f32{a:2, b:3}, DynamicJaxprTracer)"]


def test_positional_iteration_is_refused():
    with pytest.raises(TypeError, match=r"cannot be iterated over positionally.*unbind"):
        list(make())


def test_pytree_structure_and_placeholder_unflatten():
    x = make()
    leaves, treedef = jax.tree_util.tree_flatten(x)
    assert len(leaves) == 1 and leaves[0] is x.array
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(x)[0]]
    assert paths == [".array"]
    # JAX rebuilds pytrees with placeholders: that must not be checked
    placeholder = jax.tree_util.tree_unflatten(treedef, [None])
    assert placeholder.axes == x.axes and placeholder.array is None


def loss(x, w):
    return jnp.sum(nx.tanh(x * w).array)


def reference_grad():
    return jax.grad(lambda a, w: jnp.sum(jnp.tanh(a * w[None])))(
        jnp.arange(6.0).reshape(2, 3) / 6, jnp.array([1.0, -2.0, 0.5])
    )


X = nx.named(jnp.arange(6.0).reshape(2, 3) / 6, (A, B))
W = nx.named(jnp.array([1.0, -2.0, 0.5]), B)


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda f: jax.grad(f), id="grad"),
        pytest.param(lambda f: jax.jit(jax.grad(f)), id="jit-grad"),
        pytest.param(lambda f: lambda x, w: jax.value_and_grad(f)(x, w)[1], id="value_and_grad"),
        pytest.param(lambda f: lambda x, w: jax.vjp(lambda x: f(x, w), x)[1](1.0)[0], id="vjp"),
        pytest.param(lambda f: eqx.filter_grad(f), id="eqx.filter_grad"),
        pytest.param(lambda f: eqx.filter_jit(eqx.filter_grad(f)), id="eqx.filter_jit"),
        pytest.param(lambda f: jax.grad(jax.checkpoint(f)), id="checkpoint"),
    ],
)
def test_gradients_through_transforms(transform):
    g = transform(loss)(X, W)
    assert isinstance(g, nx.NamedArray) and g.axes == X.axes
    assert_named_close(g, reference_grad())


def test_jvp_and_eval_shape():
    tangent = nx.named(jnp.ones((2, 3)), (A, B))
    _, out = jax.jvp(lambda x: loss(x, W), (X,), (tangent,))
    assert np.isclose(out, jnp.sum(reference_grad()))
    shape = jax.eval_shape(lambda x: x * W, X)
    assert shape.axes == (A, B) and shape.array.shape == (2, 3)


def test_custom_vjp_with_named_arrays():
    @jax.custom_vjp
    def clip_grad(x):
        return x

    clip_grad.defvjp(lambda x: (x, None), lambda _, g: (nx.minimum(nx.maximum(g, -0.1), 0.1),))
    g = jax.grad(lambda x: jnp.sum((clip_grad(x) * 10.0).array))(X)
    assert g.axes == X.axes
    assert np.all(np.abs(np.asarray(g.array)) <= 0.1)


def test_control_flow_primitives():
    cond = jax.lax.cond(True, lambda x: x * 2.0, lambda x: x * 3.0, X)
    assert cond.axes == X.axes and np.allclose(cond.array, X.array * 2)
    switch = jax.lax.switch(1, [lambda x: x + 1.0, lambda x: x - 1.0], X)
    assert switch.axes == X.axes and np.allclose(switch.array, X.array - 1)
    loop = jax.lax.fori_loop(0, 3, lambda i, x: x * W, X)
    assert np.allclose(loop.array, X.array * W.array[None] ** 3)
    count, final = jax.lax.while_loop(lambda s: s[0] < 4, lambda s: (s[0] + 1, s[1] + 1.0), (0, X))
    assert count == 4 and np.allclose(final.array, X.array + 4)


def test_lax_scan_over_named_carry_and_grad():
    xs = jnp.linspace(0.0, 1.0, 5)

    def run(x):
        def step(carry, s):
            return carry * W + s, jnp.sum(carry.array)

        return jax.lax.scan(step, x, xs)

    carry, ys = run(X)
    assert carry.axes == X.axes and ys.shape == (5,)

    def positional(a):
        def step(c, s):
            return c * W.array[None] + s, jnp.sum(c)

        return jax.lax.scan(step, a, xs)

    ref_carry, ref_ys = positional(X.array)
    assert_named_close(carry, ref_carry)
    np.testing.assert_allclose(ys, ref_ys, rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(run(x)[0].array))(X)
    assert_named_close(g, jax.grad(lambda a: jnp.sum(positional(a)[0]))(X.array))
