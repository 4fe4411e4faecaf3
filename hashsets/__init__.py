"""Hash sets: known-media hash lists and their metadata. This package stays free of Django."""
