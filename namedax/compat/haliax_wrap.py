"""`haliax.wrap` under `install_as_haliax()`."""
