"""Recipes: YAML -> typed variants (chains of passes), the artifact cache, and `mc run`."""
