"""How NamedArrays print and display: repr, Equinox module reprs, notebook HTML, treescope."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import namedax as nx
from namedax import Axis, named
from namedax.core._display import short_dtype, short_form

KEY = jax.random.key(0)


def test_scalar_prints_on_one_line_with_its_own_digits():
    for dtype, value, text in [
        (jnp.float32, 2.3025851, "2.3025851"),
        (jnp.bfloat16, 2.3, "2.29688"),
        (jnp.int32, 7, "7"),
        (jnp.bool_, True, "True"),
    ]:
        x = named(jnp.asarray(value, dtype), ())
        assert repr(x) == f"NamedArray({short_dtype(dtype)}{{}}, {text})"
        assert str(x) == repr(x)


def test_short_vector_on_one_line_matrix_on_several():
    v = named(jnp.arange(4.0), "a")
    assert repr(v) == "NamedArray(f32{a:4}, [0. 1. 2. 3.])"
    m = named(jnp.arange(6.0).reshape(2, 3), ("a", "b"))
    assert repr(m) == "NamedArray(f32{a:2, b:3},\n[[0. 1. 2.]\n [3. 4. 5.]])"
    long = named(jnp.arange(40.0) / 7, "a")  # one row of values would be too wide
    assert repr(long).startswith("NamedArray(f32{a:40},\n[")
    big = named(jnp.zeros((20, 20)), ("x", "y"))
    assert repr(big) == "NamedArray(f32{x:20, y:20})"


def test_repr_under_jit_names_the_tracer():
    seen = []
    jax.jit(lambda x: seen.append(repr(x)) or x)(named(jnp.zeros(3), "a"))
    assert seen[0].startswith("NamedArray(f32{a:3}, ") and "Tracer" in seen[0]


def test_module_repr_shows_arrays_short():
    In, Out = Axis("embed", 3), Axis("hidden", 64)
    layer = nx.nn.Linear.init(In, Out, key=KEY)
    text = repr(layer)
    assert "weight=f32{hidden:64, embed:3}" in text
    assert "bias=f32{hidden:64}" in text
    assert len(text.splitlines()) < 12  # not the 192 weights
    assert "0." not in text.split("In=")[0]

    class Holder(eqx.Module):
        x: nx.NamedArray

    assert repr(Holder(named(jnp.ones((2, 3), jnp.int8), ("a", "b")))).endswith(
        "Holder(x=i8{a:2, b:3})"
    )
    long = eqx.tree_pformat(Holder(named(jnp.ones(2), "a")), short_arrays=False)
    assert "NamedArray(f32{a:2}, [1. 1.])" in long


def test_stacked_repr_is_short():
    Layers, Embed = Axis("layers", 12), Axis("embed", 32)
    stack = nx.nn.Stacked.init(Layers, nx.nn.LayerNorm)(Embed)
    assert "f32{layers:12, embed:32}" in repr(stack)


def test_short_form_and_dtype_names():
    x = named(jnp.zeros((12, 32), jnp.bfloat16), ("layers", "embed"))
    assert short_form(x) == "bf16{layers:12, embed:32}"
    assert [short_dtype(d) for d in (jnp.float16, jnp.uint8, jnp.complex64, bool)] == [
        "f16",
        "u8",
        "c64",
        "bool",
    ]


def test_html_shows_named_shape_dtype_and_preview():
    x = named(jnp.arange(6.0).reshape(2, 3), ("batch", "embed"))
    page = x._repr_html_()
    assert "f32{batch:2, embed:3}" in page and "dtype float32" in page
    assert "<code>batch</code></td><td>2</td>" in page
    assert np.array2string(np.asarray(x.array)) in page
    assert "white-space: pre" in page
    assert "mesh" not in page  # not sharded: no mesh column


def test_html_escapes_and_summarises_large_arrays():
    big = named(jnp.zeros((200, 300)), ("rows", "cols"))
    page = big._repr_html_()
    assert "..." in page and len(page) < 4000
    huge = named(jnp.zeros((1000, 1000)), ("rows", "cols"))
    assert "not previewed" in huge._repr_html_()


def test_html_shows_mesh_axes_of_a_sharded_array():
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    x = named(jnp.zeros((4, 8)), ("batch", "embed"))
    with nx.partitioning.axis_mapping({"embed": "model"}):
        sharded = nx.partitioning.shard(x, mesh=mesh)
    page = sharded._repr_html_()
    assert "<th>mesh</th>" in page
    assert "<code>embed</code></td><td>8</td><td><code>model</code>" in page
    assert "<code>batch</code></td><td>4</td><td><code>-</code>" in page


def test_html_of_a_traced_array():
    seen = []
    jax.jit(lambda x: seen.append(x._repr_html_()) or x)(named(jnp.zeros(3), "a"))
    assert "traced" in seen[0] and "f32{a:3}" in seen[0]


def test_repr_html_is_found_on_instances_only():
    # IPython looks display methods up on the instance; treescope's check on the class
    # must not find it, or it would embed this HTML under every array of a tree.
    x = named(jnp.zeros(2), "a")
    assert callable(x._repr_html_)
    assert not hasattr(nx.NamedArray, "_repr_html_")


def test_ipython_formatter_uses_html():
    formatters = pytest.importorskip("IPython.core.formatters")
    x = named(jnp.zeros(2), "a")
    assert "f32{a:2}" in formatters.HTMLFormatter()(x)


def test_treescope_shows_axis_names():
    treescope = pytest.importorskip("treescope")
    In, Out = Axis("embed", 3), Axis("hidden", 64)
    layer = nx.nn.Linear.init(In, Out, key=KEY)
    text = treescope.render_to_text(layer)
    assert "<NamedArray f32{hidden:64, embed:3}" in text
    assert "NamedArray object at" not in text
    assert "Rich HTML" not in text  # the HTML display is not embedded under each array
    assert "hidden:64" in treescope.render_to_html(layer, compressed=False)


def test_treescope_array_adapter_names_dimensions():
    pytest.importorskip("treescope")
    from namedax.core._treescope import NamedArrayAdapter

    x = named(jnp.arange(6.0).reshape(2, 3), ("batch", "embed"))
    info = NamedArrayAdapter().get_axis_info_for_array_data(x)
    assert [(i.axis_name, i.size) for i in info] == [("batch", 2), ("embed", 3)]
    data, mask = NamedArrayAdapter().get_array_data_with_truncation(x, None, (None, None))
    np.testing.assert_array_equal(data, np.asarray(x.array))
    assert mask.shape == (2, 3)
    import treescope

    figure = treescope.render_array(x)
    assert "batch" in figure.treescope_part.html_src  # type: ignore[attr-defined]


def _public_callables():
    for name in dir(nx):
        obj = getattr(nx, name)
        if not name.startswith("_") and callable(obj) and not isinstance(obj, type):
            yield f"nx.{name}", obj
    for name in dir(nx.NamedArray):
        obj = None if name.startswith("_") else getattr(nx.NamedArray, name)
        if callable(obj):
            yield f"NamedArray.{name}", obj


def test_signatures_show_defaults_by_name_not_by_address():
    import inspect
    import re

    checked = 0
    for name, fn in _public_callables():
        try:
            text = str(inspect.signature(fn))
        except (TypeError, ValueError):  # builtins without a signature
            continue
        checked += 1
        assert not re.search(r"<[^>]* at 0x[0-9a-f]+>", text), f"{name}{text}"
        assert "<class " not in text, f"{name}{text}"
    assert checked > 150
    assert "default: 'UnnamedAxisSpec' = arrays_on_first_dim," in str(inspect.signature(nx.vmap))
    assert "is_scanned: 'bool | Callable[[Any], bool]' = is_named_or_shaped_array_like" in str(
        inspect.signature(nx.scan)
    )
    assert "axis: 'AxisSelection | None' = REQUIRED" in str(inspect.signature(nx.dot))


def test_readable_defaults_keep_the_real_default_values():
    x = named(jnp.arange(6.0).reshape(2, 3), ("batch", "embed"))
    out = nx.vmap(lambda row: row * 2, "batch")(x)  # default=arrays_on_first_dim still applies
    np.testing.assert_array_equal(out.array, x.array * 2)
    with pytest.raises(TypeError, match="the axes to contract must be given by keyword"):
        nx.dot(x, x)
