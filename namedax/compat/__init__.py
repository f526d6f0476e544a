"""Compatibility with other named-axis libraries: `install_as_haliax()` and its alias modules.

The modules here only group namedax names the way another library's module does;
every name is defined elsewhere in namedax.
"""
