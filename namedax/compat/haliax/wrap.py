"""`haliax.wrap`."""
