"""Axes annotations: `Named[NamedArray, spec]`, `NamedArray[spec]`, dtype forms, jaxtyped checks."""

import itertools
import re
from typing import Any

import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np
import pytest
from beartype import beartype
from hypothesis import given, settings, strategies as st
from jaxtyping import TypeCheckError, jaxtyped

import namedax as nx
from namedax import Axis, Named, NamedArray
from namedax.core._typing import DTYPE_ANNOTATIONS
from namedax.typing import Float, Int

NAMES = ("batch", "seq", "embed", "head")
SIZES = {"batch": 2, "seq": 3, "embed": 4, "head": 5}


def _array(names, dtype=jnp.float32):
    return nx.zeros(tuple(Axis(n, SIZES[n]) for n in names), dtype=dtype)


def _fits(x: Any, annotation: Any) -> bool:
    """`isinstance(x, annotation)`, typed for static checkers (which see annotations as `Annotated`)."""
    return isinstance(x, annotation)


def _reference(spec: str, names: tuple[str, ...]) -> bool:
    """Whether `names` fits `spec`, by a regex over the names (ordered) or by sets (unordered)."""
    spec = spec.strip()
    if spec.startswith("{"):
        wanted = set(spec[1:-1].split()) - {"..."}
        open_ = "..." in spec
        return wanted <= set(names) if open_ else wanted == set(names)
    parts = [r"(?: \S+)*" if t == "..." else " " + re.escape(t) for t in spec.split()]
    return re.fullmatch("".join(parts), "".join(" " + n for n in names)) is not None


ORDERED_SPECS = [
    "batch seq embed",
    "batch ... embed",
    "... embed",
    "batch ...",
    "...",
    "seq ...",
    "batch embed",
    "embed ... batch",
    "... seq ...",
    "",
]
UNORDERED_SPECS = ["{batch seq embed}", "{embed batch}", "{embed batch ...}", "{head ...}", "{...}"]


@pytest.mark.parametrize("spec", ORDERED_SPECS + UNORDERED_SPECS)
@pytest.mark.parametrize("order", list(itertools.permutations(("batch", "seq", "embed"))))
def test_specs_match_like_the_reference_in_every_axis_order(spec, order):
    x = _array(order)
    assert _fits(x, NamedArray[spec]) is _reference(spec, order)
    assert _fits(x, Named[NamedArray, spec]) is _reference(spec, order)


@settings(max_examples=40, deadline=None)
@given(
    names=st.permutations(NAMES).flatmap(lambda p: st.integers(0, 4).map(lambda k: tuple(p[:k]))),
    tokens=st.lists(st.sampled_from((*NAMES, "...")), max_size=5),
    unordered=st.booleans(),
)
def test_random_specs_match_like_the_reference(names, tokens, unordered):
    named_tokens = [t for t in tokens if t != "..."]
    if len(set(named_tokens)) != len(named_tokens):
        with pytest.raises(ValueError, match="must be unique"):
            NamedArray[" ".join(tokens)]
        return
    spec = " ".join(tokens)
    if unordered:
        spec = "{" + spec + "}"
    assert _fits(_array(names), NamedArray[spec]) is _reference(spec, names)


def test_every_spelling_of_a_spec_is_the_same_annotation():
    Batch, Embed = Axis("batch", 2), Axis("embed", 4)
    assert NamedArray["batch embed"] is Named[NamedArray, "batch embed"]
    assert NamedArray["batch", "embed"] is NamedArray["  batch   embed "]
    assert NamedArray["batch", ..., "embed"] is NamedArray["batch ... embed"]
    assert NamedArray["batch ... ... embed"] is NamedArray["batch ... embed"]
    assert NamedArray[{"embed", "batch"}] is NamedArray["{batch embed}"]
    assert NamedArray[{"embed", "batch", ...}] is NamedArray["{embed ... batch}"]
    assert NamedArray[Batch, Embed] is NamedArray["batch:2 embed:4"]
    assert NamedArray[{"batch": 2, "embed": 4}] is NamedArray["batch:2 embed:4"]
    assert NamedArray[Batch] is NamedArray["batch:2"]
    assert repr(NamedArray["{embed batch ...}"]) == "Named[NamedArray, '{batch embed ...}']"
    assert repr(Float[NamedArray, "batch ... embed"]) == "Float[NamedArray, 'batch ... embed']"


def test_fixed_sizes_are_checked():
    x = _array(("batch", "embed"))
    assert _fits(x, NamedArray["batch:2 embed"])
    assert not _fits(x, NamedArray["batch:3 embed"])
    assert _fits(x, NamedArray[Axis("batch", 2), ...])
    assert not _fits(x, NamedArray[Axis("embed", 5), ...])
    assert not _fits(x, NamedArray["{embed:3 ...}"])


def test_plain_arrays_and_other_values_do_not_match():
    assert not _fits(jnp.zeros((2, 4)), NamedArray["..."])
    assert not _fits(3.0, NamedArray["..."])
    assert not _fits(None, Float[NamedArray, "..."])


def test_failure_reasons_name_the_expected_and_actual_axes():
    x = _array(("batch", "seq", "embed"))
    why = type(NamedArray["batch embed"]).__instancecheck_str__  # type: ignore[attr-defined]
    assert why(NamedArray["batch embed"], x) == (
        "expected axes 'batch embed' but got {batch:2, seq:3, embed:4}: it has extra axes 'seq'"
    )
    assert "axis 'head' is missing" in why(NamedArray["{head ...}"], x)
    assert "not in the annotated order" in why(NamedArray["embed ... batch"], x)
    assert "axis 'seq' has size 3, not 7" in why(NamedArray["... seq:7 ..."], x)
    assert "not a NamedArray" in why(NamedArray["..."], jnp.zeros(3))
    assert "dtype float32" in why(Int[NamedArray, "..."], x)


@pytest.mark.parametrize("form", sorted(DTYPE_ANNOTATIONS))
@pytest.mark.parametrize(
    "dtype", [jnp.bool_, jnp.int8, jnp.int32, jnp.uint8, jnp.bfloat16, jnp.float32, jnp.complex64]
)
def test_dtype_forms_agree_with_jaxtyping_on_the_positional_array(form, dtype):
    annotation = DTYPE_ANNOTATIONS[form]
    reference = getattr(jaxtyping, form)
    x = _array(("batch", "embed"), dtype)
    expected = _fits(x.array, reference[jax.Array, "batch embed"])
    assert _fits(x, annotation[NamedArray, "batch embed"]) is expected
    assert _fits(x, annotation[NamedArray, "{embed batch}"]) is expected
    assert not _fits(x, annotation[NamedArray, "embed batch"])


def test_key_form_accepts_named_key_arrays():
    keys = nx.named(jax.random.split(jax.random.key(0), 3), "layers")
    assert _fits(keys, nx.typing.Key[NamedArray, "layers"])
    assert not _fits(_array(("batch",)), nx.typing.Key[NamedArray, "batch"])


def test_other_array_types_get_jaxtyping_annotations():
    assert Float[jax.Array, "a b"] is not None
    assert _fits(jnp.zeros((2, 3)), Float[jax.Array, "a b"])
    assert not _fits(jnp.zeros((2, 3), jnp.int32), Float[jax.Array, "a b"])
    assert _fits(np.zeros(3), Named[np.ndarray, "n"])


def test_unions_of_array_types_annotate_each_member():
    @jaxtyped(typechecker=beartype)
    def f(x: Float[NamedArray | jax.Array, "batch"]) -> None:  # noqa: F821
        del x

    f(jnp.zeros(2))
    f(_array(("batch",)))
    with pytest.raises(TypeCheckError, match="parameter 'x'"):
        f(_array(("seq",)))


def test_matches_axes_is_a_method_and_a_function():
    x = _array(("batch", "seq", "embed"))
    assert x.matches_axes("batch ... embed")
    assert not x.matches_axes("{batch embed}")
    assert nx.matches_axes(x, ("batch", "seq", "embed"))
    assert nx.matches_axes(x, {"embed", ...})
    assert x.matches_axes(Float[NamedArray, "batch seq embed"])
    assert not x.matches_axes(Int[NamedArray, "batch seq embed"])


# --- run-time checking through jaxtyping -------------------------------------------------


@jaxtyped(typechecker=beartype)
def _add(
    x: NamedArray["batch ... embed"],
    bias: Float[NamedArray, "embed"],  # noqa: F821
    scale: Float[jax.Array, "batch"],  # noqa: F821
) -> Named[NamedArray, "{batch embed ...}"]:
    return x * nx.named(scale, "batch") + bias


def test_jaxtyped_accepts_consistent_arguments_eagerly_and_under_jit():
    x, bias, scale = _array(("batch", "seq", "embed")), _array(("embed",)), jnp.ones(2)
    assert _add(x, bias, scale).axis_names == ("batch", "seq", "embed")
    assert jax.jit(_add)(x, bias, scale).axis_names == ("batch", "seq", "embed")
    grad = jax.grad(lambda b: _add(x, b, scale).sum().scalar())(bias)
    np.testing.assert_allclose(grad.array, np.full(4, 6.0))


def test_jaxtyped_rejects_wrong_axes_naming_the_parameter_and_axes():
    with pytest.raises(
        TypeCheckError,
        match=r"(?s)parameter 'x'.*\{seq:3, batch:2, embed:4\}.*'batch \.\.\. embed'",
    ):
        _add(_array(("seq", "batch", "embed")), _array(("embed",)), jnp.ones(2))


def test_jaxtyped_binds_sizes_across_named_and_positional_arguments():
    x = _array(("batch", "embed"))
    with pytest.raises(TypeCheckError, match=r"(?s)parameter 'bias'.*embed=4"):
        _add(x, nx.zeros(Axis("embed", 5)), jnp.ones(2))
    with pytest.raises(TypeCheckError, match=r"(?s)parameter 'scale'.*batch=2"):
        _add(x, _array(("embed",)), jnp.ones(3))


def test_jaxtyped_checks_the_return_value():
    @jaxtyped(typechecker=beartype)
    def drop_seq(x: NamedArray["batch seq"]) -> NamedArray["batch"]:  # noqa: F821
        return x  # wrong: still has seq

    with pytest.raises(TypeCheckError, match=r"(?s)return value.*Named\[NamedArray, 'batch'\]"):
        drop_seq(_array(("batch", "seq")))


def test_axis_names_that_are_not_identifiers_are_bound_too():
    @jaxtyped(typechecker=beartype)
    def f(x: NamedArray["layer-0 _private"], y: NamedArray["layer-0"]) -> None:  # noqa: F821
        del x, y

    a, b = Axis("layer-0", 2), Axis("_private", 3)
    f(nx.zeros((a, b)), nx.zeros(a))
    with pytest.raises(TypeCheckError, match="parameter 'y'"):
        f(nx.zeros((a, b)), nx.zeros(a.resize(5)))


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("batch batch", ValueError, "must be unique, but 'batch' repeats"),
        ("{batch embed", ValueError, "enclosed in braces"),
        ("batch:x", ValueError, "'batch:x' is not an axis. Write a name, 'name:size'"),
        ("(a b)", ValueError, "is not an axis"),
        (3, TypeError, "a string like 'batch ... embed'"),
        (("batch", 3), TypeError, "each axis must be a name, an Axis or ..., got int"),
    ],
)
def test_malformed_specs_raise_clear_errors(spec, error, message):
    with pytest.raises(error, match=re.escape(message)):
        NamedArray[spec]


def test_annotation_forms_are_not_misused_silently():
    with pytest.raises(TypeError, match=r"takes an array type and an axes spec"):
        Named["batch"]  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"isinstance\(x, Named\[NamedArray, 'batch \.\.\.'\]\)"):
        isinstance(_array(("batch",)), Named)  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot be instantiated"):
        NamedArray["batch"]()  # type: ignore[operator]
