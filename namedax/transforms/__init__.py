"""Axis-aware transformations: vmap, nmap, scan/fold/map and rematerialisation.

Built on `namedax.core`.
"""
