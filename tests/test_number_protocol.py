"""A NamedArray with no axes behaves like a number; one with axes says which axes are in the way."""

import operator
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx

A, B = nx.Axis("a", 2), nx.Axis("b", 3)


def _matrix(dtype=jnp.float32) -> nx.NamedArray:
    return nx.named(jnp.arange(6, dtype=dtype).reshape(2, 3) - 2, (A, B))


CONVERSIONS = [
    (float, "float", jnp.float32),
    (int, "int", jnp.int32),
    (complex, "complex", jnp.complex64),
    (operator.index, "operator.index", jnp.int32),
]


@pytest.mark.parametrize(("convert", "name", "dtype"), CONVERSIONS)
@pytest.mark.parametrize("order", [(A, B), (B, A)])
def test_conversions_of_a_reduction_match_the_positional_array(convert, name, dtype, order):
    x = _matrix(dtype).rearrange(order)
    total = x.sum()
    result = convert(total)
    assert result == convert(x.array.sum())
    assert type(result) is type(convert(jnp.asarray(7, dtype)))


@pytest.mark.parametrize(("convert", "name", "dtype"), CONVERSIONS)
def test_conversions_of_an_array_with_axes_name_the_axes(convert, name, dtype):
    message = (
        f"{name}: the NamedArray has axes {{a:2, b:3}}; only a NamedArray with no axes converts "
        "to a number. Reduce the axes first (`x.sum()`, `x.mean()`) or index them away "
        "(`x[name, i]`); `.scalar()` then gives the 0-d array."
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        convert(_matrix(dtype))


@pytest.mark.parametrize(("convert", "name", "dtype"), CONVERSIONS)
def test_a_single_element_with_an_axis_is_not_a_number(convert, name, dtype):
    one = nx.named(jnp.ones((1,), dtype), "a")
    with pytest.raises(TypeError, match=re.escape(f"{name}: the NamedArray has axes {{a:1}}")):
        convert(one)


def test_index_of_a_float_is_jaxs_type_error():
    with pytest.raises(TypeError, match="Only integer scalar arrays"):
        operator.index(_matrix().sum())


def test_an_integer_reduction_indexes_python_sequences():
    count = nx.named(jnp.array([1, 1, 0]), "k").sum()
    assert [10, 20, 30][count] == 30
    assert list(range(count)) == [0, 1]


def test_bool_works_for_no_axes_and_names_the_axes_otherwise():
    x = _matrix()
    assert bool((x > -3).all()) is True
    assert bool((x > 0).all()) is False
    if not (x > 100).any():
        pass
    else:
        raise AssertionError("a false 0-d comparison took the true branch")
    message = (
        "bool: the NamedArray has axes {a:2, b:3}; only a NamedArray with no axes converts to a "
        "number. Reduce the axes first (`x.any()` or `x.all()`)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        bool(x > 0)
    with pytest.raises(ValueError, match=re.escape("bool: the NamedArray has axes {a:1}")):
        bool(nx.named(jnp.array([True]), "a"))


@pytest.mark.parametrize("spec", [".3f", "8.2e", "+", ">10", "g"])
def test_format_spec_formats_like_the_0d_array(spec):
    loss = _matrix().mean()
    assert f"{loss:{spec}}" == format(loss.array, spec) == format(float(loss.array), spec)


def test_format_without_spec_is_str_and_a_spec_needs_no_axes():
    x = _matrix()
    assert f"{x}" == str(x)
    assert f"{x.sum()}" == str(x.sum())
    message = (
        "format with '.3f': the NamedArray has axes {a:2, b:3}; only a NamedArray with no axes"
    )
    with pytest.raises(TypeError, match=re.escape(message)):
        f"{x:.3f}"


def test_format_inside_jit_is_jaxs_concretization_error():
    with pytest.raises(TypeError, match="unsupported format string"):
        jax.jit(lambda x: f"{x.sum():.2f}")(_matrix())


@pytest.mark.parametrize("fn", [jnp.sin, jnp.exp, jnp.sqrt, jnp.asarray, jnp.float32])
@pytest.mark.parametrize("order", [(A, B), (B, A)])
def test_jax_numpy_takes_a_0d_named_array(fn, order):
    x = _matrix().rearrange(order) + 3.0
    np.testing.assert_allclose(fn(x.mean()), fn(x.array.mean()), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda x: fn(x.mean()))(x), fn(x.array.mean()), rtol=1e-6)


def test_jax_numpy_rejects_an_array_with_axes():
    x = _matrix()
    with pytest.raises(TypeError, match="sin requires ndarray or scalar arguments"):
        jnp.sin(x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="add requires ndarray or scalar arguments"):
        jnp.add(x, 1.0)  # type: ignore[arg-type]


def test_jax_array_operators_still_defer_to_named_arrays_with_axes():
    x = _matrix()
    for c in (jnp.array(2.0), np.float32(2.0), 2.0):
        out = c * x
        assert isinstance(out, nx.NamedArray) and out.axes == x.axes
        np.testing.assert_array_equal(out.array, 2.0 * x.array)
    jitted = jax.jit(lambda c, x: c + x)(jnp.array(2.0), x)
    assert isinstance(jitted, nx.NamedArray)
    with pytest.raises(TypeError, match=r"plain ArrayImpl of shape \(3,\)"):
        jnp.ones(3) * x


def test_a_0d_named_array_combines_with_jax_arrays_like_a_number():
    total = _matrix().sum()
    np.testing.assert_array_equal(jnp.arange(3.0) * total, jnp.arange(3.0) * total.array)
    np.testing.assert_array_equal(jnp.where(total > 0, 1.0, 2.0), 1.0)  # pyright: ignore[reportArgumentType]  # via __jax_array__
    assert jax.lax.cond(total > 0, lambda: 1, lambda: 2) == 1


def test_grad_through_jax_numpy_on_a_0d_named_array():
    x = _matrix() + 3.0
    g = jax.grad(lambda x: jnp.log(x.sum()))(x)
    assert g.axes == x.axes
    np.testing.assert_allclose(g.array, jax.grad(lambda a: jnp.log(a.sum()))(x.array), rtol=1e-6)


def test_vmap_and_scan_through_jax_numpy_on_0d_named_arrays():
    x = _matrix() + 3.0
    rows = nx.vmap(lambda row: jnp.sqrt(row.sum()), A)(x)
    np.testing.assert_allclose(rows, jnp.sqrt(x.array.sum(axis=1)), rtol=1e-6)

    def step(carry, row):
        return carry + jnp.sin(row.sum()), None

    total, _ = jax.lax.scan(step, jnp.float32(0), x.array)
    folded = nx.fold(lambda c, row: c + jnp.sin(row.sum()), A)(jnp.float32(0), x)
    np.testing.assert_allclose(folded, total, rtol=1e-6)


def test_jax_grad_of_a_named_loss_points_at_scalar():
    x = _matrix()
    with pytest.raises(TypeError, match="Gradient only defined for scalar-output") as info:
        jax.grad(lambda x: (x * x).sum())(x)
    cause = (
        "JAX needs a plain array here but got a NamedArray with no axes: a function given to "
        "jax.grad must return a plain scalar, so return `loss.scalar()`, its 0-d array. "
        "Elsewhere, pass `.array`."
    )
    assert str(info.value.__cause__) == cause
    g = jax.grad(lambda x: (x * x).sum().scalar())(x)
    np.testing.assert_allclose(g.array, 2 * x.array)


def test_jax_grad_of_a_non_scalar_points_at_a_reduction():
    with pytest.raises(TypeError, match="Gradient only defined for scalar-output") as info:
        jax.grad(lambda x: x * x)(_matrix())
    cause = (
        "JAX needs a plain array here but got a NamedArray with axes {a:2, b:3}: a function "
        "given to jax.grad must return a plain scalar, so reduce the axes (`loss.sum()`, "
        "`loss.mean()`) and return `.scalar()` of that. Elsewhere, pass `.array`."
    )
    assert str(info.value.__cause__) == cause
    with pytest.raises(TypeError, match=re.escape("a NamedArray with axes {a:2, b:3}")):
        jax.typeof(_matrix())


def test_conversions_inside_jit_raise_jaxs_concretization_error():
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.jit(lambda x: float(x.sum()))(_matrix())
    with pytest.raises(jax.errors.ConcretizationTypeError):
        jax.jit(lambda x: bool(x.sum() > 0))(_matrix())
