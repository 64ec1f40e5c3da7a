"""ot_gradnets: optimal transport and convex potentials with gradient networks.

Gradient networks (GradNets) are neural networks whose Jacobian is symmetric by construction, so
each one *is* the gradient of a scalar potential; monotone gradient networks (mGradNets) also have
a positive semidefinite Jacobian, so the potential is convex. By Brenier's theorem a convex
gradient that pushes a source onto a target is the optimal transport map for the squared cost.

Subpackages:
    :mod:`ot_gradnets.core`: the networks, their potentials and Jacobians, baselines,
    gradient-field regression and Hamiltonian dynamics.
    :mod:`ot_gradnets.transport`: Brenier maps learned from samples, metrics, benchmark pairs.

References:
    S. Chaudhari, S. Pranav, J. M. F. Moura, "Gradient Networks", IEEE Trans. Signal Process. 73,
    324-339 (2025), arXiv:2404.07361.
"""

from ot_gradnets._threads import resolve_threads, thread_limit

__version__ = "0.1.0"

__all__ = ["__version__", "resolve_threads", "thread_limit"]
