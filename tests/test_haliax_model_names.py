"""Names that Haliax-based model code (Levanter's models, layers and data loaders) imports.

Each is checked for behaviour, not only for existence: the protocol annotates real
stacks, the dot_general hook is the one `Linear` calls, the partitioning helpers give
the shardings that the mapping says.
"""

import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

import namedax as nx
from namedax import nn
from namedax.compat.haliax._src.util import index_where
from namedax.compat.haliax.nn.scan import BlockFoldable
from namedax.compat.haliax.partitioning import _get_mesh
from namedax.compat.haliax.quantization import (
    DefaultDotGeneralOp,
    DotGeneralOp,
    OverwriteWithGradient,
    QuantizationConfig,
    apply_updates,
    partition_for_grad_overwrite,
    quantize_linear_layers,
)
from namedax.compat.haliax.util import StringHolderEnum, is_jax_or_hax_array_like
from namedax.partitioning import context_mesh, sharding_for_axis

Layers, Embed, Out = nx.Axis("layers", 3), nx.Axis("embed", 4), nx.Axis("out", 2)


def test_block_foldable_annotates_stacked_and_blockseq_fields():
    class Model(eqx.Module):
        layers: BlockFoldable[nn.LayerNorm]

    x = nx.named(jnp.arange(4.0), Embed)
    for kind in (nn.Stacked, nn.BlockSeq):
        model = Model(kind.init(Layers, nn.LayerNorm)(Embed))
        np.testing.assert_allclose(
            model.layers.fold(x).array, nn.LayerNorm.init(Embed)(x).array, rtol=1e-5
        )
    assert nn.BlockFoldable is BlockFoldable


def test_dot_general_hook_is_what_linear_calls():
    calls = []

    def counting(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
        calls.append(dimension_numbers)
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type)

    key = jax.random.key(0)
    x = nx.named(jnp.arange(8.0).reshape(2, 4), ("batch", "embed"))
    plain = nn.Linear.init(Embed, Out, key=key)(x)
    via_hook = nn.Linear.init(Embed, Out, key=key, dot_general=counting)(x)
    via_default = nn.Linear.init(Embed, Out, key=key, dot_general=DotGeneralOp.default())(x)
    assert len(calls) == 1
    np.testing.assert_allclose(via_hook.array, plain.array, rtol=1e-6)
    np.testing.assert_allclose(via_default.array, plain.array, rtol=1e-6)
    assert DotGeneralOp.default() is DefaultDotGeneralOp.init()
    assert jax.tree_util.tree_leaves(DefaultDotGeneralOp.init()) == []  # no function leaves


class _RunningMax(OverwriteWithGradient):
    """State the backward pass computes: the gradient is the next value."""

    value: jax.Array


class _Scaled(eqx.Module):
    weight: jax.Array
    state: _RunningMax

    def __call__(self, x):
        return (x * self.weight).sum() + 0.0 * self.state.value


def test_overwrite_leaves_replace_and_the_rest_update_in_a_jitted_step():
    model = _Scaled(jnp.array([1.0, 2.0]), _RunningMax(jnp.array(0.0)))
    x = jnp.array([3.0, 4.0])

    @jax.jit
    def step(model, x):
        grads = jax.grad(lambda m: m(x))(model)
        grads = eqx.tree_at(lambda g: g.state.value, grads, jnp.max(x))  # what the op computes
        overwrites, updates = partition_for_grad_overwrite(grads)
        updates = jax.tree_util.tree_map(lambda g: -0.1 * g, updates)  # an SGD step
        return apply_updates(model, updates, overwrites)

    new = step(model, x)
    np.testing.assert_allclose(new.weight, [1.0 - 0.3, 2.0 - 0.4], rtol=1e-6)
    assert float(new.state.value) == 4.0  # overwritten, not 0.0 + update
    overwrites, updates = partition_for_grad_overwrite(jax.grad(lambda m: m(x))(model))
    assert overwrites.weight is None and updates.state is None


def test_quantization_config_and_trees_without_linear_layers():
    with pytest.raises(ValueError, match="fp8=True and int8=True together"):
        QuantizationConfig(fp8=True, int8=True)
    tree = {"w": jnp.ones(2)}
    with pytest.warns(UserWarning, match="neither fp8 nor int8 is set"):
        assert quantize_linear_layers(tree, QuantizationConfig()) is tree
    for config in (QuantizationConfig(fp8=True), QuantizationConfig(int8=True)):
        assert quantize_linear_layers(tree, config) == tree  # no Linear to quantise


def test_string_holder_enum_holds_plain_strings():
    class Strategy(metaclass=StringHolderEnum):
        FIRST = "first"
        ALL = "all"

        def helper(self):  # methods are not members
            return 1

        @staticmethod
        def other():
            return 2

    assert Strategy.FIRST == "first" and isinstance(Strategy.ALL, str)
    assert list(Strategy) == ["first", "all"] == Strategy.members
    assert "all" in Strategy and "restart" not in Strategy


def test_index_where_and_array_predicates():
    axes = nx.make_axes(a=1, b=2, c=3)
    assert index_where(lambda a: a.size > 1, axes) == 1
    assert index_where(lambda a: a.size > 1, axes, start=2) == 2
    with pytest.raises(ValueError, match=r"index_where: no element of the 3 given \(from index 1"):
        index_where(lambda a: a.size > 5, axes, start=1)
    assert is_jax_or_hax_array_like(nx.ones(Embed))
    assert is_jax_or_hax_array_like(np.zeros(2)) and is_jax_or_hax_array_like(jnp.zeros(()))
    assert not is_jax_or_hax_array_like([1.0]) and not is_jax_or_hax_array_like(1.0)


def test_sharding_for_axis_follows_the_mapping_and_the_context_mesh():
    mesh = jax.make_mesh((4, 2), ("data", "model"))
    got = sharding_for_axis(("batch", Embed), {"batch": "data", "embed": "model"}, mesh)
    assert got.spec == PartitionSpec("data", "model") and got.mesh is mesh
    with jax.set_mesh(mesh), nx.axis_mapping({"embed": "model"}):
        assert sharding_for_axis((Embed, "batch")).spec == PartitionSpec("model", None)
        assert _get_mesh() is context_mesh() and dict(context_mesh().shape) == {
            "data": 4,
            "model": 2,
        }
    with pytest.raises(ValueError, match="sharding_for_axis: no device mesh is set"):
        sharding_for_axis(("batch",), {})
    assert context_mesh().empty  # outside a mesh: JAX's empty mesh, not None


def test_haliax_top_level_and_submodule_paths_resolve():
    script = textwrap.dedent(
        """
        import namedax
        namedax.install_as_haliax()
        import haliax as hax
        import haliax.nn as hnn
        from haliax import NamedOrNumeric, ReductionFunction, Scalar, SimpleReductionFunction
        from haliax._src.scan import ScanCheckpointSpec, is_named_or_shaped_array_like
        from haliax._src.util import index_where
        from haliax.nn.scan import BlockFoldable, ScanCheckpointSpec as Spec2
        from haliax.quantization import DotGeneralOp
        from haliax.util import StringHolderEnum, is_jax_or_hax_array_like
        assert hax.shard_with_axis_mapping is namedax.partitioning.shard_with_axis_mapping
        assert hax.set_mesh is namedax.partitioning.set_mesh
        assert hax.quantization.DotGeneralOp is DotGeneralOp
        assert hax.partitioning.sharding_for_axis is namedax.partitioning.sharding_for_axis
        assert hax.partitioning._get_mesh().empty
        assert hnn.ScanCheckpointPolicy is namedax.ScanCheckpointPolicy
        assert hnn.Axis is namedax.Axis and hnn.NamedArray is namedax.NamedArray
        assert hax.concat_axis_specs(namedax.Axis("a", 1), {"b": 2}) == namedax.make_axes(a=1, b=2)
        assert ScanCheckpointSpec is Spec2
        from haliax.quantization import QuantizationConfig, apply_updates, partition_for_grad_overwrite
        from haliax.quantization import Fp8DotGeneralOp
        print("fp8:", Fp8DotGeneralOp is namedax.nn.Fp8DotGeneralOp)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "fp8: True" in out.stdout
