"""`install_as_haliax()`: make `import haliax` (and every `haliax.x.y`) load namedax modules.

The package `namedax.compat.haliax` mirrors Haliax's module tree: each of its modules
is the twin of the Haliax module at the same relative path (`namedax.compat.haliax.nn.scan`
is `haliax.nn.scan`). `haliax_modules()` finds the twins by walking that package's
directory, so adding a file adds a Haliax path. Installing puts every twin into
`sys.modules` under its Haliax path and adds an import hook that refuses every other
`haliax.*` path with `ModuleNotFoundError`, so an unported module fails at its import.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
import warnings

_TWINS = "namedax.compat.haliax"


def haliax_modules() -> dict[str, str]:
    """Maps each Haliax module path that namedax provides to its twin module's name.

    Examples:
        >>> from namedax.compat._haliax import haliax_modules
        >>> haliax_modules()["haliax.nn.scan"]
        'namedax.compat.haliax.nn.scan'
    """
    spec = importlib.util.find_spec(_TWINS)
    assert spec is not None and spec.submodule_search_locations is not None
    (root,) = spec.submodule_search_locations
    paths = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(
            d for d in subdirs if os.path.isfile(os.path.join(directory, d, "__init__.py"))
        )
        relative = os.path.relpath(directory, root)
        package = [] if relative == "." else relative.split(os.sep)
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            parts = package if file == "__init__.py" else [*package, file[:-3]]
            paths[".".join(["haliax", *parts])] = ".".join([_TWINS, *parts])
    return dict(sorted(paths.items(), key=lambda item: (item[0].count("."), item[0])))


HALIAX_MODULES: dict[str, str] = haliax_modules()
"""Each Haliax module path namedax provides, mapped to the name of its twin module."""


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


def _foreign_haliax_modules() -> list[str]:
    """The `haliax.*` entries of `sys.modules` that are not namedax twins (a real Haliax)."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if (name == "haliax" or name.startswith("haliax."))
        and module is not None
        and not getattr(module, "__name__", "").startswith(_TWINS)
    )


def _refuse_or_purge(foreign: list[str], purge: bool) -> None:
    """Raise, or (with `purge=True`) warn and drop the real Haliax's modules from `sys.modules`."""
    where = getattr(sys.modules.get(foreign[0]), "__file__", None) or "unknown location"
    loaded = f"{len(foreign)} module(s), e.g. {', '.join(foreign[:3])}, loaded from {where}"
    if not purge:
        raise ImportError(
            f"install_as_haliax(): the real Haliax is already imported ({loaded}). Installing "
            f"now would mix Haliax's NamedArrays and modules with namedax's. Call "
            f"namedax.install_as_haliax() before anything imports haliax (at the top of your "
            f"entry point or conftest.py), or pass purge=True to drop the real Haliax from "
            f"sys.modules (objects already made with it stay Haliax's)."
        )
    warnings.warn(
        f"install_as_haliax(purge=True): removing the real Haliax from sys.modules ({loaded}); "
        f"objects already created with it are still Haliax's and do not mix with namedax's.",
        stacklevel=3,
    )
    for name in foreign:
        del sys.modules[name]


def install_as_haliax(*, purge: bool = False) -> None:
    """Make `import haliax` and every `haliax.*` module path load namedax.

    Call it once before the first `import haliax`; calling it again does nothing new.
    Afterwards `import haliax as hax`, `import haliax.nn as hnn`,
    `from haliax.nn.scan import Stacked`, `from haliax.jax_utils import named_call`, ...
    give the namedax objects. A Haliax module or name that namedax does not provide
    raises `ModuleNotFoundError` / `ImportError` / `AttributeError`, as in Haliax.

    Args:
        purge: If the real Haliax is already imported, drop its modules from
            `sys.modules` (with a warning) instead of raising.

    Raises:
        ImportError: The real Haliax is already imported and `purge` is False.

    Examples:
        >>> nx.install_as_haliax()
        >>> import haliax as hax
        >>> hax.NamedArray is nx.NamedArray
        True
        >>> from haliax.nn.scan import Stacked
        >>> Stacked is nx.nn.Stacked
        True
    """
    foreign = _foreign_haliax_modules()
    if foreign:
        _refuse_or_purge(foreign, purge)
    if not any(isinstance(f, _RefuseUnmappedHaliax) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefuseUnmappedHaliax())
    for haliax_path, twin in HALIAX_MODULES.items():
        sys.modules[haliax_path] = importlib.import_module(twin)
