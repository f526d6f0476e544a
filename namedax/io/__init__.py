"""Saving and loading: state dicts (`.npz`), safetensors and the torch layout, Orbax
checkpoints, crash-safe writes, and conversions from other libraries' named arrays.

Built on `namedax.nn` and below.
"""
