r"""Seeded datasets of (state, time-derivative) pairs and whole trajectories."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ot_gradnets._validation import check_nonnegative_float, check_positive_int

from ._catalog import make_system
from ._systems import HamiltonianSystem

__all__ = ["HamiltonianDataset", "make_dataset", "split_validation"]


@dataclass
class HamiltonianDataset:
    r"""Training and test data of one system, split by trajectory.

    Pairs are flattened trajectories: ``train_states[k]`` is a (possibly noisy) state and
    ``train_derivatives[k]`` the *clean* time derivative :math:`J\nabla H` at the clean state, as in
    the HNN protocol. Test states are always clean.

    Attributes:
        system: the system the data come from.
        t: ``(T,)`` sample times of each trajectory.
        train_trajectories: ``(B_train, T, dim)`` clean training trajectories.
        test_trajectories: ``(B_test, T, dim)`` clean test trajectories.
        train_states: ``(B_train * T, dim)`` training inputs (noise added if ``noise_std > 0``).
        train_derivatives: ``(B_train * T, dim)`` clean targets.
        test_states: ``(B_test * T, dim)`` clean test inputs.
        test_derivatives: ``(B_test * T, dim)`` clean test targets.
        noise_std: standard deviation of the input noise on the training states.
    """

    system: HamiltonianSystem
    t: Tensor
    train_trajectories: Tensor
    test_trajectories: Tensor
    train_states: Tensor
    train_derivatives: Tensor
    test_states: Tensor
    test_derivatives: Tensor
    noise_std: float

    @property
    def dim(self) -> int:
        """State dimension."""
        return self.system.dim


def make_dataset(
    system: str | HamiltonianSystem,
    n_trajectories: int | None = None,
    n_points: int | None = None,
    t_span: tuple[float, float] | None = None,
    test_split: float | None = None,
    noise_std: float | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> HamiltonianDataset:
    r"""Sample trajectories of ``system`` and return them with (state, derivative) pairs.

    Every argument left as ``None`` takes the system's protocol value (the HNN settings for
    mass-spring, pendulum, two-body and three-body). Ground truth is computed in float64 and cast
    to ``dtype`` at the end. The first ``round(test_split * n_trajectories)`` trajectories form the
    test set (as in HNN's orbit tasks), the rest the training set.

    Args:
        system: a registry name (see :data:`SYSTEMS`) or a system instance.
        n_trajectories: number of trajectories in total.
        n_points: number of evenly spaced samples on ``t_span`` per trajectory.
        t_span: ``(t0, t1)``.
        test_split: fraction of trajectories kept for testing, in ``(0, 1)``.
        noise_std: Gaussian noise added to the *training inputs* only.
        seed: seed of the initial conditions and of the noise.
        dtype: floating dtype of the returned tensors.
        device: device of the returned tensors.

    Returns:
        A :class:`HamiltonianDataset`.

    Example:
        >>> data = make_dataset("mass-spring", n_trajectories=4, n_points=5, noise_std=0.0)
        >>> data.train_states.shape, data.test_trajectories.shape
        (torch.Size([10, 2]), torch.Size([2, 5, 2]))
    """
    sys = make_system(system)
    proto = sys.protocol
    n_traj = check_positive_int(
        proto.n_trajectories if n_trajectories is None else n_trajectories, "n_trajectories"
    )
    n_pts = check_positive_int(proto.n_points if n_points is None else n_points, "n_points")
    t0, t1 = proto.t_span if t_span is None else t_span
    if not float(t1) > float(t0):
        raise ValueError(f"t_span must satisfy t0 < t1, got {(t0, t1)!r}.")
    split = proto.test_split if test_split is None else float(test_split)
    if not 0.0 < split < 1.0:
        raise ValueError(f"test_split must lie in (0, 1), got {test_split!r}.")
    noise = check_nonnegative_float(
        proto.noise_std if noise_std is None else noise_std, "noise_std"
    )
    if n_traj < 2:
        raise ValueError(f"n_trajectories must be >= 2 to split, got {n_traj}.")
    n_test = min(max(int(round(split * n_traj)), 1), n_traj - 1)

    gen = torch.Generator().manual_seed(int(seed))
    s0 = sys.sample_initial_states(n_traj, gen)
    t = torch.linspace(float(t0), float(t1), n_pts, dtype=torch.float64)
    traj = sys.trajectories(s0, t)  # (B, T, dim) float64
    deriv = sys.time_derivative(traj)
    test_traj, train_traj = traj[:n_test], traj[n_test:]
    test_der, train_der = deriv[:n_test], deriv[n_test:]
    train_in = train_traj.reshape(-1, sys.dim)
    if noise > 0:
        train_in = train_in + noise * torch.randn(
            train_in.shape, generator=gen, dtype=torch.float64
        )

    def cast(x: Tensor) -> Tensor:
        return x.to(dtype=dtype, device=device).contiguous()

    return HamiltonianDataset(
        system=sys,
        t=cast(t),
        train_trajectories=cast(train_traj),
        test_trajectories=cast(test_traj),
        train_states=cast(train_in),
        train_derivatives=cast(train_der.reshape(-1, sys.dim)),
        test_states=cast(test_traj.reshape(-1, sys.dim)),
        test_derivatives=cast(test_der.reshape(-1, sys.dim)),
        noise_std=noise,
    )


def split_validation(
    data: HamiltonianDataset, validation_fraction: float = 0.2, seed: int = 0
) -> HamiltonianDataset:
    r"""Hold out whole *training* trajectories as a validation set, for model selection.

    A seeded random ``round(validation_fraction * B_train)`` of the training trajectories (at
    least one, at most ``B_train - 1``) is held out **by trajectory**, so no validation state
    lies on an orbit seen in training. Only the ``train_*`` fields of ``data`` are read: the
    test split never enters model selection.

    Args:
        data: a dataset from :func:`make_dataset`.
        validation_fraction: fraction of the training trajectories held out, in ``(0, 1)``.
        seed: seed of the held-out choice.

    Returns:
        A :class:`HamiltonianDataset` whose ``train_*`` fields are the kept training trajectories
        (with their noisy inputs, if any) and whose ``test_*`` fields are the held-out ones, with
        **clean** states like a test set; any routine that evaluates on ``test_*`` then
        evaluates on validation data.

    Example:
        >>> data = make_dataset("mass-spring", n_trajectories=12, n_points=5, noise_std=0.0)
        >>> val = split_validation(data, 0.25)
        >>> val.train_trajectories.shape[0], val.test_trajectories.shape[0]
        (4, 2)
    """
    frac = float(validation_fraction)
    if not 0.0 < frac < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}.")
    traj = data.train_trajectories
    n, n_pts, dim = traj.shape
    if n < 2:
        raise ValueError(f"data has {n} training trajectory; at least 2 are needed to split.")
    n_val = min(max(int(round(frac * n)), 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    val_idx = perm[:n_val].sort().values.to(traj.device)
    fit_idx = perm[n_val:].sort().values.to(traj.device)
    states = data.train_states.reshape(n, n_pts, dim)
    derivs = data.train_derivatives.reshape(n, n_pts, dim)
    return HamiltonianDataset(
        system=data.system,
        t=data.t,
        train_trajectories=traj[fit_idx],
        test_trajectories=traj[val_idx],
        train_states=states[fit_idx].reshape(-1, dim),
        train_derivatives=derivs[fit_idx].reshape(-1, dim),
        test_states=traj[val_idx].reshape(-1, dim),
        test_derivatives=derivs[val_idx].reshape(-1, dim),
        noise_std=data.noise_std,
    )
