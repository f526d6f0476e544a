"""Deprecated: Haliax's `state_dict` module under its former namedax path.

namedax's names are in `namedax.serialization` (the torch-compatible layout, safetensors
and npz files). Haliax's module, whose `save_state_dict`/`load_state_dict` write and read
safetensors and whose `from_state_dict` ignores unused keys, is `haliax.state_dict` under
`install_as_haliax()`. Every name here still works and warns with the name to use.
"""

from namedax.core._deprecation import deprecated_names as _deprecated_names


def _haliax(name: str):
    def load():
        from namedax.compat.haliax import state_dict

        return getattr(state_dict, name)

    return load


_SAME_IN_SERIALIZATION = (
    "ModuleWithStateDictSerialization",
    "StateDict",
    "flatten_modules_for_export",
    "from_torch_compatible_state_dict",
    "to_numpy_state_dict",
    "to_state_dict",
    "to_torch_compatible_state_dict",
    "unflatten_modules_from_export",
    "with_prefix",
)
_HALIAX_ONLY = {
    "from_state_dict": "`namedax.serialization.from_state_dict(tree, state_dict, strict=False)`",
    "save_state_dict": "`namedax.serialization.save_safetensors(state_dict, path)`",
    "load_state_dict": "`namedax.serialization.load_safetensors(path)`",
}

__getattr__ = _deprecated_names(
    __name__,
    {
        **{
            name: (_haliax(name), f"use `namedax.serialization.{name}`")
            for name in _SAME_IN_SERIALIZATION
        },
        **{
            name: (
                _haliax(name),
                f"this is Haliax's `{name}` (`haliax.state_dict.{name}` under "
                f"`install_as_haliax()`); namedax's equivalent is {advice}",
            )
            for name, advice in _HALIAX_ONLY.items()
        },
    },
)
