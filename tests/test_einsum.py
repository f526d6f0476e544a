"""`einsum` in its ordered, unordered and output-only forms, against `jnp.einsum`."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import namedax as nx
from tests.helpers import assert_named_close, in_order

SIZES = {"b": 2, "q": 3, "d": 4, "k": 5, "e": 6}
RNG = np.random.default_rng(0)


def make(names):
    array = RNG.normal(size=[SIZES[n] for n in names]).astype(np.float32)
    return nx.named(jnp.asarray(array), tuple(names))


X, Y, W, Z = make("bqd"), make("bkd"), make("de"), make("e")

# (inputs, output names): each is computed in all three forms and against jnp.einsum
CASES = {
    "attention_scores": ((X, Y), "bqk"),
    "full_contraction": ((X, X), ""),
    "outer_product": ((X, Z), "bqde"),
    "three_inputs": ((X, W, Z), "qb"),
    "one_input_sum_and_transpose": ((X,), "db"),
    "batched_no_contraction": ((X, Y), "kbqd"),
}


def reference(inputs, out):
    spec = ",".join("".join(a.axis_names) for a in inputs) + "->" + out
    return jnp.einsum(spec, *(a.array for a in inputs))


def orders(inputs):
    """Six storage layouts: the k-th permutation applied to every input at once."""
    for k in range(6):
        yield tuple(
            in_order(a, perms[k % len(perms)])
            for a in inputs
            for perms in [list(itertools.permutations(a.axis_names))]
        )


def equations(inputs, out):
    names = list(dict.fromkeys(n for a in inputs for n in a.axis_names))
    ordered = ", ".join(" ".join(a.axis_names) for a in inputs) + " -> " + " ".join(out)
    return {
        "ordered": ordered,
        "unordered": "{" + " ".join(names) + "} -> " + " ".join(out),
        "unordered_ellipsis": "{...} -> " + " ".join(out),
        "output_only": "-> " + " ".join(out),
    }


@pytest.mark.parametrize("form", ["ordered", "unordered", "unordered_ellipsis", "output_only"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_forms_match_jnp_einsum_in_every_storage_order(case, form):
    inputs, out = CASES[case]
    expected = reference(inputs, out)
    for stored in orders(inputs):
        equation = equations(stored, out)[form]
        result = nx.einsum(equation, *stored)
        assert result.axis_names == tuple(out), equation
        assert_named_close(result, expected, tuple(out), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_jnp_einsum(case):
    inputs, out = CASES[case]
    spec = ",".join("".join(a.axis_names) for a in inputs) + "->" + out
    equation = equations(inputs, out)["unordered"]
    cotangent = jnp.asarray(RNG.normal(size=[SIZES[n] for n in out]), jnp.float32)

    def named_loss(*arrays):
        named = [nx.NamedArray(x, a.axes) for x, a in zip(arrays, inputs)]
        return (nx.einsum(equation, *named).array * cotangent).sum()

    def positional_loss(*arrays):
        return (jnp.einsum(spec, *arrays) * cotangent).sum()

    argnums = tuple(range(len(inputs)))
    arrays = [a.array for a in inputs]
    got = jax.grad(named_loss, argnums)(*arrays)
    want = jax.grad(positional_loss, argnums)(*arrays)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_under_jit():
    f = jax.jit(lambda x, y: nx.einsum("b q d, b k d -> b q k", x, y))
    assert_named_close(f(X, Y), reference((X, Y), "bqk"), "bqk", atol=1e-5)


def test_ordered_labels_are_bound_by_position():
    H, Wd = nx.Axis("height", 3), nx.Axis("width", 4)
    a = nx.named(jnp.ones((3, 4)), (H, Wd))
    b = nx.named(jnp.ones((4, 3)), (Wd, H))
    out = nx.einsum("h w, w h -> w", a, b)
    assert out.axes == (Wd,)
    np.testing.assert_allclose(out.array, 3.0)


def test_ordered_ellipsis():
    result = nx.einsum("... d, k d -> ... k", X, nx.named(W.array.T[:5], ("k", "d")))
    assert result.axis_names == ("b", "q", "k")
    expected = jnp.einsum("bqd,kd->bqk", X.array, W.array.T[:5])
    assert_named_close(result, expected, "bqk", atol=1e-5)
    # without '...' on the output the covered axes are contracted
    summed = nx.einsum("... d, k d -> k", X, nx.named(W.array.T[:5], ("k", "d")))
    assert_named_close(summed, jnp.einsum("bqd,kd->k", X.array, W.array.T[:5]), "k", atol=1e-4)


def test_aliases():
    QPos, KPos = nx.Axis("q", 3), nx.Axis("k", 5)
    result = nx.einsum("b s d, b t d -> b s t", X, Y, s=QPos, t="k")
    assert result.axes == (nx.Axis("b", 2), QPos, KPos)
    unordered = nx.einsum("{x y} -> y", X, Y, x="d", y=QPos)
    assert unordered.axis_names == ("b", "k", "q")
    assert_named_close(unordered, jnp.einsum("bqd,bkd->bkq", X.array, Y.array), "bkq", atol=1e-5)
    only = nx.einsum("-> t", Y, t=KPos)
    assert_named_close(only, Y.array.sum((0, 2)), "k", atol=1e-5)


def test_unordered_keeps_unnamed_axes_in_front_or_at_the_ellipsis():
    assert nx.einsum("{d} -> k", X, Y).axis_names == ("b", "q", "k")
    assert nx.einsum("{d} -> k ...", X, Y).axis_names == ("k", "b", "q")
    assert nx.einsum("{d ...} -> q", X, Y).axis_names == ("q",)
    assert nx.einsum("{q ...} -> ...", X).axis_names == ("b", "d")
    assert nx.einsum("-> k ...", X, Y).axis_names == ("k", "b", "q", "d")


def test_precision_preferred_element_type_and_custom_dot():
    xi = nx.named(jnp.arange(6, dtype=jnp.int8).reshape(2, 3), ("b", "q"))
    yi = nx.named(jnp.arange(3, dtype=jnp.int8), "q")
    out = nx.einsum("b q, q -> b", xi, yi, preferred_element_type=jnp.int32)
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(out.array, [5, 14])
    calls = []

    def spy(*args, **kwargs):
        calls.append(1)
        return lax.dot_general(*args, **kwargs)

    nx.einsum("{d} -> q k", X, Y, precision=lax.Precision.HIGHEST, _dot=spy)
    nx.einsum("{d} -> q k", X, Y, _dot_general=spy)
    assert len(calls) == 2


ERRORS = [
    ("b q d, b k -> b", (X, Y), {}, r"the term for arrays\[1\] lists 2 axes but the array has 3"),
    ("b q d -> b", (X, Y), {}, "the equation has 1 input terms but 2 arrays were given"),
    ("b q d -> z", (X,), {}, "unknown label 'z': every output label must appear on the left"),
    ("{z} -> b", (X,), {}, "unknown axis 'z': no input has it"),
    ("-> z", (X,), {"z": "y"}, r"unknown axis 'y' \(z='y'\): no input has it"),
    ("{d d} -> b", (X,), {}, "axis 'd' is named twice on the left"),
    ("-> b b", (X,), {}, "axis 'b' is named twice on the right"),
    ("b q d -> b b", (X,), {}, "'b' appears twice in the output"),
    ("b b d -> b", (X,), {}, r"'b' appears twice in the term for arrays\[0\]"),
    ("q b d -> q", (X,), {}, r"'q' is axis 1 of arrays\[0\] but the term puts it at position 0"),
    ("s q d -> s", (X,), {"s": nx.Axis("b", 9)}, r"'s' is aliased to Axis\(name='b', size=9\)"),
    ("{s} -> ", (X,), {"s": nx.Axis("b", 9)}, r"'s' is aliased to b\(9\) but axis 'b' has size 2"),
    ("x y z, x y z -> x", (X, Y), {}, "'y' stands for axis 'q' in an earlier term but for 'k'"),
    ("x y z, x w v -> x", (X, Y), {}, "the labels 'z' and 'v' both stand for axis 'd'"),
    ("... d, b k d -> ...", (X, Y), {}, "axis 'b' is covered by '...' in one term but labelled"),
    ("b q d -> b", (X,), {"z": "b"}, r"the aliases \['z'\] are not used in the equation"),
    ("(b q) d -> d", (X,), {}, "parentheses are not supported in einsum"),
    ("b q d, {b k d} -> b", (X, Y), {}, r"braces \{\.\.\.\} are only allowed as the whole left"),
    ("b q d", (X,), {}, "the pattern needs '->'"),
    ("b q d -> {b}", (X,), {}, "braces {...} may only appear on the left"),
]


@pytest.mark.parametrize(
    ("equation", "inputs", "aliases", "message"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_errors_name_the_problem(equation, inputs, aliases, message):
    with pytest.raises(ValueError, match=message) as info:
        nx.einsum(equation, *inputs, **aliases)
    text = str(info.value)
    assert text.startswith("einsum: ")
    assert f"    {equation}" in text


def test_size_mismatch_names_both_inputs():
    other = nx.named(jnp.ones((2, 7)), ("b", "d"))
    with pytest.raises(
        ValueError,
        match=r"einsum: axis 'd' has size 4 in arrays\[0\] \{b:2, q:3, d:4\} but size 7 in "
        r"arrays\[1\] \{b:2, d:7\}",
    ):
        nx.einsum("-> b", X, other)


def test_type_errors():
    with pytest.raises(TypeError, match=r"einsum: arrays\[1\] is a ArrayImpl of shape \(4,\)"):
        nx.einsum("-> b", X, jnp.ones(4))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="einsum: alias s=3 must be an Axis or an axis name"):
        nx.einsum("{s} -> ", X, s=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"einsum: alias s=\[1\] must be an Axis"):
        nx.einsum("{s} -> ", X, s=[1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="einsum: no arrays were given"):
        nx.einsum("-> b")


def test_compiles_to_the_same_hlo_as_jnp_einsum():
    def ops(hlo):
        return sorted(
            line.split("=")[1].split("(")[0].split()[-1]
            for line in hlo.splitlines()
            if " = " in line
        )

    named = jax.jit(lambda x, y: nx.einsum("{d} -> b q k", x, y).array).lower(X, Y)
    positional = jax.jit(lambda x, y: jnp.einsum("bqd,bkd->bqk", x, y)).lower(X.array, Y.array)
    assert ops(named.compile().as_text()) == ops(positional.compile().as_text())
