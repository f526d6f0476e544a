"""What every checkpoint reader and writer checks about the arrays it moves.

State dicts hold numbers only: booleans, integers, floats (`bfloat16` and the float8
types included) and complex numbers. A reader never turns a value into something
else silently:

* a cast to the template's dtype may widen or narrow within a kind (`float32` ->
  `bfloat16`, `int64` -> `int32` when every value fits), or go from bool to a number
  or from an integer to a float; it never truncates floats to integers, drops an
  imaginary part, or makes booleans of numbers;
* a 64-bit integer array becomes a JAX array only if its values fit the 32 bits JAX
  has without `jax_enable_x64`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from namedax.core._array import NamedArray
from namedax.core._errors import describe

__all__ = [
    "cast_problem",
    "check_key",
    "check_saveable",
    "dtype_problem",
    "numeric_kind",
    "to_jax",
]

_KINDS = (  # (abstract dtype, kind), most specific first
    (jnp.bool_, "b"),
    (jnp.unsignedinteger, "u"),
    (jnp.signedinteger, "i"),
    (jnp.floating, "f"),
    (jnp.complexfloating, "c"),
)
_KIND_NAMES = {"b": "bool", "u": "unsigned integer", "i": "integer", "f": "float", "c": "complex"}
_LOSSLESS_INTO = {  # kind -> the kinds it may be cast to (narrowing within a kind checked apart)
    "b": "buifc",
    "u": "uifc",
    "i": "uifc",
    "f": "fc",
    "c": "c",
}


def numeric_kind(dtype: Any) -> str | None:
    """`"b"`, `"u"`, `"i"`, `"f"` or `"c"` for a numeric dtype (ml_dtypes too), else None.

    Examples:
        >>> import ml_dtypes, numpy as np
        >>> from namedax.core._value_checks import numeric_kind
        >>> numeric_kind(ml_dtypes.bfloat16), numeric_kind(np.uint8), numeric_kind(np.str_)
        ('f', 'u', None)
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return None
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        return None
    for abstract, kind in _KINDS:
        if jnp.issubdtype(dtype, abstract):
            return kind
    return None


def _out_of_range(values: Any, target: np.dtype) -> bool:
    """Whether integer `values` hold a number that `target` (an integer dtype) cannot."""
    if isinstance(values, Tracer):  # under jit: the values are not known
        return False
    if np.size(values) == 0:
        return False
    info = np.iinfo(target)
    if isinstance(values, jax.Array):  # reduced where it lives (sharded, maybe over hosts)
        low, high = int(jnp.min(values)), int(jnp.max(values))
    else:
        low, high = int(np.min(values)), int(np.max(values))
    return low < info.min or high > info.max


def _kind_problem(source: np.dtype, target: np.dtype) -> str | None:
    have, want = numeric_kind(source), numeric_kind(target)
    if have is None:
        return f"it holds {source.name} values, which are not numbers"
    if want is None or source == target or want in _LOSSLESS_INTO[have]:
        return None
    return (
        f"it holds {source.name} values and the template is {target.name}: a "
        f"{_KIND_NAMES[have]} to {_KIND_NAMES[want]} cast "
        + ("drops the imaginary part" if have == "c" else "truncates")
    )


def _narrows_integers(source: np.dtype, target: np.dtype) -> bool:
    kinds = (numeric_kind(source), numeric_kind(target))
    return all(k in ("u", "i") for k in kinds) and not np.can_cast(source, target, "safe")


def dtype_problem(source: Any, target: Any) -> str | None:
    """Why a cast from dtype `source` to `target` may change values, or None (no values seen).

    Examples:
        >>> import numpy as np
        >>> from namedax.core._value_checks import dtype_problem
        >>> dtype_problem(np.int64, np.int8)
        'it holds int64 values and the template is int8, which may not hold them all'
    """
    source, target = np.dtype(source), np.dtype(target)
    problem = _kind_problem(source, target)
    if problem is None and _narrows_integers(source, target):
        return (
            f"it holds {source.name} values and the template is {target.name}, which may "
            "not hold them all"
        )
    return problem


def cast_problem(values: Any, target: Any) -> str | None:
    """Why casting `values` to the dtype `target` would change them, or None if it is safe.

    Examples:
        >>> import numpy as np
        >>> from namedax.core._value_checks import cast_problem
        >>> cast_problem(np.ones(2, np.float32), np.int32)
        'it holds float32 values and the template is int32: a float to integer cast truncates'
        >>> cast_problem(np.array([300]), np.int8)
        'it holds int64 values outside the range of the template dtype int8'
        >>> cast_problem(np.array([3]), np.int8) is None
        True
        >>> cast_problem(np.ones(2, np.float32), np.float16) is None
        True
    """
    source, target = np.dtype(values.dtype), np.dtype(target)
    problem = _kind_problem(source, target)
    if problem is None and _narrows_integers(source, target) and _out_of_range(values, target):
        return (
            f"it holds {source.name} values outside the range of the template dtype {target.name}"
        )
    return problem


def to_jax(array: np.ndarray, where: str) -> jax.Array:
    """A host array as a JAX array, refusing 64-bit integers that do not fit JAX's 32 bits.

    Without `jax_enable_x64`, JAX keeps 64-bit values in 32 bits; integers that do not
    fit would wrap around, so they are an error naming `where` instead. Floats narrow
    to `float32` as everywhere in JAX.

    Raises:
        ValueError: If 64-bit integers do not fit in 32 bits.
    """
    target = jax.dtypes.canonicalize_dtype(array.dtype)
    narrowed = target != array.dtype and numeric_kind(array.dtype) in ("u", "i")
    if narrowed and _out_of_range(array, target):
        raise ValueError(
            f"{where} holds {array.dtype.name} values beyond {target.name}, the widest "
            "integer JAX has without 64-bit mode: enable it with "
            "jax.config.update('jax_enable_x64', True), or load NumPy arrays "
            "(haliax.state_dict.load_state_dict(path) after namedax.install_as_haliax())."
        )
    return jnp.asarray(array, dtype=target)


def check_key(op: str, key: Any, reserved: tuple[str, ...] = ()) -> None:
    """Raises for a state-dict key that is not a string, or is a name the file format reserves."""
    if not isinstance(key, str):
        raise TypeError(f"{op}: state dict keys must be strings, got the key {key!r}.")
    if key in reserved:
        raise ValueError(
            f"{op}: the key {key!r} is reserved by the file format; rename that leaf "
            "(or save under a prefix)."
        )


def check_saveable(op: str, key: str, value: Any) -> None:
    """Raises the TypeError for a state-dict value that is not a positional numeric array."""
    if isinstance(value, NamedArray) or not hasattr(value, "dtype"):
        raise TypeError(
            f"{op}: the value at {key!r} is {describe(value)}; values must be positional "
            "arrays, as to_state_dict makes them."
        )
    if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        raise TypeError(
            f"{op}: the value at {key!r} is a typed PRNG key array; store "
            "jax.random.key_data(key) instead and wrap it again after loading."
        )
    if numeric_kind(value.dtype) is None:
        raise TypeError(
            f"{op}: the value at {key!r} has dtype {np.dtype(value.dtype)}; a state dict "
            "holds numeric arrays only (no strings or objects, which would need pickling)."
        )
