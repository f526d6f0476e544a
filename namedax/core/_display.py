"""How a NamedArray prints and displays.

Four forms, all led by the same named shape (`f32{batch:2, embed:3}`):

- `text_repr`: `repr(x)` and `str(x)`. Values are shown when the array is small; a
  scalar or a short vector stays on one line, with the digits of its own dtype.
- `short_form` via `pdoc`: inside an Equinox module (whose repr is built by
  `wadler_lindig`), an array is its named shape only, the way Equinox prints a
  `jax.Array` as `f32[3,64]`.
- `html`: the notebook display (`_repr_html_`): named shape, dtype, sharding and a
  summarised preview of the values.
- treescope: `namedax.core._treescope` (imported only when treescope renders a
  NamedArray, so treescope stays optional).

The functions take any object with `array` and `axes` attributes so that this module
does not import `namedax.core._array` (which imports it).
"""

from __future__ import annotations

import html as _html
import types
from typing import Any

import jax
import numpy as np
from jax.core import Tracer

from namedax.core._errors import format_axes

__all__ = [
    "InstanceMethod",
    "html",
    "partition_spec",
    "pdoc",
    "short_dtype",
    "short_form",
    "text_repr",
]

_DTYPE_ABBREVIATIONS = {"float": "f", "int": "i", "uint": "u", "complex": "c", "bfloat": "bf"}
_MAX_PRINTED = 256  # arrays with more elements print their named shape only
_ONE_LINE = 100  # a repr up to this many characters, without a line break, stays on one line
_MAX_PREVIEW = 100_000  # the HTML preview copies at most this many elements to the host
_PREVIEW = {"threshold": 64, "edgeitems": 3, "max_line_width": 100}


def short_dtype(dtype: Any) -> str:
    """The compact dtype name Equinox uses: `f32`, `bf16`, `i32`, `bool`.

    Examples:
        >>> short_dtype(jnp.float32), short_dtype(jnp.bfloat16), short_dtype(bool)
        ('f32', 'bf16', 'bool')
    """
    name = np.dtype(dtype).name if not hasattr(dtype, "name") else dtype.name
    for prefix, short in _DTYPE_ABBREVIATIONS.items():
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return short + name[len(prefix) :]
    return name


def short_form(x: Any) -> str:
    """The dtype and named shape of a NamedArray, e.g. `f32{layers:12, embed:32}`.

    Examples:
        >>> short_form(named(jnp.zeros((12, 32)), ("layers", "embed")))
        'f32{layers:12, embed:32}'
    """
    return f"{short_dtype(x.dtype)}{format_axes(x.axes)}"


def _concrete(array: Any) -> bool:
    return isinstance(array, jax.Array) and not isinstance(array, Tracer)


def text_repr(x: Any) -> str:
    """`repr` of a NamedArray: its named shape and, for at most 256 elements, its values.

    Examples:
        >>> named(jnp.float32(2.3025851), ())
        NamedArray(f32{}, 2.3025851)
        >>> named(jnp.arange(3.0) / 3, "a")
        NamedArray(f32{a:3}, [0.         0.33333334 0.6666667 ])
        >>> named(jnp.zeros((20, 20), jnp.int32), ("x", "y"))
        NamedArray(i32{x:20, y:20})
    """
    head = short_form(x)
    array = x.array
    if not _concrete(array):
        return f"NamedArray({head}, {type(array).__name__})"
    if array.size > _MAX_PRINTED:
        return f"NamedArray({head})"
    values = np.array2string(np.asarray(array))
    one_line = f"NamedArray({head}, {values})"
    if "\n" not in values and len(one_line) <= _ONE_LINE:
        return one_line
    return f"NamedArray({head},\n{values})"


def pdoc(x: Any, **kwargs: Any) -> Any:
    """The `wadler_lindig` document of a NamedArray (the printer behind Equinox's reprs).

    With `short_arrays` (Equinox's default) the array is its short form; otherwise
    None, which makes the printer fall back to `repr`.

    Examples:
        >>> import equinox as eqx
        >>> class Layer(eqx.Module):
        ...     weight: nx.NamedArray
        >>> Layer(named(jnp.zeros((3, 64)), ("embed", "hidden")))
        Layer(weight=f32{embed:3, hidden:64})
    """
    if not kwargs.get("short_arrays", True):
        return None
    import wadler_lindig  # Equinox's printer; imported here as only it calls this

    return wadler_lindig.TextDoc(short_form(x))


def partition_spec(array: Any) -> Any:
    """The PartitionSpec of a concrete array's NamedSharding, or None when it has none.

    A spec that partitions nothing also gives None: the array is replicated.
    """
    sharding = getattr(array, "sharding", None) if _concrete(array) else None
    spec = getattr(sharding, "spec", None)
    if spec is None or all(s is None for s in spec):
        return None
    return spec


def html(x: Any) -> str:
    """The notebook display of a NamedArray (`_repr_html_`).

    Examples:
        >>> page = named(jnp.arange(6.0).reshape(2, 3), ("batch", "embed"))._repr_html_()
        >>> "batch" in page and "f32" in page and "[[0. 1. 2.]" in page
        True
    """
    array = x.array
    rows = "".join(
        f"<tr><td><code>{_html.escape(a.name)}</code></td><td>{a.size}</td>{_mesh_cell(x, i)}</tr>"
        for i, a in enumerate(x.axes)
    )
    sharded = _mesh_cell(x, 0) != ""
    header = "<tr><th>axis</th><th>size</th>" + ("<th>mesh</th>" if sharded else "") + "</tr>"
    table = f"<table class='namedax-axes'>{header}{rows}</table>" if x.axes else ""
    return (
        "<div class='namedax-array'>"
        f"<div><strong>NamedArray</strong> <code>{_html.escape(short_form(x))}</code> "
        f"<span>dtype {_html.escape(str(x.dtype))}, {int(np.prod(np.shape(array)))} "
        f"elements</span></div>{table}{_preview(array)}</div>"
    )


class InstanceMethod:
    """A method found on instances but not on the class (`hasattr(cls, name)` is false).

    IPython looks display methods up on the instance; treescope checks the class.
    """

    def __init__(self, function: Any) -> None:
        self.function = function
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            raise AttributeError(f"{self.name} is looked up on instances only")
        return types.MethodType(self.function, instance)


def _mesh_cell(x: Any, i: int) -> str:
    spec = partition_spec(x.array)
    if spec is None or i >= len(x.axes):
        return ""
    entry = spec[i] if i < len(spec) else None
    if isinstance(entry, tuple):
        entry = ",".join(entry)
    return f"<td><code>{_html.escape(str(entry if entry is not None else '-'))}</code></td>"


def _preview(array: Any) -> str:
    if not _concrete(array):
        return f"<div>values: traced ({_html.escape(type(array).__name__)})</div>"
    if array.size > _MAX_PREVIEW:
        return f"<div>values: not previewed (more than {_MAX_PREVIEW} elements)</div>"
    text = np.array2string(np.asarray(array), **_PREVIEW)  # type: ignore[arg-type]
    return f"<pre style='white-space: pre; overflow-x: auto'>{_html.escape(text)}</pre>"
