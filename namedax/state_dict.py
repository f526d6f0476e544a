"""State dicts: a model's arrays as a flat `{"path.to.leaf": array}` dict, and back.

This is also `haliax.state_dict` under `install_as_haliax()`.
# Owned by helper "checkpoints" from now on (haliax-alias created it as a re-export of
# namedax.serialization so the alias table has its target).
"""

from namedax.io._serialization import (
    StateDict as StateDict,
    from_state_dict as from_state_dict,
    load_state_dict as load_state_dict,
    save_state_dict as save_state_dict,
    to_state_dict as to_state_dict,
)
