"""Numba kernels: no I/O, no Python objects, no classes. Private to fastland."""
