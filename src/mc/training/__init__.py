"""Training models of the family on the built-in data."""
