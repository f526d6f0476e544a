"""Saving and loading: state dicts.

Built on `namedax.nn` and below.
"""
