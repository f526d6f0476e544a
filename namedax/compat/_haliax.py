"""`install_as_haliax()`: make `import haliax` (and every `haliax.x.y`) load namedax modules.

`HALIAX_MODULES` maps each Haliax module path to the namedax module that holds the same
names. Installing puts those modules into `sys.modules` under the Haliax paths, sets
each one as an attribute of its parent (so `haliax.nn.scan` works after `import haliax`),
and adds an import hook that refuses every other `haliax.*` path with
`ModuleNotFoundError`, so an unported module fails at its import instead of loading a
second copy of a namedax file.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from types import ModuleType

HALIAX_MODULES: dict[str, str] = {
    "haliax": "namedax.compat.haliax_root",
    "haliax.axis": "namedax.axis",
    "haliax.core": "namedax.compat.haliax_core",
    "haliax.fft": "namedax.ops._fft",
    "haliax.field": "namedax.compat.haliax_field",
    "haliax.haxtyping": "namedax.haxtyping",
    "haliax.hof": "namedax.transforms",
    "haliax.jax_utils": "namedax.jax_utils",
    "haliax.nn": "namedax.nn",
    "haliax.nn.activations": "namedax.nn._activations",
    "haliax.nn.attention": "namedax.nn._attention",
    "haliax.nn.conv": "namedax.nn._conv",
    "haliax.nn.dropout": "namedax.nn._dropout",
    "haliax.nn.embedding": "namedax.nn._embedding",
    "haliax.nn.linear": "namedax.nn._linear",
    "haliax.nn.loss": "namedax.nn._loss",
    "haliax.nn.mlp": "namedax.nn._mlp",
    "haliax.nn.normalization": "namedax.nn._normalization",
    "haliax.nn.pool": "namedax.nn._pool",
    "haliax.nn.scan": "namedax.nn.scan",
    "haliax.ops": "namedax.compat.haliax_ops",
    "haliax.partitioning": "namedax.partitioning",
    "haliax.poly": "namedax.ops._poly",
    "haliax.quantization": "namedax.quantization",
    "haliax.random": "namedax.random",
    "haliax.specialized_fns": "namedax.compat.haliax_specialized_fns",
    "haliax.state_dict": "namedax.state_dict",
    "haliax.tree": "namedax.tree",
    "haliax.tree_util": "namedax.tree_util",
    "haliax.types": "namedax.types",
    "haliax.util": "namedax.compat.haliax_util",
    "haliax.wrap": "namedax.compat.haliax_wrap",
    "haliax._src": "namedax.compat.haliax_src",
    "haliax._src.einsum": "namedax.compat.haliax_src.einsum",
    "haliax._src.rearrange": "namedax.compat.haliax_src.rearrange",
    "haliax._src.scan": "namedax.compat.haliax_src.scan",
    "haliax._src.state_dict": "namedax.state_dict",
    "haliax._src.util": "namedax.compat.haliax_src.util",
}


class _RefuseUnmappedHaliax(importlib.abc.MetaPathFinder):
    """Import hook: a `haliax.*` path outside `HALIAX_MODULES` is a ModuleNotFoundError."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "haliax" or fullname.startswith("haliax."):
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: namedax.install_as_haliax() does not provide "
                f"this Haliax module (see the 'Coming from Haliax' page for the list)",
                name=fullname,
            )
        return None


def _load(target: str) -> ModuleType | None:
    """The namedax module `target`, or None when namedax does not have that module."""
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name is not None and target.startswith(error.name):
            return None  # the module itself is missing, not something it imports
        raise


def install_as_haliax() -> None:
    """Make `import haliax` and every `haliax.*` module path load namedax.

    Call it once before the first `import haliax`; calling it again does nothing new.
    Afterwards `import haliax as hax`, `import haliax.nn as hnn`,
    `from haliax.nn.scan import Stacked`, `from haliax.jax_utils import named_call`, ...
    give the namedax objects. A Haliax module or name that namedax does not provide
    raises `ModuleNotFoundError` / `ImportError` / `AttributeError`, as in Haliax.

    Examples:
        >>> nx.install_as_haliax()
        >>> import haliax as hax
        >>> hax.NamedArray is nx.NamedArray
        True
        >>> from haliax.nn.scan import Stacked
        >>> Stacked is nx.nn.Stacked
        True
    """
    if not any(isinstance(f, _RefuseUnmappedHaliax) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefuseUnmappedHaliax())
    for haliax_path, target in HALIAX_MODULES.items():
        module = _load(target)
        if module is not None:
            sys.modules[haliax_path] = module
    for haliax_path in HALIAX_MODULES:
        _bind_in_parent(haliax_path)


def _bind_in_parent(haliax_path: str) -> None:
    """Set the module as an attribute of its parent, as `import a.b` sets `a.b`.

    A parent that already binds the name to something other than a module keeps it:
    Haliax's top level rebinds `field` to the function `haliax.field.field`.
    """
    parent_path, _, child = haliax_path.rpartition(".")
    parent, module = sys.modules.get(parent_path), sys.modules.get(haliax_path)
    if parent is None or module is None:
        return
    current = getattr(parent, child, None)
    if current is None or isinstance(current, ModuleType):
        setattr(parent, child, module)
