"""The `haliax` top-level module under `install_as_haliax()`: namedax's public names.

It is a separate module object (not `namedax` itself) so that Haliax's submodule
attributes (`haliax.core`, `haliax.ops`, ...) can be set on it without replacing the
namedax subpackages of the same names.
"""

import namedax as _namedax

__path__: list[str] = []  # a package, so `import haliax.x` consults the alias hook

globals().update(
    {
        name: value
        for name, value in vars(_namedax).items()
        if not name.startswith("_") and name not in ("core", "ops", "transforms", "io", "compat")
    }
)
