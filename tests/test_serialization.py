"""State dicts: flat dotted keys, Stacked unstacked per layer, bit-exact save/load, errors."""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
import zipfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import namedax as nx
from namedax import Axis
from namedax.serialization import load_state_dict, save_state_dict

from .helpers import in_order

Embed, Hidden, Layers = Axis("embed", 3), Axis("hidden", 5), Axis("layers", 4)
KEY = jax.random.key(0)


def _assert_identical(a, b):
    """Same structure, same axes, same dtypes and bit-identical values."""
    la, ta = jax.tree_util.tree_flatten(a, is_leaf=nx.is_named_array)
    lb, tb = jax.tree_util.tree_flatten(b, is_leaf=nx.is_named_array)
    assert ta == tb
    for x, y in zip(la, lb):
        assert type(x) is type(y)
        if isinstance(x, nx.NamedArray):
            assert x.axes == y.axes
            x, y = x.array, y.array
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), strict=True)


class Block(eqx.Module):
    proj: nx.nn.Linear
    norm: nx.nn.LayerNorm

    def __init__(self, *, key):
        self.proj = nx.nn.Linear.init(Embed, Embed, key=key)
        self.norm = nx.nn.LayerNorm.init(Embed)

    def __call__(self, x):
        return self.norm(nx.nn.relu(self.proj(x)))


class Model(eqx.Module):
    embed: nx.nn.Linear
    layers: nx.nn.Stacked
    scale: jax.Array
    name: str = eqx.field(static=True, default="model")


def _model(shared=None):
    k1, k2 = jax.random.split(KEY)
    layers = nx.nn.Stacked.init(Layers, Block, shared=shared)(key=k2)
    return Model(nx.nn.Linear.init(Hidden, Embed, key=k1), layers, jnp.arange(2.0))


def _perturbed(tree):
    """The same tree with every array changed, so that a load visibly replaces values."""
    return jax.tree_util.tree_map(lambda x: x + 1 if isinstance(x, jax.Array) else x, tree)


# --- to_state_dict --------------------------------------------------------------------------


def test_keys_are_dotted_paths_with_positional_values():
    layer = nx.nn.Linear.init(Hidden, Embed, key=KEY)
    state = nx.to_state_dict({"enc": [layer, jnp.ones(2)], "w": nx.ones((Embed, Hidden))})
    assert sorted(state) == ["enc.0.bias", "enc.0.weight", "enc.1", "w"]
    assert state["enc.0.weight"] is layer.weight.array
    assert state["w"].shape == (3, 5)
    assert all(isinstance(v, jax.Array) for v in state.values())


def test_prefix_is_prepended():
    state = nx.to_state_dict(nx.nn.LayerNorm.init(Embed), prefix="model.norm")
    assert sorted(state) == ["model.norm.bias", "model.norm.weight"]


@pytest.mark.parametrize("shared", [None, "norm", True])
def test_stacked_is_stored_layer_by_layer_and_shared_leaves_once(shared):
    model = _model(shared)
    state = nx.to_state_dict(model)
    per_layer = {"norm": ["proj.bias", "proj.weight"], True: [], None: None}[shared]
    if per_layer is None:
        per_layer = ["norm.bias", "norm.weight", "proj.bias", "proj.weight"]
    shared_keys = sorted({"proj.bias", "proj.weight", "norm.bias", "norm.weight"} - set(per_layer))
    expected = {f"layers.{i}.{p}" for i in range(Layers.size) for p in per_layer}
    expected |= {f"layers.{p}" for p in shared_keys}
    expected |= {"embed.weight", "embed.bias", "scale"}
    assert set(state) == expected
    for i in range(Layers.size):
        layer = model.layers.get_layer(i)
        for p in per_layer:
            leaf = layer
            for part in p.split("."):
                leaf = getattr(leaf, part)
            np.testing.assert_array_equal(state[f"layers.{i}.{p}"], leaf.array, strict=True)


def test_a_per_layer_stacked_and_the_equivalent_blockseq_have_equal_state_dicts():
    stack = nx.nn.Stacked.init(Layers, Block)(key=KEY)
    seq = nx.nn.BlockSeq.init(Layers, Block)(key=KEY)
    a, b = nx.to_state_dict({"layers": stack}), nx.to_state_dict({"layers": seq})
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    _assert_identical(nx.from_state_dict({"layers": seq}, a), {"layers": seq})
    _assert_identical(nx.from_state_dict({"layers": stack}, b), {"layers": stack})


def test_stacked_plain_array_blocks_drop_the_leading_dimension():
    stack = nx.nn.Stacked.init(Layers, eqx.nn.Linear)(2, 3, key=KEY)
    state = nx.to_state_dict(stack, prefix="layers")
    assert state["layers.1.weight"].shape == (3, 2)
    np.testing.assert_array_equal(state["layers.1.weight"], stack.stacked.weight[1])
    _assert_identical(nx.from_state_dict(_perturbed(stack), state, prefix="layers"), stack)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [None, "norm", True])
def test_round_trip_is_bit_exact_for_a_model_with_a_stack(shared):
    model = _model(shared)
    state = nx.to_state_dict(model)
    restored = nx.from_state_dict(_perturbed(model), state)
    _assert_identical(restored, model)
    assert restored.name == "model"
    x = nx.ones(Embed)
    np.testing.assert_array_equal(restored.layers.fold(x).array, model.layers.fold(x).array)


def test_round_trip_restacks_along_layers_wherever_it_sits():
    stack = nx.nn.Stacked.init(Layers, Block)(key=KEY)
    weight = stack.stacked.proj.weight
    moved = eqx.tree_at(
        lambda s: s.stacked.proj.weight, stack, in_order(weight, ("embed", "layers", "embed_in"))
    )
    state = nx.to_state_dict(moved)
    np.testing.assert_array_equal(state["2.proj.weight"], weight.array[2])
    _assert_identical(nx.from_state_dict(_perturbed(moved), state), moved)


def test_loading_into_an_abstract_template():
    model = _model("norm")
    template = eqx.filter_eval_shape(_model, "norm")
    _assert_identical(nx.from_state_dict(template, nx.to_state_dict(model)), model)


def test_values_are_cast_to_the_template_dtype():
    norm = nx.nn.LayerNorm.init(Embed)
    state = {k: np.asarray(v, dtype=np.float64) + 0.5 for k, v in nx.to_state_dict(norm).items()}
    restored = nx.from_state_dict(norm, state)
    assert restored.weight.dtype == jnp.float32
    np.testing.assert_array_equal(restored.weight.array, np.full(3, 1.5, np.float32))


def test_one_state_dict_holds_several_models_under_prefixes():
    a, b = nx.nn.Linear.init(Embed, Hidden, key=KEY), nx.nn.LayerNorm.init(Hidden)
    state = nx.to_state_dict(a, prefix="a") | nx.to_state_dict(b, prefix="b")
    _assert_identical(nx.from_state_dict(_perturbed(a), state, prefix="a"), a)
    _assert_identical(nx.from_state_dict(_perturbed(b), state, prefix="b"), b)


_orders = st.permutations(("a", "b", "c")).map(tuple)


@settings(max_examples=15, deadline=None)
@given(
    orders=st.lists(_orders, min_size=1, max_size=4),
    dtype=st.sampled_from([jnp.float32, jnp.bfloat16, jnp.int8, jnp.bool_, jnp.float16]),
    nest=st.sampled_from(["list", "dict", "tuple"]),
)
def test_random_trees_round_trip_bit_exactly_through_a_file(tmp_path_factory, orders, dtype, nest):
    sizes = {"a": 2, "b": 3, "c": 1}
    key = jax.random.key(len(orders))
    leaves = [
        nx.named(
            jax.random.normal(jax.random.fold_in(key, i), tuple(sizes[n] for n in order)).astype(
                dtype
            ),
            order,
        )
        for i, order in enumerate(orders)
    ]
    tree = {
        "list": leaves,
        "dict": {f"k{i}": x for i, x in enumerate(leaves)},
        "tuple": tuple(leaves),
    }[nest]
    path = tmp_path_factory.mktemp("state") / "tree.npz"
    save_state_dict(nx.to_state_dict(tree, prefix="p"), path)
    loaded = load_state_dict(path)
    template = jax.tree_util.tree_map(lambda x: nx.zeros_like(x), tree, is_leaf=nx.is_named_array)
    _assert_identical(nx.from_state_dict(template, loaded, prefix="p"), tree)


def test_save_and_load_keep_dtypes_numpy_lacks(tmp_path):
    state = {
        "bf16": jnp.array([1.5, -2.25], jnp.bfloat16),
        "f8": jnp.array([0.5, 2.0], jnp.float8_e4m3fn),
        "i32": jnp.arange(3),
        "bool": jnp.array([True, False]),
        "scalar": jnp.float32(3.0),
    }
    save_state_dict(state, tmp_path / "s.npz")
    loaded = load_state_dict(tmp_path / "s.npz")
    assert loaded.keys() == state.keys()
    for k in state:
        assert loaded[k].dtype == state[k].dtype
        np.testing.assert_array_equal(np.asarray(loaded[k]), np.asarray(state[k]))


# --- errors ---------------------------------------------------------------------------------


def test_missing_keys_are_listed_with_their_named_shapes():
    model = _model()
    state = nx.to_state_dict(model)
    del state["layers.2.proj.weight"], state["scale"]
    with pytest.raises(
        ValueError,
        match=re.escape(
            "from_state_dict: 2 keys are missing: layers.2.proj.weight ({embed:3, embed_in:3}, "
            "shape (3, 3), float32), scale (shape (2,), float32). The state dict has: "
        ),
    ):
        nx.from_state_dict(model, state)


def test_extra_keys_are_listed():
    norm = nx.nn.LayerNorm.init(Embed)
    state = nx.to_state_dict(norm) | {"gamma": jnp.ones(3)}
    with pytest.raises(
        ValueError, match=r"1 key is not in the template: gamma \(is the template the same model"
    ):
        nx.from_state_dict(norm, state)


def test_shape_mismatches_name_the_key_the_expected_named_shape_and_the_shape_got():
    stack = nx.nn.Stacked.init(Layers, Block)(key=KEY)
    state = nx.to_state_dict(stack, prefix="layers")
    state["layers.1.norm.weight"] = jnp.ones(4)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "1 shape mismatch: layers.1.norm.weight: expected ({embed:3}, shape (3,), float32), got shape (4,)"
        ),
    ):
        nx.from_state_dict(stack, state, prefix="layers")


def test_wrong_kinds_of_arguments_are_type_errors(tmp_path):
    norm = nx.nn.LayerNorm.init(Embed)
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        nx.from_state_dict(norm, [jnp.ones(3)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefix must be a str or None, got int"):
        nx.to_state_dict(norm, prefix=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"values must be positional arrays"):
        save_state_dict({"w": nx.ones(Embed)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"jax.random.key_data"):
        save_state_dict({"k": jax.random.key(0)}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="is reserved"):
        save_state_dict({"__namedax_dtypes__": jnp.ones(1)}, tmp_path / "x.npz")


# --- duplicate keys -------------------------------------------------------------------------


class _Dotted(eqx.Module):
    a: dict
    b: jax.Array

    def _state_dict_key_map(self):
        return {"b": "a.x"}  # a field renamed onto a key that `a` also makes


@pytest.mark.parametrize(
    ("tree", "key", "paths"),
    [
        ({"a.b": jnp.zeros(2), "a": {"b": jnp.ones(2)}}, "a.b", "tree['a']['b'] and tree['a.b']"),
        ({"l": [jnp.zeros(2)], "l.0": jnp.ones(2)}, "l.0", "tree['l'][0] and tree['l.0']"),
    ],
)
def test_leaves_with_the_same_dotted_key_are_refused(tree, key, paths):
    with pytest.raises(ValueError, match=re.escape(f"two leaves have the key '{key}' ({paths})")):
        nx.to_state_dict(tree)
    for state in ({}, {key: jnp.full(2, 7.0)}):  # before: both leaves silently read one value
        with pytest.raises(
            ValueError, match=re.escape(f"1 key is read by two template leaves: {key}")
        ):
            nx.from_state_dict(tree, state)


def test_a_renamed_field_colliding_with_a_nested_key_is_refused():
    module = _Dotted({"x": jnp.zeros(2)}, jnp.ones(2))
    with pytest.raises(ValueError, match=re.escape("two leaves have the key 'a.x'")):
        nx.to_state_dict(module)
    with pytest.raises(ValueError, match=re.escape("1 key is read by two template leaves: a.x")):
        nx.from_state_dict(module, {"a.x": jnp.ones(2)})


# --- npz files that lie ---------------------------------------------------------------------


def _npz(path, **members):
    """An npz written by NumPy itself, members as given (`dtypes` becomes the dtype table)."""
    table = members.pop("dtypes", None)
    if table is not None:
        members["__namedax_dtypes__"] = np.array(
            table if isinstance(table, str) else json.dumps(table)
        )
    np.savez(path, **members)
    return path


def _npz_refused(path, *details):
    pattern = re.escape(f"load_state_dict: {path} is truncated or corrupted") + ".*"
    with pytest.raises(ValueError, match=pattern + ".*".join(re.escape(d) for d in details)):
        load_state_dict(path)


def test_a_dtype_table_that_disagrees_with_the_array_is_refused(tmp_path):
    path = _npz(tmp_path / "m.npz", w=np.arange(3, dtype=np.uint32), dtypes={"w": "bfloat16"})
    # before: the (3,) uint32 came back as a (6,) bfloat16
    _npz_refused(
        path,
        "leaf 'w': the dtype table says bfloat16, which is stored as uint16, but the stored array is uint32 of shape (3,)",
    )


@pytest.mark.parametrize(
    ("members", "detail"),
    [
        (
            {"w": np.array(["a", "bc"])},
            "leaf 'w': it holds <U2; a state dict holds numeric arrays only",
        ),
        ({"w": np.array([b"a"])}, "leaf 'w': it holds |S1"),
        (
            {"w": np.array([{"a": 1}], dtype=object)},
            "leaf 'w': it holds objects (which would need unpickling)",
        ),
        ({"w": np.zeros(2, dtype=[("x", "f4")])}, "leaf 'w': it holds [('x', '<f4')]"),
        ({"w": np.zeros(2, "datetime64[D]")}, "leaf 'w': it holds datetime64[D]"),
        (
            {"w": np.zeros(2, np.float32), "dtypes": {}},
            "leaf 'w': the dtype table has no entry for it",
        ),
        (
            {"w": np.zeros(2, np.float32), "dtypes": {"w": "float32", "v": "float32"}},
            "leaf 'v': the dtype table lists it",
        ),
        (
            {"w": np.zeros(2, np.float32), "dtypes": {"w": "str"}},
            "leaf 'w': the dtype table names 'str', which is not a numeric dtype",
        ),
        (
            {"w": np.zeros(2, np.float32), "dtypes": {"w": "nonsense"}},
            "leaf 'w': the dtype table names 'nonsense'",
        ),
        (
            {"w": np.zeros(2, np.float32), "dtypes": {"w": 3}},
            "the dtype table is not a JSON object of dtype names",
        ),
        (
            {"w": np.zeros(2, np.float32), "dtypes": "[1"},
            "leaf '__namedax_dtypes__': the dtype table is not JSON",
        ),
        ({"w": np.zeros(2, np.float32), "dtypes": "null"}, "the dtype table is not a JSON object"),
        (
            {"w": np.zeros(2, np.float32), "__namedax_dtypes__": np.zeros(2)},
            "the dtype table is a float64 array of shape (2,), not one string",
        ),
    ],
)
def test_npz_members_that_are_not_numeric_arrays_are_refused(tmp_path, members, detail):
    _npz_refused(_npz(tmp_path / "m.npz", **members), detail)


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a repeated name
        for name, body in members:
            archive.writestr(name, body)
    return path


def _npy(array):
    out = io.BytesIO()
    np.lib.format.write_array(out, array)
    return out.getvalue()


def test_npz_archive_structure_is_checked(tmp_path):
    one = _npy(np.zeros(2, np.float32))
    _npz_refused(
        _zip(tmp_path / "a.npz", [("w.npy", one), ("w.npy", one)]),
        "leaf 'w': the archive holds two members named 'w.npy'",
    )
    _npz_refused(
        _zip(tmp_path / "b.npz", [("w.npy", one), ("notes.txt", b"hi")]),
        "the member 'notes.txt' is not a .npy array",
    )
    _npz_refused(
        _zip(tmp_path / "c.npz", [("w.npy", one[:-3])]),
        "leaf 'w': its .npy header says shape (2,) float32 (8 bytes), but the member holds 5 bytes",
    )
    header_lies = one.replace(b"(2,)", b"(9,)")
    _npz_refused(
        _zip(tmp_path / "d.npz", [("w.npy", header_lies)]),
        "leaf 'w': its .npy header says shape (9,)",
    )
    negative = one.replace(b"(2,)", b"(-2,)").replace(b"  \n", b" \n")
    _npz_refused(_zip(tmp_path / "e.npz", [("w.npy", negative)]), "leaf 'w'")
    plain = tmp_path / "f.npz"
    np.save(plain, np.zeros(3))  # a .npy, not an archive
    (tmp_path / "f.npz.npy").rename(plain)
    _npz_refused(plain, "it is not a complete zip archive")
    pickled = tmp_path / "g.npz"
    pickled.write_bytes(pickle.dumps({"w": np.zeros(2)}))
    _npz_refused(pickled, "it is not a complete zip archive")
    encrypted = tmp_path / "h.npz"
    data = bytearray(_zip(tmp_path / "h0.npz", [("w.npy", one)]).read_bytes())
    data[6] |= 1  # the local header's "encrypted" flag
    at = data.rfind(b"PK\x01\x02") + 8
    data[at] |= 1  # and the central directory's
    encrypted.write_bytes(bytes(data))
    _npz_refused(encrypted, "leaf 'w': the member is encrypted")


def test_keys_that_are_numpy_savez_parameters_round_trip(tmp_path):
    # np.savez(file, allow_pickle=..., **kwds) would swallow or reject these keys
    state = {"allow_pickle": jnp.arange(2.0), "file": jnp.ones(3), "args": jnp.zeros(1)}
    save_state_dict(state, tmp_path / "m.npz")
    loaded = load_state_dict(tmp_path / "m.npz")
    assert sorted(loaded) == sorted(state)
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key], value, strict=True)


def test_non_numeric_values_are_refused_on_save_and_nothing_is_pickled(tmp_path):
    with pytest.raises(
        TypeError,
        match=r"the value at 'w' has dtype object; a state dict holds numeric arrays only",
    ):
        save_state_dict({"w": np.array([{"a": 1}], dtype=object)}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="the value at 's' has dtype <U1"):
        save_state_dict({"s": np.array(["a"])}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="state dict keys must be strings, got the key 0"):
        save_state_dict({0: np.zeros(1)}, tmp_path / "m.npz")  # pyright: ignore[reportArgumentType]  # the error is the point
    assert not list(tmp_path.iterdir())


def test_plain_numpy_archives_load_and_fortran_and_big_endian_arrays_are_read_right(tmp_path):
    fortran = np.asfortranarray(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    big = np.arange(4, dtype=">i4")
    path = _npz(tmp_path / "m.npz", f=fortran, b=big)
    loaded = load_state_dict(path)
    np.testing.assert_array_equal(loaded["f"], fortran, strict=False)
    assert loaded["b"].dtype == jnp.int32
    np.testing.assert_array_equal(loaded["b"], big)


def test_64_bit_integers_beyond_32_bits_are_not_wrapped_in_npz(tmp_path):
    path = tmp_path / "m.npz"
    save_state_dict({"t": np.array([2**40], np.int64)}, path)
    if not jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]  # a dynamic flag
        with pytest.raises(
            ValueError, match=rf"{re.escape(str(path))} at leaf 't' holds int64 values beyond int32"
        ):
            load_state_dict(path)


# --- loading casts only where no value changes ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "dtype", "detail"),
    [
        (
            np.full(3, 1.5, np.float32),
            jnp.int32,
            "float32 values and the template is int32: a float to integer cast truncates",
        ),
        (np.full(3, 1.5, np.float32), jnp.bool_, "a float to bool cast truncates"),
        (np.full(3, 1 + 1j, np.complex64), jnp.float32, "drops the imaginary part"),
        (
            np.array([1, 2, 300]),
            jnp.int8,
            "int64 values outside the range of the template dtype int8",
        ),
        (
            np.array([-1, 0, 1], np.int32),
            jnp.uint32,
            "outside the range of the template dtype uint32",
        ),
        (np.array(["a", "b", "c"]), jnp.float32, "which are not numbers"),
    ],
)
def test_casts_that_would_change_values_are_refused(value, dtype, detail):
    with pytest.raises(ValueError, match=re.escape(detail)):
        nx.from_state_dict({"w": jnp.zeros(3, dtype)}, {"w": value})


def test_casts_that_keep_values_are_allowed():
    loaded = nx.from_state_dict(
        {"a": jnp.zeros(3, jnp.int8), "b": jnp.zeros(3, jnp.bfloat16), "c": jnp.zeros(3)},
        {"a": np.array([1, 2, 3]), "b": np.ones(3, np.float32), "c": np.array([True, False, True])},
    )
    assert loaded["a"].dtype == jnp.int8 and loaded["b"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(loaded["c"], np.array([1.0, 0.0, 1.0], np.float32))


# --- sharding -------------------------------------------------------------------------------


def test_leaves_loaded_from_npz_land_on_the_template_sharding(tmp_path):
    mesh = jax.make_mesh((8,), ("data",))
    spec = jax.sharding.PartitionSpec
    rows = jax.sharding.NamedSharding(mesh, spec("data"))
    cols = jax.sharding.NamedSharding(mesh, spec(None, "data"))
    Batch = Axis("batch", 8)
    template = {
        "w": nx.named(jax.device_put(jnp.zeros((8, 3)), rows), (Batch, Embed)),
        "p": jax.device_put(jnp.zeros((2, 16)), cols),
        "r": jax.device_put(jnp.zeros(5), jax.sharding.NamedSharding(mesh, spec())),
    }
    path = tmp_path / "m.npz"
    save_state_dict(nx.to_state_dict(_perturbed(template)), path)
    loaded = nx.from_state_dict(template, load_state_dict(path))
    assert loaded["w"].array.sharding == rows
    assert loaded["p"].sharding == cols
    assert loaded["r"].sharding == template["r"].sharding
    _assert_identical(loaded, _perturbed(template))


def test_compressed_numpy_archives_load(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, w=np.arange(1000, dtype=np.int16), b=np.ones((3, 2), np.float32))
    loaded = load_state_dict(path)
    np.testing.assert_array_equal(loaded["w"], np.arange(1000, dtype=np.int16), strict=True)
    np.testing.assert_array_equal(loaded["b"], np.ones((3, 2), np.float32), strict=True)


def test_integer_narrowing_checks_sharded_values_where_they_live():
    mesh = jax.make_mesh((8,), ("data",))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    fits = jax.device_put(jnp.arange(8, dtype=jnp.int32), rows)
    loaded = nx.from_state_dict({"w": jnp.zeros(8, jnp.int8)}, {"w": fits})
    assert loaded["w"].dtype == jnp.int8
    too_big = jax.device_put(jnp.arange(8, dtype=jnp.int32) * 100, rows)
    with pytest.raises(
        ValueError, match="int32 values outside the range of the template dtype int8"
    ):
        nx.from_state_dict({"w": jnp.zeros(8, jnp.int8)}, {"w": too_big})


def test_a_leaf_colliding_with_a_stacked_layer_key_is_refused():
    stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm)(Embed)
    tree = {"layers": stack, "layers.0.weight": jnp.zeros(3)}
    message = "two leaves have the key 'layers.0.weight' (tree['layers.0.weight'] and a leaf laid out by a layer stack"
    with pytest.raises(ValueError, match=re.escape(message)):
        nx.to_state_dict(tree)
