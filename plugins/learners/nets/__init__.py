"""ReLU networks trained by SGD or GD: the Fig. 1 nets, torch training, the batched grid,
the finite NTK, deep nets (Zou–Gu), Arora et al.'s GD and Allen-Zhu et al.'s Algorithm 1."""
