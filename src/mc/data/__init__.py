"""Data: the built-in MNIST-1D set and user-supplied sample files (calibration, evaluation)."""
