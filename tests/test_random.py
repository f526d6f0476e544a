"""namedax.random: every sampler is bit-identical to jax.random on the positional shape."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax.ops._random import SAMPLERS
from tests.helpers import axis_orders

A, B = nx.Axis("a", 2), nx.Axis("b", 3)
KEY = jax.random.key(0)


def positional_params(example, shape, seed=1):
    """Valid parameter arrays of `shape`, near the entry's example values."""
    params = {}
    for i, (name, value) in enumerate(example.items()):
        key = jax.random.key(seed + i)
        if isinstance(value, int):
            params[name] = value + jax.random.randint(key, shape, 0, 3)
        else:
            params[name] = value * (1 + 0.05 * jax.random.uniform(key, shape))
    return params


def assert_bits_equal(got, want):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert got.dtype == want.dtype


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_is_bit_identical_with_named_parameters_in_another_order(name):
    entry = SAMPLERS[name]
    positional = positional_params(entry.example, (2, 3))
    # parameters stored as (b, a): the opposite order of the sample's shape
    named_params = {p: nx.named(v.T, ("b", "a")) for p, v in positional.items()}
    got = entry.named(KEY, (A, B), **named_params)
    want = entry.reference(KEY, shape=(2, 3), **positional)
    assert got.axes == (A, B)
    assert_bits_equal(got.array, want)


def test_every_spec_form_and_order_of_the_shape():
    for order in axis_orders((A, B)):
        want = jax.random.normal(KEY, tuple(a.size for a in order))
        for spec in (order, {a.name: a.size for a in order}):
            got = nx.random.normal(KEY, spec)
            assert got.axes == order
            assert_bits_equal(got.array, want)
    assert_bits_equal(nx.random.normal(KEY, A).array, jax.random.normal(KEY, (2,)))
    assert nx.random.normal(KEY, ()).axes == ()


@pytest.mark.parametrize("order", list(axis_orders((A, B))))
def test_parameter_missing_an_axis_is_broadcast_by_name(order):
    maxval = jnp.array([1.0, 10.0, 100.0])
    got = nx.random.uniform(KEY, order, minval=-1.0, maxval=nx.named(maxval, "b"))
    shape = tuple(a.size for a in order)
    aligned = maxval if order[-1] == B else maxval[:, None]
    want = jax.random.uniform(KEY, shape, minval=-1.0, maxval=jnp.broadcast_to(aligned, shape))
    assert got.axes == order
    assert_bits_equal(got.array, want)


def test_positional_and_scalar_parameters_and_options():
    got = nx.random.uniform(KEY, (A, B), jnp.float16, 2.0, 3.0)
    assert_bits_equal(got.array, jax.random.uniform(KEY, (2, 3), jnp.float16, 2.0, 3.0))
    got = nx.random.bernoulli(KEY, (A, B), 0.3, mode="high")
    assert_bits_equal(got.array, jax.random.bernoulli(KEY, 0.3, (2, 3), mode="high"))
    got = nx.random.randint(KEY, (A, B), 0, 5, dtype=jnp.int8)
    assert_bits_equal(got.array, jax.random.randint(KEY, (2, 3), 0, 5, jnp.int8))


def test_sampler_under_jit_and_grad():
    eager = nx.random.normal(KEY, (A, B))
    jitted = jax.jit(lambda k: nx.random.normal(k, (A, B)))(KEY)
    assert jitted.axes == eager.axes
    assert_bits_equal(jitted.array, eager.array)

    def total(maxval):
        return nx.random.uniform(KEY, (A, B), maxval=maxval).array.sum()

    grad = jax.grad(total)(nx.named(jnp.ones(3), "b"))
    want = jax.grad(lambda m: jax.random.uniform(KEY, (2, 3), maxval=m).sum())(jnp.ones(3))
    assert grad.axes == (B,)
    np.testing.assert_allclose(grad.array, want, rtol=1e-6)


def test_parameter_errors():
    with pytest.raises(
        ValueError, match=r"uniform: maxval \{c:4\} has axis c\(4\), which is missing"
    ):
        nx.random.uniform(KEY, (A, B), maxval=nx.named(jnp.ones(4), "c"))
    with pytest.raises(ValueError, match=r"has another size in the sample shape \{a:2, b:3\}"):
        nx.random.uniform(KEY, (A, B), maxval=nx.named(jnp.ones(4), "b"))
    with pytest.raises(TypeError, match=r"gamma: a is a plain ArrayImpl of shape \(2, 3\).*named"):
        nx.random.gamma(KEY, (A, B), jnp.ones((2, 3)))
    with pytest.raises(TypeError, match=r"bernoulli: mode is an option"):
        nx.random.bernoulli(KEY, (A, B), 0.5, nx.named(jnp.ones(2), "a"))  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'scale'"):
        nx.random.normal(KEY, (A, B), scale=2.0)  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match=r"got multiple values for argument 'minval'"):
        nx.random.uniform(KEY, (A, B), None, 0.0, minval=1.0)  # pyright: ignore[reportCallIssue]
    with pytest.raises(
        TypeError,
        match=r"normal: takes at most 3 positional arguments \(key, shape, dtype\), got 5",
    ):
        nx.random.normal(KEY, (A, B), None, 1, 2)  # pyright: ignore[reportCallIssue]
    with pytest.raises(TypeError, match=r"axis 'a' has no size"):
        nx.random.normal(KEY, ("a", "b"))  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"duplicate axis names \['a'\]"):
        nx.random.normal(KEY, (A, A))


# --- categorical ------------------------------------------------------------------------------
C = nx.Axis("class", 4)
D = nx.Axis("draw", 2)
LOGITS = jax.random.normal(jax.random.key(7), (3, 4))  # (b, class)


def test_categorical_without_shape_does_not_depend_on_the_logits_layout():
    want = jax.random.categorical(KEY, LOGITS, axis=-1)  # other axes in name order, class last
    for order in (("b", "class"), ("class", "b")):
        logits = nx.named(LOGITS if order[0] == "b" else LOGITS.T, order)
        got = nx.random.categorical(KEY, logits, "class")
        assert got.axes == (B,)
        assert_bits_equal(got.array, want)


@pytest.mark.parametrize("replace", [True, False])
def test_categorical_with_extra_draw_axes(replace):
    logits = nx.named(LOGITS.T, ("class", "b"))
    want = jax.random.categorical(KEY, LOGITS, -1, shape=(2, 3), replace=replace)  # (draw, b)
    got = nx.random.categorical(KEY, logits, C, shape=(D, B), replace=replace)
    assert got.axes == (D, B)
    assert_bits_equal(got.array, want)
    got = nx.random.categorical(KEY, logits, "class", shape={"b": 3, "draw": 2}, replace=replace)
    assert got.axes == (B, D)
    assert_bits_equal(got.array, want.T)


def test_categorical_errors():
    logits = nx.named(LOGITS, ("b", "class"))
    with pytest.raises(ValueError, match=r"shape \{class:4, b:3\} holds the category axis class"):
        nx.random.categorical(KEY, logits, "class", shape=(C, B))
    with pytest.raises(
        ValueError, match=r"has axis b\(3\), which is missing from the sample shape"
    ):
        nx.random.categorical(KEY, logits, "class", shape=(D,))
    with pytest.raises(ValueError, match=r"categorical: no axis 'zz'"):
        nx.random.categorical(KEY, logits, "zz")
    with pytest.raises(TypeError, match=r"logits must be a NamedArray"):
        nx.random.categorical(KEY, LOGITS, "class")  # type: ignore[arg-type]


# --- choice, permutation, ball, dirichlet -----------------------------------------------------
X = nx.named(jnp.arange(6.0).reshape(2, 3), ("a", "b"))


def test_choice_replaces_the_axis_by_the_draw_shape():
    draws = nx.Axis("draw", 4)
    got = nx.random.choice(KEY, draws, X, "b")
    assert got.axes == (A, draws)
    assert_bits_equal(got.array, jax.random.choice(KEY, X.array, (4,), True, None, 1))
    p = jnp.array([0.2, 0.3, 0.5])
    got = nx.random.choice(KEY, {"draw": 2}, X, B, replace=False, p=nx.named(p, "b"))
    want = jax.random.choice(KEY, X.array, (2,), False, p, 1)
    assert got.shape == {"a": 2, "draw": 2}
    assert_bits_equal(got.array, want)
    got = nx.random.choice(KEY, draws, B)  # indices along an axis
    assert got.axes == (draws,)
    assert_bits_equal(got.array, jax.random.choice(KEY, 3, (4,)))


def test_choice_errors():
    with pytest.raises(ValueError, match=r"choice: p \{a:2\} must lie along exactly \{b:3\}"):
        nx.random.choice(KEY, D, X, "b", p=nx.named(jnp.ones(2) / 2, "a"))
    with pytest.raises(ValueError, match=r"choice: duplicate axis names \['a'\]"):
        nx.random.choice(KEY, A, X, "b")
    with pytest.raises(ValueError, match=r"pass axis= to say which one"):
        nx.random.choice(KEY, D, X)


def test_permutation():
    got = nx.random.permutation(KEY, X, "b")
    assert got.axes == X.axes
    assert_bits_equal(got.array, jax.random.permutation(KEY, X.array, 1))
    got = nx.random.permutation(KEY, X, "a", independent=True)
    assert_bits_equal(got.array, jax.random.permutation(KEY, X.array, 0, True))
    got = nx.random.permutation(KEY, nx.Axis("item", 5))
    assert_bits_equal(got.array, jax.random.permutation(KEY, 5))
    with pytest.raises(ValueError, match=r"permutation: x has axes \{a:2, b:3\}; pass axis="):
        nx.random.permutation(KEY, X)


def test_ball():
    point, coord = nx.Axis("point", 5), nx.Axis("coord", 3)
    got = nx.random.ball(KEY, point, coord)
    assert got.axes == (point, coord)
    assert_bits_equal(got.array, jax.random.ball(KEY, 3, 2, (5,)))
    with pytest.raises(ValueError, match=r"ball: duplicate axis names \['point'\]"):
        nx.random.ball(KEY, point, point)


def test_dirichlet_infers_the_category_axis():
    alpha = jnp.array([[1.0, 2.0], [3.0, 0.5], [1.5, 1.0]])  # (topic, doc)
    got = nx.random.dirichlet(KEY, nx.Axis("doc", 2), nx.named(alpha, ("topic", "doc")))
    assert got.axis_names == ("doc", "topic")
    assert_bits_equal(got.array, jax.random.dirichlet(KEY, alpha.T, (2,)))
    with pytest.raises(ValueError, match=r"cannot tell the category axis"):
        nx.random.dirichlet(KEY, A, nx.named(alpha, ("topic", "doc")))


def test_public_module():
    import namedax.random as module

    assert module.normal is nx.random.normal is SAMPLERS["normal"].named
    assert {"categorical", "choice", "permutation", "ball", "dirichlet"} <= set(dir(module))
    assert set(SAMPLERS) <= set(dir(module))
