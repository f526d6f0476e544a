"""`haliax._src`: the few internal paths real Haliax code imports."""
