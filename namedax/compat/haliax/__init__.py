"""`haliax`: namedax's public names, under Haliax's module tree.

This package mirrors Haliax's modules: `namedax.compat.haliax.nn.scan` is `haliax.nn.scan`,
`namedax.compat.haliax._src.state_dict` is `haliax._src.state_dict`, and so on;
`install_as_haliax()` maps every module found here to its Haliax path. Each twin
re-exports namedax's objects under Haliax's names; behaviour that differs from namedax
(Haliax's spellings, defaults and file formats) lives only in these twins.

This top level holds namedax's top-level names plus the few that only Haliax's top level
has, and binds its submodules as Haliax's top level does (`haliax.fft` and `haliax.field`
are the functions, not the modules).
"""

from types import ModuleType as _ModuleType

import namedax as _namedax

globals().update(
    {
        name: value
        for name, value in vars(_namedax).items()
        if not name.startswith("_") and not isinstance(value, _ModuleType)
    }
)

# Submodules Haliax's top level imports (each binds `haliax.<name>` to the twin module).
from . import (  # noqa: E402
    debug as debug,
    nn as nn,
    quantization as quantization,
    random as random,
    ref as ref,
    state_dict as state_dict,
    tree as tree,
    tree_util as tree_util,
    util as util,
)

# Names Haliax's top level has beyond namedax's, and names that rebind a submodule's
# attribute to a function (as Haliax's `from .field import field` does).
from .axis import concat_axes as concat_axes  # noqa: E402
from .core import (  # noqa: E402
    NamedArrayAxes as NamedArrayAxes,
    NamedArrayAxesSpec as NamedArrayAxesSpec,
    are_shape_checks_enabled as are_shape_checks_enabled,
    enable_shape_checks as enable_shape_checks,
)
from .fft import fft as fft  # noqa: E402
from .field import field as field  # noqa: E402
from .jax_utils import tree_checkpoint_name as tree_checkpoint_name  # noqa: E402
from .partitioning import (  # noqa: E402
    set_mesh as set_mesh,
    shard as shard,
    shard_with_axis_mapping as shard_with_axis_mapping,
)
from .poly import poly as poly  # noqa: E402
from .ref import freeze as freeze, get as get, swap as swap  # noqa: E402
from .types import (  # noqa: E402
    DTypeLike as DTypeLike,
    NamedOrNumeric as NamedOrNumeric,
    ReductionFunction as ReductionFunction,
    Scalar as Scalar,
    SimpleReductionFunction as SimpleReductionFunction,
)

concat_axis_specs = concat_axes  # Haliax's deprecated name
fix = _namedax.trunc  # Haliax's name (jnp.fix): rounds toward zero
