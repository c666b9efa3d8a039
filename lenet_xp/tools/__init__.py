"""Tools that work on trained models: export to other frameworks."""
