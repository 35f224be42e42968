"""Fused multi-step kernels for the neuron time loop.

Public modules:

``sgcourse.kernels.fused``
    Device-agnostic autograd Functions with the hand-written BPTT (IF/LIF/ParametricLIF, QIF,
    EIF, Izhikevich); plain torch, CPU and CUDA.
``sgcourse.kernels.triton``
    Triton GPU kernels for IF/LIF/ParametricLIF (optional extra; imported lazily; the Triton
    interpreter runs them on CPU tensors).

Private modules, by concern: ``_arguments`` (argument checks and dtype rules shared by both),
``_recurrence`` (the fused backend's reset rule, σ′ and block-wise BPTT), ``_lif``,
``_nonlinear`` (QIF/EIF), ``_izhikevich``, ``_triton_kernels`` (the Triton source) and
``_triton_surrogates`` (the Triton σ′, generated from the surrogates' declarations).
"""
