"""The `mc` command line: a thin Typer layer that parses, calls the engine and renders."""
