"""Axes annotations: `Named[NamedArray, spec]`, `NamedArray[spec]`, dtype forms, jaxtyped checks."""

import itertools
import re
import typing
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
from namedax.compat.haliax import haxtyping as _haxtyping
from namedax.core._typing import DTYPE_ANNOTATIONS
from namedax.typing import AxesSpec, DTypeCategory, Float, Int

haxtyping: Any = _haxtyping  # for static checkers each shorthand is the annotated array type
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


# --- typing's view: Annotated[NamedArray, AxesSpec] ----------------------------------------


@pytest.mark.parametrize(
    ("spec", "before", "after", "ordered", "subset"),
    [
        ("batch embed", ("batch", "embed"), (), True, False),
        (("batch", "embed"), ("batch", "embed"), (), True, False),
        ("batch embed ...", ("batch", "embed"), (), True, True),
        ("... embed", (), ("embed",), True, True),
        ("batch ... embed", ("batch",), ("embed",), True, True),
        (("batch", ..., "seq", "embed"), ("batch",), ("seq", "embed"), True, True),
        ("batch ... seq ... embed", ("batch",), ("embed",), True, True),
        ("...", (), (), True, True),
        ("", (), (), True, False),
        ({"embed", "batch"}, ("batch", "embed"), (), False, False),
        ({"embed", "batch", ...}, ("batch", "embed"), (), False, True),
        ("{seq ... batch}", ("batch", "seq"), (), False, True),
        ({"batch": 2, "embed": 4}, ("batch", "embed"), (), True, False),
    ],
)
def test_annotations_are_annotated_aliases_of_namedarray_with_the_parsed_spec(
    spec, before, after, ordered, subset
):
    for annotation in (NamedArray[spec], Named[NamedArray, spec], Float[NamedArray, spec]):
        assert typing.get_origin(annotation) is typing.Annotated
        origin, parsed = typing.get_args(annotation)
        assert origin is NamedArray and isinstance(parsed, AxesSpec)
        assert (parsed.before, parsed.after) == (before, after)
        assert (parsed.ordered, parsed.subset) == (ordered, subset)
        assert AxesSpec.of(annotation) is parsed


def test_specs_compare_by_axes_and_element_type():
    spec = AxesSpec.of(NamedArray["batch", "embed"])
    assert spec == AxesSpec.of(Named[NamedArray, "batch embed"]) == AxesSpec.of("batch embed")
    assert spec != AxesSpec.of(Float[NamedArray, "batch embed"])
    assert spec != AxesSpec.of("embed batch") and spec != AxesSpec.of("{batch embed}")
    assert repr(AxesSpec.of(Float[NamedArray, "{embed batch ...}"])) == (
        "AxesSpec('{batch embed ...}', dtype=float)"
    )
    assert repr(spec) == "AxesSpec('batch embed')"


@pytest.mark.parametrize("form", sorted(DTYPE_ANNOTATIONS))
def test_spec_dtype_is_none_a_dtype_or_a_named_category(form):
    dtype = AxesSpec.of(DTYPE_ANNOTATIONS[form][NamedArray, "batch"]).dtype
    names = getattr(jaxtyping, form).dtypes
    if form == "Shaped":
        assert dtype is None
    elif form in ("Bool", "BFloat16") or form[-1].isdigit():
        assert isinstance(dtype, np.dtype) and dtype.name in names
        if dtype.itemsize < 8:  # 64-bit arrays need jax_enable_x64
            assert _fits(_array(("batch",), dtype), DTYPE_ANNOTATIONS[form][NamedArray, "batch"])
    else:
        assert isinstance(dtype, DTypeCategory)
        assert str(dtype) == form.lower() and dtype.dtypes == tuple(names)


def test_haxtyping_shorthands_carry_their_dtype():
    assert AxesSpec.of(haxtyping.f32["b"]).dtype == jnp.float32
    assert AxesSpec.of(haxtyping.i32[NamedArray, "b"]).dtype == jnp.int32
    assert AxesSpec.of(haxtyping.bf16["b"]).dtype == jnp.bfloat16
    assert str(AxesSpec.of(haxtyping.Float["b"]).dtype) == "float"
    assert str(AxesSpec.of(haxtyping.UInt["b"]).dtype) == "uint"
    assert AxesSpec.of(haxtyping.Named[NamedArray, "b"]).dtype is None


_HINTED_SOURCE = """
from __future__ import annotations
from namedax.compat.haliax.haxtyping import Int, f32
def hinted(x: f32["batch embed"], y: Int["b ..."] | None = None) -> None:
    del x, y
"""


def _hinted() -> Any:
    """A function whose annotations are strings, as in a module with future annotations."""
    namespace: dict[str, Any] = {}
    exec(_HINTED_SOURCE, namespace)
    return namespace["hinted"]


def test_get_type_hints_with_extras_keeps_the_spec_of_string_annotations():
    hints = typing.get_type_hints(_hinted(), include_extras=True)
    origin, spec = typing.get_args(hints["x"])
    assert origin is NamedArray and spec.before == ("batch", "embed") and spec.dtype == jnp.float32
    int_spec = AxesSpec.of(typing.get_args(hints["y"])[0])
    assert int_spec.subset and str(int_spec.dtype) == "int"
    assert typing.get_type_hints(_hinted())["x"] is NamedArray  # extras stripped, as for Annotated


@pytest.mark.parametrize("order", [("batch", "embed"), ("embed", "batch")])
def test_matches_axes_checks_dtype_and_category_in_every_spelling(order):
    x = _array(order, jnp.float32)
    in_order = " ".join(order)
    for spelling in (
        haxtyping.f32[in_order],
        AxesSpec.of(haxtyping.f32[in_order]),
        typing.Annotated[NamedArray, AxesSpec.of(haxtyping.f32[in_order])],
    ):
        assert x.matches_axes(spelling)
        assert not x.astype(jnp.int32).matches_axes(spelling)
    assert x.matches_axes(haxtyping.Float["{batch embed}"])
    assert not x.matches_axes(haxtyping.Int["{batch embed}"])
    assert not x.matches_axes(
        haxtyping.f32["batch embed" if order[0] == "embed" else "embed batch"]
    )
    assert x.astype(jnp.int8).matches_axes(haxtyping.Int[NamedArray, "..."])
    assert not x.astype(jnp.uint8).matches_axes(haxtyping.Int[NamedArray, "..."])


def test_a_plain_annotated_alias_does_not_stand_in_for_the_checked_annotation():
    plain = typing.Annotated[NamedArray, AxesSpec.of("batch")]
    assert NamedArray["batch"] != plain and plain != NamedArray["batch"]

    @beartype
    def unchecked(x: plain) -> None:  # pyright: ignore[reportInvalidTypeForm]
        del x

    @beartype
    def checked(x: NamedArray["batch"]) -> None:  # noqa: F821
        del x

    unchecked(_array(("seq",)))  # beartype checks only NamedArray-ness of a plain alias
    with pytest.raises(Exception, match="parameter x"):
        checked(_array(("seq",)))
