"""Haliax modules provided under `namedax.compat.haliax`: debug, _src.parsing, util, nn.mup."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import Axis, named
from namedax.compat.haliax import debug
from namedax.compat.haliax._src import parsing
from namedax.compat.haliax._src.util import IdentityMap
from namedax.compat.haliax.nn import mup
from namedax.compat.haliax.util import ensure_tuple


class Pair(eqx.Module):
    a: jax.Array
    b: jax.Array


class WithStatic(eqx.Module):
    w: jax.Array
    s: nx.NamedArray = eqx.field(static=True)


def test_diagnose_finds_reused_arrays_with_their_paths():
    shared = jnp.zeros(2)
    with pytest.raises(debug.ModuleProblems) as info:
        debug.diagnose_common_issues({"p": Pair(shared, jnp.ones(2)), "q": shared})  # pyright: ignore[reportArgumentType]  # any pytree works
    problems = info.value
    assert len(problems.reused_arrays) == 1 and problems.static_arrays == []
    array, paths = problems.reused_arrays[0]
    assert array is shared and paths == ["['p'].a", "['q']"]
    assert "Reused array ndarray(shape=(2,), dtype=float32)" in str(problems)


def test_diagnose_finds_static_arrays_and_passes_clean_modules():
    with pytest.warns(UserWarning, match="static"):  # Equinox warns too; the check names it
        module = WithStatic(jnp.zeros(2), named(jnp.zeros(3), "a"))
    with pytest.raises(debug.ModuleProblems) as info:
        debug.diagnose_common_issues([module])  # pyright: ignore[reportArgumentType]  # any pytree works
    assert info.value.static_arrays == ["[0].s"] and not info.value.reused_arrays
    assert debug.diagnose_common_issues(Pair(jnp.zeros(2), jnp.zeros(2))) is None
    assert str(debug.ModuleProblems()) == "No problems found"


def test_visualize_shardings_prints_axis_names(capsys):
    mesh = jax.make_mesh((4, 2), ("data", "model"))
    x = named(jnp.zeros((8, 4)), ("batch", "embed"))
    with jax.set_mesh(mesh), nx.axis_mapping({"batch": "data"}):
        debug.visualize_shardings({"x": nx.shard(x), "plain": jnp.zeros(3)})
    out = capsys.readouterr().out
    assert "batch->data, embed->unsharded" in out


def _flat(expression):
    return [c if c is Ellipsis else (c.binding, c.axes) for c in expression.captures]


def test_parse_rearrangement_captures():
    lhs, rhs = parsing.parse_rearrangement("{(c: a b) 'x y', ...} -> (q: a) b")
    assert not lhs.is_ordered and rhs.is_ordered
    assert _flat(lhs) == [("c", ("a", "b")), ("x y", ("x y",)), Ellipsis]
    assert _flat(rhs) == [("q", ("a",)), ("b", ("b",))]
    assert lhs.captures[0].char_range == (1, 9)  # pyright: ignore[reportAttributeAccessIssue]  # not ...


def test_parse_einsum_inputs_and_output():
    inputs, out = parsing.parse_einsum("b h, h d -> ... d")
    assert [_flat(e) for e in inputs] == [
        [("b", ("b",)), ("h", ("h",))],
        [("h", ("h",)), ("d", ("d",))],
    ]
    assert _flat(out) == [Ellipsis, ("d", ("d",))]


@pytest.mark.parametrize(
    ("expression", "message", "caret"),
    [
        ("a b", "Unexpected end of string", 3),
        ("{ a -> c", "Expected }", 4),
        ("a } -> c", "Unexpected }", 2),
        ("a b ! -> c", "Identifier expected", 4),
        ("(a b ! -> c", "Unexpected character !", 5),
        ("(a (b)) -> a", "Only one level of nesting", 3),
        ("a 1b -> a", "Identifiers cannot start with a number", 2),
    ],
)
def test_parse_errors_point_at_the_problem(expression, message, caret):
    with pytest.raises(ValueError) as info:
        parsing.parse_rearrangement(expression)
    lines = str(info.value).splitlines()
    assert lines[1] == f"    {expression}" and lines[2] == "    " + " " * caret + "^"
    assert message in lines[3]


def test_alias_table_binds_once():
    table = parsing.AliasTable({"h": "heads"})
    Heads = Axis("heads", 4)
    table.bind_alias("h", Heads, "h -> h", (0, 1))
    assert table.dealias_binding("h") == Heads and table.dealias_binding("z") is None
    with pytest.raises(ValueError, match="Alias h is assigned to more than one axis"):
        table.bind_alias("h", Axis("heads", 5), "h -> h", (0, 1))


def test_identity_map_and_ensure_tuple():
    a, b = np.zeros(2), np.zeros(2)
    m: IdentityMap[np.ndarray, int] = IdentityMap([(a, 1)])
    m[b] = 2
    assert (m[a], m[b], len(m), next(iter(m)) is a) == (1, 2, 2, True)
    del m[a]
    assert a not in m and b in m
    with pytest.raises(KeyError):
        m[a]
    assert ensure_tuple("ab") == ("ab",) and ensure_tuple([1]) == (1,) and ensure_tuple(2) == (2,)


def test_mup_twin_is_namedax_reparams():
    In, Out = Axis("embed", 16), Axis("mlp", 4)
    assert mup.HiddenLinearMup is nx.nn.HiddenLinearMup
    layer = nx.nn.Linear.init(In, Out, key=jax.random.key(0), reparam_cls=mup.OutputLinearMup)
    assert isinstance(layer.reparam, mup.AbstractLinearReparam)
    assert layer.reparam.active_scale == pytest.approx(1 / 16)

    class Holder(mup.ReparamEnabled, eqx.Module):
        reparam: mup.AbstractReparam

    reparam = Holder(mup.EmbeddingMup(In, Out)).reparam
    assert isinstance(reparam, mup.EmbeddingMup)
    assert reparam.unembed_active_scale == pytest.approx(1 / 16)


def test_mup_output_linear_state_dict_holds_the_effective_weight():
    In, Out = Axis("i", 4), Axis("o", 3)
    layer = nx.nn.Linear.init(In, Out, key=jax.random.key(3), reparam_cls=mup.OutputLinearMup)
    assert layer.bias is not None
    state = nx.to_state_dict({"head": layer})
    np.testing.assert_allclose(state["head.weight"], layer.weight.array / 4, rtol=1e-6)
    np.testing.assert_array_equal(state["head.bias"], layer.bias.array)  # only the weight
    template = nx.nn.Linear.init(In, Out, key=jax.random.key(4), reparam_cls=mup.OutputLinearMup)
    back = nx.from_state_dict({"head": template}, state)["head"]
    np.testing.assert_allclose(back.weight.array, layer.weight.array, rtol=1e-6)
    x = nx.ones(In)  # the stored weight applied as is gives the layer's output
    direct = nx.dot(named(state["head.weight"], (Out, In)), x, axis="i") + layer.bias
    np.testing.assert_allclose(direct.array, layer(x).array, rtol=1e-5)
    plain = nx.nn.Linear.init(In, Out, key=jax.random.key(3))  # standard: stored as is
    np.testing.assert_array_equal(nx.to_state_dict(plain)["weight"], plain.weight.array)
