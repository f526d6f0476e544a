"""Per-layer randomness in Stacked/BlockSeq calls, plain-array arguments, carry realignment,
and dropout masks that do not depend on storage order."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import nn
from tests.helpers import assert_named_close

Layers, Embed, Batch = nx.Axis("layers", 3), nx.Axis("embed", 4), nx.Axis("batch", 5)
KEY = jax.random.key(0)


class Drop(eqx.Module):
    """A block whose output is its dropout mask (ones in, so the mask shows through)."""

    drop: nn.Dropout

    def __init__(self, *, key=None):
        self.drop = nn.Dropout(0.5)

    def __call__(self, x, *, key):
        return self.drop(x, key=key)


class Swap(eqx.Module):
    """A Linear that returns its output with the axes in the other order."""

    lin: nn.Linear

    def __init__(self, *, key):
        self.lin = nn.Linear.init(Embed, Embed, key=key)

    def __call__(self, x):
        y = self.lin(x)
        return y.rearrange(tuple(reversed(y.axis_names)))


def ones():
    return nx.ones((Batch, Embed))


def masks(stack, key):
    return stack.vmap(ones(), key=key)


def unrolled_masks(keys):
    return [nn.dropout(ones(), 0.5, inference=False, key=k) for k in keys]


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        jax.random.split(KEY, Layers.size),
        jax.random.key_data(jax.random.split(KEY, Layers.size)),
        nx.named(jax.random.split(KEY, Layers.size), Layers),
    ],
    ids=["one key", "typed split", "raw split", "named keys"],
)
def test_each_layer_gets_its_own_key_and_matches_the_unrolled_loop(key):
    stack = nn.Stacked.init(Layers, Drop)(key=KEY)
    got = masks(stack, key)
    if isinstance(key, nx.NamedArray):
        keys = list(key.array)
    elif key.ndim == 0:
        keys = list(jax.random.split(key, Layers.size))
    else:
        keys = [key[i] for i in range(Layers.size)]
    want = unrolled_masks(keys)
    for i in range(Layers.size):
        assert_named_close(got["layers", i], want[i].array, ("batch", "embed"))
    assert not np.array_equal(got["layers", 0].array, got["layers", 1].array)


def test_fold_gives_every_layer_another_mask_deterministically():
    stack = nn.Stacked.init(Layers, Drop)(key=KEY)
    seq = nn.BlockSeq.init(Layers, Drop)(key=KEY)
    carry = ones()
    keys = jax.random.split(KEY, Layers.size)
    want = carry
    for k in keys:
        want = nn.dropout(want, 0.5, inference=False, key=k)
    for run in (stack.fold, eqx.filter_jit(lambda c, key: stack.fold(c, key=key)), seq.fold):
        assert_named_close(run(carry, key=KEY), want.array, ("batch", "embed"))
    # the same key gives the same result; a shared mask would keep values in {0, 2}
    np.testing.assert_array_equal(
        stack.fold(carry, key=KEY).array, stack.fold(carry, key=KEY).array
    )
    assert set(np.unique(np.asarray(want.array)).tolist()) - {0.0, 2.0}


def test_blockseq_gives_the_same_keys_as_stacked():
    stack = nn.Stacked.init(Layers, Drop)(key=KEY)
    seq = nn.BlockSeq.init(Layers, Drop)(key=KEY)
    for key in (KEY, jax.random.split(KEY, Layers.size)):
        np.testing.assert_array_equal(masks(stack, key).array, masks(seq, key).array)


def test_a_raw_key_of_the_wrong_length_says_to_split_it():
    stack = nn.Stacked.init(Layers, Drop)(key=KEY)
    with pytest.raises(ValueError, match=r"Stacked.fold: kwargs\['key'\] .* shape \(2,\).*split"):
        stack.fold(ones(), key=jax.random.PRNGKey(0))


def test_dropout_accepts_a_0d_named_key_and_rejects_several():
    key = nx.named(jax.random.split(KEY, 2), "k")
    out = nn.Dropout(0.5)(ones(), key=key["k", 1])
    want = nn.dropout(ones(), 0.5, inference=False, key=jax.random.split(KEY, 2)[1])
    np.testing.assert_array_equal(out.array, want.array)
    with pytest.raises(ValueError, match=r"dropout: key is a NamedArray of keys \{k:2\}"):
        nn.Dropout(0.5)(ones(), key=key)


def test_dropout_mask_does_not_depend_on_storage_order():
    x = nx.named(jnp.arange(1.0, 21.0).reshape(5, 4), (Batch, Embed))
    a = nn.dropout(x, 0.5, inference=False, key=KEY)
    b = nn.dropout(x.rearrange(("embed", "batch")), 0.5, inference=False, key=KEY)
    assert_named_close(b, a.array, ("batch", "embed"))
    c = nn.dropout(x, 0.5, "batch", inference=False, key=KEY)
    d = nn.dropout(x.rearrange(("embed", "batch")), 0.5, "batch", inference=False, key=KEY)
    assert_named_close(d, c.array, ("batch", "embed"))
    assert np.all((np.asarray(c.array) == 0).sum(0) % 5 == 0)  # one decision per embed column


def test_independent_permutation_does_not_depend_on_storage_order():
    x = nx.named(jnp.arange(20).reshape(5, 4), (Batch, Embed))
    a = nx.random.permutation(KEY, x, "batch", independent=True)
    b = nx.random.permutation(KEY, x.rearrange(("embed", "batch")), "batch", independent=True)
    assert_named_close(b, a.array, ("batch", "embed"))


def test_fold_restores_the_carry_order_by_name():
    x = nx.named(jnp.arange(20.0).reshape(4, 5), (Embed, Batch))
    stack = nn.Stacked.init(Layers, Swap)(key=KEY)
    seq = nn.BlockSeq.init(Layers, Swap)(key=KEY)
    want = x
    for layer in stack.unstacked():
        want = layer.lin(want)
    for out in (stack.fold(x), seq.fold(x), jax.jit(lambda m, x: m.fold(x))(stack, x)):
        assert out.axes == x.axes
        assert_named_close(out, want.rearrange(("embed", "batch")).array, ("embed", "batch"))


def test_fold_still_rejects_a_carry_whose_axes_change():
    class Shrink(eqx.Module):
        def __call__(self, x):
            return x["batch", 0:2]

    stack = nn.Stacked(Shrink(), Layers)
    with pytest.raises(ValueError, match=r"Stacked.fold: the block must return the next carry"):
        stack.fold(nx.ones((Batch, Embed)))


# --- Stacked.init: plain-array arguments and invalid keys ---------------------------------


class _Scaled(eqx.Module):
    weight: nx.NamedArray
    scale: jax.Array

    def __call__(self, x):
        return x * self.scale + self.weight

    @staticmethod
    def init(weight, scale):
        return _Scaled(weight, scale)


def test_init_slices_plain_array_arguments_along_their_first_dimension():
    Layers, Embed = nx.Axis("layers", 4), nx.Axis("embed", 3)
    weight = nx.named(jnp.arange(12.0).reshape(4, 3), (Layers, Embed))
    scale = jnp.array([1.0, 2.0, 3.0, 4.0])
    stack = nn.Stacked.init(Layers, _Scaled)(weight, scale)
    assert stack.stacked.scale.shape == (4,)
    seq = nn.BlockSeq.init(Layers, _Scaled)(weight, scale)
    for i in range(4):
        assert stack.get_layer(i).scale.shape == ()
        np.testing.assert_array_equal(stack.get_layer(i).scale, scale[i])
        np.testing.assert_array_equal(seq.blocks[i].scale, scale[i])
        assert_named_close(stack.get_layer(i).weight, np.asarray(weight.array)[i])
    x = nx.named(jnp.ones(3), Embed)
    expected = np.ones(3)
    for i in range(4):
        expected = expected * float(scale[i]) + np.asarray(weight.array)[i]
    assert_named_close(stack.fold(x), expected)
    assert_named_close(seq.fold(x), expected)


def test_init_passes_zero_d_and_unnamed_arguments_to_every_layer():
    Layers, Embed = nx.Axis("layers", 3), nx.Axis("embed", 2)
    stack = nn.Stacked.init(Layers, _Scaled)(nx.ones(Embed), jnp.float32(5.0))
    assert stack.stacked.weight.axes == (Layers, Embed)
    np.testing.assert_array_equal(stack.stacked.scale, np.full(3, 5.0))


def test_init_rejects_a_plain_array_of_the_wrong_length():
    Layers, Embed = nx.Axis("layers", 4), nx.Axis("embed", 3)
    with pytest.raises(
        ValueError, match=r"Stacked.init: args\[1\] is a plain array of shape \(3,\).*size 4"
    ):
        nn.Stacked.init(Layers, _Scaled)(nx.ones(Embed), jnp.ones(3))


@pytest.mark.parametrize(
    "key", [np.zeros(3, np.float32), np.zeros((4, 3), np.uint32), np.zeros(5, np.int8)]
)
def test_init_rejects_raw_keys_the_prng_cannot_use(key):
    Layers, Embed = nx.Axis("layers", 4), nx.Axis("embed", 3)
    with pytest.raises(TypeError, match=r"^Stacked.init: key must be a PRNG key.*not raw key data"):
        nn.Stacked.init(Layers, nn.Linear)(Embed, Embed, key=key)
