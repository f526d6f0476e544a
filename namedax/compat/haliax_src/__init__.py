"""`haliax._src` under `install_as_haliax()`: the few internal paths real Haliax code imports."""
