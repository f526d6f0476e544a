"""Stacked over a Pattern of blocks: one scan over the repeats, global layer numbering.

Every result is checked against the unrolled computation: a `BlockSeq` of the same
layers, or a Python loop over `unstacked()`.
"""

import functools
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn
from tests.helpers import tree_allclose

Pos, KPos = nx.Axis("position", 6), nx.Axis("key_position", 6)
Embed, Heads, HeadDim, Batch = (
    nx.Axis("embed", 8),
    nx.Axis("heads", 2),
    nx.Axis("head_dim", 4),
    nx.Axis("batch", 2),
)
KEY = jax.random.key(0)


class Attention(eqx.Module):
    """Pre-norm residual self-attention; `window` makes it local (sliding-window causal)."""

    norm: nn.LayerNorm
    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    o: nn.Linear
    window: int | None = eqx.field(static=True, default=None)

    @staticmethod
    def init(Embed, *, window=None, key):
        kq, kk, kv, ko = jax.random.split(key, 4)
        return Attention(
            nn.LayerNorm.init(Embed),
            nn.Linear.init(Embed, (Heads, HeadDim), key=kq),
            nn.Linear.init(Embed, (Heads, HeadDim), key=kk),
            nn.Linear.init(Embed, (Heads, HeadDim), key=kv),
            nn.Linear.init((Heads, HeadDim), Embed, key=ko),
            window,
        )

    def mask(self):
        causal = nn.causal_mask(Pos, KPos)
        if self.window is None:
            return causal
        near = nx.arange(Pos).broadcast_axis(KPos) - nx.arange(KPos) < self.window
        return causal & near

    def __call__(self, x):
        h = self.norm(x)
        k = self.k(h).rename({"position": "key_position"})
        v = self.v(h).rename({"position": "key_position"})
        out = nn.dot_product_attention(KPos, HeadDim, self.q(h), k, v, mask=self.mask())
        return x + self.o(out)


Local = functools.partial(Attention.init, window=2)
Global = Attention.init
GEMMA = nn.Pattern(Local, Local, Local, Local, Local, Global)


def x_input():
    return nx.random.normal(jax.random.key(1), (Batch, Pos, Embed))


def loop(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def gemma(n_layers, **kw):
    Layers = nx.Axis("layers", n_layers)
    stack = nn.Stacked.init(Layers, GEMMA, **kw)(Embed, key=KEY)
    seq = nn.BlockSeq.init(Layers, GEMMA, **kw)(Embed, key=KEY)
    return stack, seq


# --- the pattern ---------------------------------------------------------------------------


def test_pattern_repr_counts_runs_and_names_partials():
    assert repr(GEMMA) == "Pattern(Attention.init(window=2)*5, Attention.init)"
    assert len(GEMMA) == 6
    assert GEMMA.kinds == (0, 0, 0, 0, 0, 1)
    assert GEMMA.kind_blocks == (Local, Global)


def test_pattern_rejects_empty_and_nested():
    with pytest.raises(TypeError, match="give the blocks of one period"):
        nn.Pattern()
    with pytest.raises(TypeError, match="cannot be a pattern"):
        nn.Pattern(GEMMA, Global)


# --- layers in model order -----------------------------------------------------------------


def test_layers_follow_the_pattern_in_model_order():
    stack, _ = gemma(12)
    windows = [layer.window for layer in stack.unstacked()]
    assert windows == [2, 2, 2, 2, 2, None] * 2
    assert stack.Layers.size == 12
    assert stack.stacked.blocks[0].q.weight.axes[0] == nx.Axis("layers", 2)


def test_get_layer_uses_the_global_index():
    stack, seq = gemma(12)
    for i in (0, 4, 5, 6, 11, -1, -7):
        assert tree_allclose(stack.get_layer(i), seq.blocks[i], atol=0)
    with pytest.raises(IndexError, match="index 12 is out of range for layers"):
        stack.get_layer(12)


def test_every_layer_has_its_own_key():
    stack, _ = gemma(12)
    weights = [np.asarray(layer.q.weight.array) for layer in stack.unstacked()]
    for i in range(12):
        for j in range(i):
            assert not np.allclose(weights[i], weights[j])


def test_layer_i_gets_key_i_of_the_split():
    Layers = nx.Axis("layers", 6)
    stack = nn.Stacked.init(Layers, nn.Pattern(Local, Global, Local))(Embed, key=KEY)
    keys = jax.random.split(KEY, 6)
    for i, layer in enumerate(stack.unstacked()):
        block = (Local, Global, Local)[i % 3]
        assert tree_allclose(layer, block(Embed, key=keys[i]), atol=0)
    presplit = nn.Stacked.init(Layers, nn.Pattern(Local, Global, Local))(Embed, key=keys)
    assert tree_allclose(presplit, stack, atol=0)


def test_depth_must_be_a_multiple_of_the_pattern():
    with pytest.raises(ValueError) as info:
        nn.Stacked.init(nx.Axis("layers", 8), GEMMA)(Embed, key=KEY)
    assert str(info.value) == (
        "Stacked.init: layers(8) is not a whole number of repeats of "
        "Pattern(Attention.init(window=2)*5, Attention.init), which has 6 blocks; give a "
        "layers axis whose size is a multiple of 6 (e.g. 6 or 12)."
    )


# --- fold against the unrolled BlockSeq: values and gradients ------------------------------


@pytest.mark.parametrize("n_layers", [6, 18])
def test_gemma_fold_equals_blockseq_values_and_gradients(n_layers):
    stack, seq = gemma(n_layers)
    x = x_input()
    out = eqx.filter_jit(lambda s, x: s.fold(x))(stack, x)
    assert out.axes == x.axes
    assert tree_allclose(out, seq.fold(x), atol=1e-5)
    assert tree_allclose(out, loop(stack.unstacked(), x), atol=1e-5)

    def loss(model, x):
        return (model.fold(x) ** 2).mean().scalar()

    g_stack = eqx.filter_jit(eqx.filter_grad(loss))(stack, x)
    g_seq = eqx.filter_grad(loss)(seq, x)
    assert tree_allclose(nn.BlockSeq(g_stack.unstacked(), stack.Layers), g_seq, atol=1e-5)


def test_local_layers_see_only_the_window():
    """Perturbing an early position changes a local-only stack's late outputs only via the window."""
    Layers = nx.Axis("layers", 2)
    local = nn.Stacked.init(Layers, nn.Pattern(Local))(Embed, key=KEY)
    both = nn.Stacked.init(Layers, nn.Pattern(Local, Global))(Embed, key=KEY)
    x = x_input()
    bumped = x.at[{"position": 0, "embed": 0}].add(1.0)
    last = {"position": 5}
    # Two window-2 layers reach back 2 positions: position 5 cannot see position 0.
    assert tree_allclose(local.fold(x)[last], local.fold(bumped)[last], atol=1e-6)
    assert not tree_allclose(both.fold(x)[last], both.fold(bumped)[last], atol=1e-6)


def test_gradient_checkpointing_gives_the_same_gradients():
    stack, _ = gemma(12)
    remat, _ = gemma(12, gradient_checkpointing="full")
    x = x_input()

    def loss(model):
        return (model.fold(x) ** 2).mean().scalar()

    g_remat, g = eqx.filter_grad(loss)(remat), eqx.filter_grad(loss)(stack)
    assert tree_allclose(g_remat.stacked, g.stacked, atol=1e-5)


def test_grad_of_vmapped_batch_and_jit_compose():
    stack, seq = gemma(6)
    xs = nx.random.normal(jax.random.key(2), (nx.Axis("ex", 3), Pos, Embed))

    def loss(model):
        per = nx.vmap(lambda x: model.fold(x), "ex")(xs)
        return per.sum().scalar()

    g = eqx.filter_jit(eqx.filter_grad(loss))(stack)
    assert tree_allclose(g.unstacked(), eqx.filter_grad(loss)(seq).blocks, atol=1e-4)


# --- shared per kind -----------------------------------------------------------------------


def test_shared_per_kind_ties_global_weights_across_repeats():
    stack, seq = gemma(18, shared={Global: True})
    layers = stack.unstacked()
    globals_, locals_ = layers[5::6], [b for i, b in enumerate(layers) if i % 6 != 5]
    for g in globals_[1:]:
        assert tree_allclose(g, globals_[0], atol=0)
    assert not tree_allclose(locals_[0].q.weight, locals_[1].q.weight)
    # stored once, without the layers axis; the local blocks keep it
    assert stack.stacked.shared[1].q.weight.axes == (Heads, HeadDim, Embed)
    assert stack.stacked.blocks[5].q.weight is None
    assert stack.stacked.blocks[4].q.weight.axes[0] == nx.Axis("layers", 3)
    assert stack.stacked.shared[0] is None
    x = x_input()
    assert tree_allclose(stack.fold(x), seq.fold(x), atol=1e-5)

    def loss(model):
        return (model.fold(x) ** 2).mean().scalar()

    g = eqx.filter_grad(loss)(stack)
    g_seq = eqx.filter_grad(loss)(seq)
    tied = sum(g_seq.blocks[i].q.weight.array for i in (5, 11, 17))
    np.testing.assert_allclose(g.stacked.shared[1].q.weight.array, tied, atol=1e-5)


def test_shared_field_name_shares_within_each_kind_separately():
    Layers = nx.Axis("layers", 12)
    stack = nn.Stacked.init(Layers, GEMMA, shared="q")(Embed, key=KEY)
    layers = stack.unstacked()
    assert all(tree_allclose(layers[i].q, layers[0].q, atol=0) for i in range(12) if i % 6 != 5)
    assert tree_allclose(layers[11].q, layers[5].q, atol=0)
    assert not tree_allclose(layers[5].q, layers[0].q)  # each kind has its own copy
    assert not tree_allclose(layers[1].k, layers[0].k)


def test_shared_mapping_must_name_blocks_of_the_pattern():
    with pytest.raises(ValueError, match=re.escape("shared= names Attention, which is not")):
        nn.Stacked.init(nx.Axis("layers", 6), GEMMA, shared={Attention: True})(Embed, key=KEY)


# --- call arguments: per-layer slices and keys in global order -----------------------------


class Noisy(eqx.Module):
    """Adds `scale * (weight + noise(key))` to the carry: shows which slice/key a layer got."""

    weight: nx.NamedArray

    @staticmethod
    def init(Embed, *, key):
        return Noisy(nx.random.normal(key, Embed))

    def __call__(self, x, scale, *, key):
        return x + scale * (self.weight + nx.random.normal(key, Embed))


class Doubler(Noisy):
    def __call__(self, x, scale, *, key):
        return 2 * x + scale * (self.weight + nx.random.normal(key, Embed))


def test_per_layer_arguments_and_keys_follow_the_global_index():
    Layers = nx.Axis("layers", 6)
    stack = nn.Stacked.init(Layers, nn.Pattern(Noisy, Doubler))(Embed, key=KEY)
    scale = nx.named(jnp.arange(6.0), Layers)
    x = nx.zeros(Embed)
    k = jax.random.key(7)
    got = stack.fold(x, scale, key=k)
    keys = jax.random.split(k, 6)
    want = x
    for i, layer in enumerate(stack.unstacked()):
        want = layer(want, scale[{"layers": i}], key=keys[i])
    assert tree_allclose(got, want, atol=1e-5)
    # a split key array and a plain array of scales follow the same rule
    assert tree_allclose(stack.fold(x, scale.array, key=keys), want, atol=1e-5)


def test_wrong_length_arguments_are_refused_with_the_fix():
    Layers = nx.Axis("layers", 6)
    stack = nn.Stacked.init(Layers, nn.Pattern(Noisy, Doubler))(Embed, key=KEY)
    x = nx.zeros(Embed)
    with pytest.raises(ValueError) as info:
        stack.fold(x, nx.named(jnp.ones(4), "layers"), key=KEY)
    assert str(info.value) == (
        "Stacked.fold: args[0] {layers:4} has axis 'layers' of size 4, but the stack has "
        "layers(6); give one slice per layer (a NamedArray argument with the layers axis "
        "gives layer i its slice i), or rename that axis to pass it whole to every layer."
    )
    with pytest.raises(ValueError, match=re.escape("jax.random.split(key, 6)")):
        stack.fold(x, 1.0, key=jax.random.PRNGKey(0))


# --- scan and vmap: outputs in layer order -------------------------------------------------


class Emit(eqx.Module):
    weight: nx.NamedArray
    factor: float = eqx.field(static=True, default=1.0)

    @staticmethod
    def init(Embed, *, factor=1.0, key):
        return Emit(nx.random.normal(key, Embed), factor)

    def __call__(self, x):
        y = x * self.factor + self.weight
        return y, y.sum("embed")

    def predict(self, x):
        return (x * self.weight).sum("embed") * self.factor


def test_scan_and_vmap_outputs_are_in_layer_order():
    Layers = nx.Axis("layers", 6)
    pattern = nn.Pattern(Emit.init, functools.partial(Emit.init, factor=-1.0), Emit.init)
    stack = nn.Stacked.init(Layers, pattern)(Embed, key=KEY)
    seq = nn.BlockSeq.init(Layers, pattern)(Embed, key=KEY)
    x = nx.random.normal(jax.random.key(3), Embed)
    carry, ys = stack.scan(x)
    carry_seq, ys_seq = seq.scan(x)
    assert ys.axes == (Layers,)
    assert tree_allclose((carry, ys), (carry_seq, ys_seq), atol=1e-5)
    preds = stack.vmap_via("predict")(x)
    assert preds.axes == (Layers,)
    assert tree_allclose(preds, seq.vmap_via("predict")(x), atol=1e-5)


def test_scan_refuses_blocks_whose_outputs_differ():
    class Other(Emit):
        @staticmethod
        def init(Embed, *, key):
            return Other(nx.random.normal(key, Embed))

        def __call__(self, x):
            return x, x

    Layers = nx.Axis("layers", 2)
    stack = nn.Stacked.init(Layers, nn.Pattern(Emit.init, Other.init))(Embed, key=KEY)
    with pytest.raises(ValueError, match="return outputs of different structures or axes"):
        stack.scan(nx.zeros(Embed))


# --- compile time flat in depth ------------------------------------------------------------


def compiled_text(n_layers):
    stack, _ = gemma(n_layers)
    params, static = eqx.partition(stack, eqx.is_array)
    fold = jax.jit(lambda p, x: eqx.combine(p, static).fold(x))
    text = fold.lower(params, x_input()).compile().as_text()
    assert text is not None
    return text


def test_fold_is_one_while_loop_and_its_hlo_does_not_grow_with_depth():
    shallow, deep = compiled_text(12), compiled_text(48)
    for text in (shallow, deep):
        assert len(re.findall(r"\bwhile\(", text)) == 1
    count = lambda t: len(re.findall(r"^\s+\S+ = ", t, flags=re.M))
    assert count(deep) == count(shallow)


# --- state dict: one flat numbering --------------------------------------------------------


def test_state_dict_is_flat_in_model_order_and_equals_blockseq():
    stack, seq = gemma(12)
    state = nx.to_state_dict({"layers": stack})
    assert state.keys() == nx.to_state_dict({"layers": seq}).keys()
    numbers = [int(k.split(".")[1]) for k in state]
    assert numbers == sorted(numbers) and set(numbers) == set(range(12))
    for k, v in nx.to_state_dict({"layers": seq}).items():
        np.testing.assert_array_equal(state[k], v)


def test_state_dict_loads_into_and_from_blockseq():
    stack, seq = gemma(12)
    bumped = {k: v + 1 for k, v in nx.to_state_dict({"layers": seq}).items()}
    loaded = nx.from_state_dict({"layers": stack}, bumped)["layers"]
    assert isinstance(loaded.stacked, nn.PatternBlocks)
    for k, v in nx.to_state_dict({"layers": loaded}).items():
        np.testing.assert_array_equal(v, bumped[k])
    back = nx.from_state_dict({"layers": seq}, nx.to_state_dict({"layers": loaded}))["layers"]
    x = x_input()
    assert tree_allclose(back.fold(x), loaded.fold(x), atol=1e-5)


def test_state_dict_of_an_abstract_template_loads():
    stack, _ = gemma(6)
    template = eqx.filter_eval_shape(lambda: gemma(6)[0])
    loaded = nx.from_state_dict(template, nx.to_state_dict(stack))
    assert tree_allclose(loaded, stack, atol=0)


def test_one_block_pattern_state_dict_is_the_plain_stack_one():
    Layers = nx.Axis("layers", 4)
    plain = nn.Stacked.init(Layers, Global, shared="norm")(Embed, key=KEY)
    patterned = nn.Stacked.init(Layers, nn.Pattern(Global, Global), shared="norm")(Embed, key=KEY)
    state = nx.to_state_dict(patterned)
    assert state.keys() == nx.to_state_dict(plain).keys()
    assert "norm.weight" in state  # a kind-shared leaf of a single kind: like a plain stack
    loaded = nx.from_state_dict(plain, state)
    x = x_input()
    assert tree_allclose(loaded.fold(x), patterned.fold(x), atol=1e-5)
    into_pattern = nx.from_state_dict(patterned, nx.to_state_dict(plain))
    assert tree_allclose(into_pattern.fold(x), plain.fold(x), atol=1e-5)


def test_kind_shared_leaves_are_stored_once_under_the_first_layer_of_the_kind():
    stack, _ = gemma(12, shared={Global: "q"})
    state = nx.to_state_dict({"layers": stack})
    assert "layers.5.q.weight" in state
    assert "layers.11.q.weight" not in state
    assert "layers.11.k.weight" in state
    loaded = nx.from_state_dict({"layers": stack}, state)["layers"]
    assert tree_allclose(loaded, stack, atol=0)
    del state["layers.5.q.weight"]
    with pytest.raises(ValueError, match=r"1 key is missing: layers\.5\.q\.weight"):
        nx.from_state_dict({"layers": stack}, state)


# --- plain-array blocks --------------------------------------------------------------------


def test_equinox_blocks_with_plain_arrays():
    Layers = nx.Axis("layers", 4)

    def linear(*, key):
        return eqx.nn.Linear(3, 3, key=key)

    def tanh_linear(*, key):
        return eqx.nn.Sequential([eqx.nn.Linear(3, 3, key=key), eqx.nn.Lambda(jnp.tanh)])

    pattern = nn.Pattern(linear, tanh_linear)
    stack = nn.Stacked.init(Layers, pattern)(key=KEY)
    assert stack.stacked.blocks[0].weight.shape == (2, 3, 3)
    x = jnp.arange(3.0)
    assert tree_allclose(stack.fold(x), loop(stack.unstacked(), x), atol=1e-6)
    state = nx.to_state_dict(stack)
    assert state.keys() == nx.to_state_dict(nn.BlockSeq(stack.unstacked(), Layers)).keys()
    loaded = nx.from_state_dict(stack, state)
    assert tree_allclose(eqx.filter(loaded, eqx.is_array), eqx.filter(stack, eqx.is_array), atol=0)


# --- explain and tree utilities ------------------------------------------------------------


def test_explain_names_the_pattern_and_the_global_layers_of_each_leaf():
    Layers, E = nx.Axis("layers", 6), nx.Axis("embed", 2)
    pattern = nn.Pattern(nn.LayerNorm, nn.LayerNorm, nn.RmsNorm)
    stack = nn.Stacked.init(Layers, pattern, shared={nn.RmsNorm: "weight"})(E, use_bias=False)
    lines = stack.explain().splitlines()
    want = [
        "Stacked Pattern(LayerNorm*2, RmsNorm), 2 repeats, over layers(6): 2 per-layer leaves "
        "(8 values), 1 shared leaf (2 values)",
        "  layers  leaf               kind       named shape          dtype",
        "  0,3     .blocks[0].weight  per-layer  {layers:2, embed:2}  f32",
        "  1,4     .blocks[1].weight  per-layer  {layers:2, embed:2}  f32",
        "  2,5     .shared[1].weight  shared     {embed:2}            f32",
    ]
    assert len(lines) == len(want)
    for line, expected in zip(lines, want):
        assert line.startswith(expected)  # the mesh column follows when it is shown
    deep = nn.Stacked.init(nx.Axis("layers", 36), GEMMA, shared={Global: "q"})(Embed, key=KEY)
    rows = {line.split()[1]: line.split()[0] for line in deep.explain().splitlines()[2:]}
    assert rows[".blocks[0].q.weight"] == "0,6,...,30"
    assert rows[".shared[1].q.weight"] == "5,11,...,35"


def test_scan_aware_tree_map_maps_every_layer():
    stack, _ = gemma(12)
    doubled = nx.tree_util.scan_aware_tree_map(
        lambda x: x * 2 if isinstance(x, nx.NamedArray) else x, stack
    )
    for i in (0, 5, 11):
        assert tree_allclose(doubled.get_layer(i).q.weight, stack.get_layer(i).q.weight * 2)
