"""Fused multi-step kernels for the neuron time loop.

``sgcourse.kernels.fused``: device-agnostic autograd Functions with the hand-written BPTT.
``sgcourse.kernels.triton``: Triton GPU kernels (optional extra; imported lazily).
"""
