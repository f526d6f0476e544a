"""Partitioning named axes onto device meshes: partition specs, sharding, named_jit and shard_map.

Built on `namedax.core`.
"""
