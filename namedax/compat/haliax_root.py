"""The `haliax` top-level module under `install_as_haliax()`: namedax's public names.

It is a separate module object (not `namedax` itself) so that Haliax's submodule
attributes (`haliax.core`, `haliax.ops`, ...) can be set on it without replacing the
namedax subpackages of the same names.
"""

import namedax as _namedax

# Names Haliax's top level has beyond namedax's: type aliases, partitioning entry points,
# `tree_checkpoint_name` and the deprecated `concat_axis_specs`.
from namedax.core._axes import concat_axes as concat_axes
from namedax.jax_utils import tree_checkpoint_name as tree_checkpoint_name
from namedax.partitioning import (
    set_mesh as set_mesh,
    shard_with_axis_mapping as shard_with_axis_mapping,
)
from namedax.types import (
    DTypeLike as DTypeLike,
    NamedOrNumeric as NamedOrNumeric,
    ReductionFunction as ReductionFunction,
    Scalar as Scalar,
    SimpleReductionFunction as SimpleReductionFunction,
)

concat_axis_specs = concat_axes  # Haliax's deprecated name

__path__: list[str] = []  # a package, so `import haliax.x` consults the alias hook

globals().update(
    {
        name: value
        for name, value in vars(_namedax).items()
        if not name.startswith("_") and name not in ("core", "ops", "transforms", "io", "compat")
    }
)
