"""`haliax._src.util` under `install_as_haliax()`."""
