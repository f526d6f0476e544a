"""State dicts: a model's arrays as a flat `{"path.to.leaf": array}` dict, and back.

Keys are dotted paths (`layers.0.attn.q_proj.weight`); values are positional
arrays. A `namedax.nn.Stacked` is stored layer by layer (`layers.0.…`,
`layers.1.…`, shared leaves once as `layers.…`) and restacked on load, so a
checkpoint does not depend on whether the layers were stacked. `save_state_dict`
and `load_state_dict` write and read `.npz` files bit-exactly; `save_safetensors` and
`load_safetensors` write and read safetensors files. `to_torch_compatible_state_dict`
and `from_torch_compatible_state_dict` convert to and from the layout PyTorch models use
(one weight matrix per linear layer).

Examples:
    >>> Embed = Axis("embed", 3)
    >>> norm = nx.nn.LayerNorm.init(Embed)
    >>> state = nx.serialization.to_state_dict(norm, prefix="norm")
    >>> sorted(state)
    ['norm.bias', 'norm.weight']
    >>> restored = nx.serialization.from_state_dict(norm, state, prefix="norm")
"""

from namedax.core._state_dict import (
    StateDict as StateDict,
    from_state_dict as from_state_dict,
    to_state_dict as to_state_dict,
)
from namedax.io._npz import (
    load_state_dict as load_state_dict,
    save_state_dict as save_state_dict,
)
from namedax.io._orbax import Checkpoints as Checkpoints
from namedax.io._safetensors import (
    load_safetensors as load_safetensors,
    save_safetensors as save_safetensors,
)
from namedax.io._torch_layout import (
    flatten_modules_for_export as flatten_modules_for_export,
    from_torch_compatible_state_dict as from_torch_compatible_state_dict,
    to_numpy_state_dict as to_numpy_state_dict,
    to_torch_compatible_state_dict as to_torch_compatible_state_dict,
    unflatten_modules_from_export as unflatten_modules_from_export,
    with_prefix as with_prefix,
)
from namedax.nn._export import (
    ModuleWithStateDictSerialization as ModuleWithStateDictSerialization,
)
