"""`rearrange` in its sequence and pattern forms: values against NumPy, round trips, errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from tests.helpers import assert_named_close, axis_orders, in_order

A, B, C = nx.Axis("a", 2), nx.Axis("b", 3), nx.Axis("c", 4)
NAMES = ("a", "b", "c")
REF = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
BASE = nx.named(jnp.asarray(REF), (A, B, C))
ORDERS = list(axis_orders((A, B, C)))


def order_id(order):
    return "".join(a.name for a in order)


# --- sequence form ---------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS, ids=order_id)
@pytest.mark.parametrize("target", list(itertools.permutations(NAMES)), ids="".join)
def test_sequence_transposes_by_name(order, target):
    x = in_order(BASE, order)
    y = nx.rearrange(x, target)
    assert y.axis_names == target
    np.testing.assert_array_equal(y.array, np.transpose(REF, [NAMES.index(n) for n in target]))


@pytest.mark.parametrize("order", ORDERS, ids=order_id)
def test_sequence_ellipsis_keeps_the_rest_in_storage_order(order):
    x = in_order(BASE, order)
    rest = [n for n in x.axis_names if n != "b"]
    assert nx.rearrange(x, ("b", ...)).axis_names == ("b", *rest)
    assert nx.rearrange(x, (..., B)).axis_names == (*rest, "b")
    assert nx.rearrange(x, [...]).axis_names == x.axis_names
    assert_named_close(x.rearrange(("c", ..., "a")), REF, NAMES)


def test_sequence_errors():
    with pytest.raises(ValueError, match=r"rearrange: no axis 'z' in \{a:2, b:3, c:4\}"):
        nx.rearrange(BASE, ("z", ...))
    with pytest.raises(
        ValueError, match=r"rearrange: axis 'a' is used twice in \('a', 'a', \.\.\.\)"
    ):
        nx.rearrange(BASE, ("a", "a", ...))
    with pytest.raises(ValueError, match=r"does not mention the axes \{c:4\} of \{a:2, b:3, c:4\}"):
        nx.rearrange(BASE, ("b", "a"))
    with pytest.raises(ValueError, match=r"rearrange: axis 'a' has size 2 .* selected as a\(9\)"):
        nx.rearrange(BASE, (nx.Axis("a", 9), ...))
    with pytest.raises(TypeError, match=r"rearrange: \(1, \.\.\.\) contains int"):
        nx.rearrange(BASE, (1, ...))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a pattern string or a sequence of axes"):
        nx.rearrange(BASE, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"keyword bindings .* only apply to a pattern string"):
        nx.rearrange(BASE, ("a", ...), h=2)
    with pytest.raises(TypeError, match="rearrange: expected a NamedArray"):
        nx.rearrange(REF, ("a", ...))  # type: ignore[arg-type]


# --- pattern form ----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS, ids=order_id)
def test_unordered_pattern_matches_by_name(order):
    x = in_order(BASE, order)
    y = nx.rearrange(x, "{c a b} -> b c a")
    assert y.axis_names == ("b", "c", "a")
    assert_named_close(y, REF, NAMES)
    z = x.rearrange("{a} -> ... a")
    assert z.axis_names == (*(n for n in x.axis_names if n != "a"), "a")


@pytest.mark.parametrize("order", ORDERS, ids=order_id)
def test_ordered_pattern_binds_by_position(order):
    x = in_order(BASE, order)
    labels = " ".join(f"v{i}" for i in range(3))
    y = x.rearrange(f"{labels} -> v2 v0 v1")
    assert y.axes == (order[2], order[0], order[1])
    assert_named_close(y, REF, NAMES)
    assert x.rearrange("first ... -> ... first").axis_names == (*x.axis_names[1:], order[0].name)


@pytest.mark.parametrize("order", ORDERS, ids=order_id)
def test_split_and_merge_match_numpy(order):
    x = in_order(BASE, order)
    # split c into (h w), move h to the front, merge a and w
    y = x.rearrange("{(c: h w) a} -> h ... (aw: a w)", h=2)
    rest = [n for n in x.axis_names if n not in ("a", "c")]
    assert y.axis_names == ("h", *rest, "aw")
    expected = REF.reshape(2, 3, 2, 2).transpose(2, 1, 0, 3).reshape(2, 3, 4)  # h b (a w)
    assert_named_close(y, expected, ("h", "b", "aw"))


def test_patch_example_against_numpy():
    image = np.random.default_rng(0).normal(size=(2, 3, 4, 6)).astype(np.float32)
    x = nx.named(jnp.asarray(image), ("N", "C", "H", "W"))
    y = x.rearrange("N C (ph H) (pw W) -> N (P: ph pw) (D: C H W)", H=2, W=3)
    assert y.shape == {"N": 2, "P": 4, "D": 18}
    expected = image.reshape(2, 3, 2, 2, 2, 3).transpose(0, 2, 4, 1, 3, 5).reshape(2, 4, 18)
    np.testing.assert_allclose(y.array, expected)
    # the unordered left side gives the same result
    z = x.rearrange("{(H: ph H) (W: pw W) C N} -> N (P: ph pw) (D: C H W)", H=2, W=3)
    assert z.axes == y.axes
    np.testing.assert_allclose(z.array, expected)


def test_bindings_alias_axes_and_names():
    H = nx.Axis("height", 2)
    y = BASE.rearrange("a b (x y) -> a y b x", x=H)
    assert y.axes == (A, nx.Axis("y", 2), B, H)
    z = BASE.rearrange("{p q} -> q p ...", p="a", q=C)
    assert z.axes == (C, A, B)
    w = BASE.rearrange("a b c -> a (m: b c)", m=nx.Axis("merged", 12))
    assert w.axes == (A, nx.Axis("merged", 12))
    v = BASE.rearrange("a b c -> a (m: b c)", m="bc")
    assert v.axis_names == ("a", "bc")
    assert BASE.rearrange("a b c -> c b a", a=2, b="b").axis_names == ("c", "b", "a")


def test_anonymous_merge_restores_an_anonymous_split():
    y = BASE.rearrange("a b (h w) -> (h w) b a", h=2)
    assert y.axes == (C, B, A)
    assert_named_close(y, REF, NAMES)


def test_numpy_integer_bindings():
    y = BASE.rearrange("a b (h w) -> a b h w", h=np.int64(2))  # pyright: ignore[reportArgumentType]  # NumPy integers are sizes too
    assert y.shape == {"a": 2, "b": 3, "h": 2, "w": 2}


AXIS_SIZES = st.lists(st.sampled_from([1, 2, 3, 4, 6]), min_size=1, max_size=4)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), sizes=AXIS_SIZES)
def test_random_split_and_permutation_round_trip(data, sizes):
    names = [f"x{i}" for i in range(len(sizes))]
    array = np.arange(int(np.prod(sizes)), dtype=np.int32).reshape(sizes)
    x = nx.named(jnp.asarray(array), names)
    target = data.draw(st.integers(0, len(sizes) - 1), label="axis to split")
    size = sizes[target]
    inner = data.draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    pieces = {target: ("p", "q")}
    lhs = " ".join(f"({' '.join(pieces[i])})" if i in pieces else n for i, n in enumerate(names))
    elementary = [v for i, n in enumerate(names) for v in (pieces.get(i) or (n,))]
    out = data.draw(st.permutations(elementary), label="output order")
    y = x.rearrange(f"{lhs} -> {' '.join(out)}", q=inner)
    # reference: split by reshape, then transpose
    split_shape = [
        s for i, s in enumerate(sizes) for s in ((size // inner, inner) if i == target else (s,))
    ]
    expected = array.reshape(split_shape).transpose([elementary.index(v) for v in out])
    assert y.axis_names == tuple(out)
    np.testing.assert_array_equal(y.array, expected)
    # and back: merge the parts under the original name, restore the order by name
    back = y.rearrange(f"{{p q ...}} -> ... ({names[target]}: p q)").rearrange(names)
    assert back.axes == x.axes
    np.testing.assert_array_equal(back.array, array)


def test_under_jit_and_grad():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 2, 2, 2)), jnp.float32)

    def named_loss(array):
        y = nx.named(array, NAMES).rearrange("a b (h w) -> b h w a", h=2)
        return (y.array * w).sum()

    def positional_loss(array):
        return (array.reshape(2, 3, 2, 2).transpose(1, 2, 3, 0) * w).sum()

    x = jnp.asarray(REF)
    np.testing.assert_allclose(jax.jit(named_loss)(x), positional_loss(x), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(named_loss)(x), jax.grad(positional_loss)(x), rtol=1e-6)


# --- pattern errors --------------------------------------------------------------------------

ERRORS = [
    ("{z} -> z", {}, r"unknown axis 'z' \(Could not resolve z\) \(array axes \{a:2, b:3, c:4\}\)"),
    ("{q} -> q", {"q": "zz"}, r"unknown axis 'zz' \(q='zz'\)"),
    ("a b c -> a b z", {}, "unknown axis 'z'; the right side may only use names bound on the left"),
    ("a ... -> a c ...", {}, "axis 'c' is covered by '...' on the left, name it there"),
    ("{a a} -> a ...", {}, "'a' is used twice on the left"),
    ("a a c -> a c", {}, "'a' is used twice on the left"),
    ("a b c -> a b c c", {}, "'c' is used twice on the right"),
    ("a b (h w) -> a b h w", {"h": 3}, r"cannot split c\(4\) into parts of known size 3: 4 is not"),
    ("a b (h w) -> a b h w", {}, r"cannot infer the sizes of 'h', 'w' when splitting c\(4\)"),
    ("a b (h w) -> a b h w", {"h": 3, "w": 2}, r"the split sizes \[3, 2\] multiply to 6, not to"),
    ("a ... ... -> a", {}, r"more than one '\.\.\.' in an input term"),
    ("a b c", {}, "the pattern needs '->' between the input and output axes"),
    ("a b c -> a -> b", {}, "the pattern has more than one '->'"),
    ("a (b c -> a", {}, r"unclosed '\('"),
    ("a b c) -> a", {}, r"unexpected '\)'"),
    ("a b c -> a + b", {}, r"unexpected character '\+'"),
    ("a b c -> {a b c}", {}, r"braces \{...\} may only appear on the left"),
    ("{a b} c -> a b c", {}, r"braces must enclose a whole side"),
    ("{a b c -> a b c", {}, r"unclosed '\{'"),
    ("a b () -> a b", {}, "empty parentheses"),
    ("a b (c ...) -> a b c", {}, r"'...' cannot appear inside parentheses"),
    ("a b -> a b", {}, "the left side lists 2 axes but the array has 3"),
    ("a b c d ... -> a", {}, "the left side lists 4 axes but the array has only 3"),
    ("b a c -> a b c", {}, "'b' is axis 1 of the array but the pattern puts it at position 0"),
    ("x b c -> x b c", {"x": nx.Axis("a", 5)}, r"'x' is bound to Axis\(name='a', size=5\)"),
    ("x b c -> x b c", {"x": "q"}, "'x' is bound to 'q' but the array's axis at that position"),
    ("x b c -> x b c", {"x": 7}, r"'x' is bound to size 7 but the axis there is a\(2\)"),
    ("{x} -> x ...", {"x": nx.Axis("a", 5)}, r"'x' is bound to a\(5\) but the array has a\(2\)"),
    (
        "a b c -> a c",
        {},
        r"'b' appears on the left but not on the right \(.*\); rearrange cannot drop",
    ),
    ("{a} -> a", {}, r"the axes \{b:3, c:4\} do not appear on the right"),
    ("{(h w) a} -> h w ...", {"h": 2}, "a split inside {...} must name the axis it splits"),
    ("a b c -> (h: a b) c", {"h": 5}, "'h' is bound to 5 but the merged axis has size 6"),
    ("a b c -> (a b) c", {}, r"a merged axis needs a name: write \(name: a b ...\)"),
    ("a b c -> (c: a b) c", {}, r"the result would have several axes named \['c'\]"),
    ("a b c -> a b c", {"z": 2}, r"the bindings \['z'\] are not used in the pattern"),
]


@pytest.mark.parametrize(("pattern", "bindings", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_pattern_errors_name_the_problem(pattern, bindings, message):
    with pytest.raises(ValueError, match=message) as info:
        BASE.rearrange(pattern, **bindings)
    text = str(info.value)
    assert text.startswith("rearrange: ")
    assert f"    {pattern}" in text  # the pattern is shown
    if "^" in text:  # the caret line points inside the pattern
        caret = text.splitlines()[2]
        assert len(caret) <= len(pattern) + 4


def test_pattern_errors_show_a_caret_under_the_culprit():
    with pytest.raises(ValueError) as info:
        BASE.rearrange("a b c -> a b zz")
    lines = str(info.value).splitlines()
    assert lines[1:] == ["    a b c -> a b zz", "                 ^^"]


def test_binding_type_errors():
    with pytest.raises(TypeError, match=r"rearrange: binding h=\[2\] must be a size"):
        BASE.rearrange("a b (h w) -> a b h w", h=[2])  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match=r"rearrange: binding h=2.5 must be a size"):
        BASE.rearrange("a b (h w) -> a b h w", h=2.5)  # pyright: ignore[reportArgumentType]  # the error is the point
    with pytest.raises(TypeError, match="rearrange: binding h=True must be a size"):
        BASE.rearrange("a b (h w) -> a b h w", h=True)
