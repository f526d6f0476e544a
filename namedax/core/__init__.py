"""The NamedArray core.

Axes, the array type, broadcasting by name, errors, annotations, tree utilities and
the axis-to-mesh mapping context. Imports nothing else from namedax.
"""
