"""Kernel methods: the arc-cosine kernels, ridge paths, Nyström/Falkon, the NTK, random
features and kernel ridge regression."""
