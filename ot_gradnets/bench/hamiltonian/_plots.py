r"""Figures of the Hamiltonian benchmark (matplotlib is imported lazily, headless backend)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ot_gradnets.core.hamiltonian._data import HamiltonianDataset
from ot_gradnets.core.hamiltonian._models import HamiltonianField
from ot_gradnets.core.hamiltonian._systems import HamiltonianSystem
from ot_gradnets.core.hamiltonian._train import DynamicsFitResult, predict_field

__all__ = ["plot_phase_portraits", "plot_energy", "plot_curves"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(
            "the Hamiltonian figures need matplotlib: pip install matplotlib"
        ) from err
    return plt


def _slice_grid(
    system: HamiltonianSystem, data: HamiltonianDataset, n_grid: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """States on the (q_1, p_1) plane through a test state (the whole plane when dim = 2)."""
    n = system.n_dof
    i, j = 0, n
    ref = data.test_states[0].to(torch.float64)
    states = data.test_states.to(torch.float64)
    lo = states.min(0).values
    hi = states.max(0).values
    if system.dim > 2:  # a local window around the reference state
        spread = states.std(0)
        lo, hi = ref - 1.5 * spread, ref + 1.5 * spread
    qs = torch.linspace(float(lo[i]), float(hi[i]), n_grid, dtype=torch.float64)
    ps = torch.linspace(float(lo[j]), float(hi[j]), n_grid, dtype=torch.float64)
    qq, pp = torch.meshgrid(qs, ps, indexing="xy")
    grid = ref.repeat(n_grid * n_grid, 1)
    grid[:, i] = qq.reshape(-1)
    grid[:, j] = pp.reshape(-1)
    return grid, qq, pp, i, j


def plot_phase_portraits(
    system: HamiltonianSystem,
    models: Mapping[str, HamiltonianField],
    data: HamiltonianDataset,
    path: str | Path,
    n_grid: int = 21,
) -> None:
    r"""Phase portraits: true field (black) and each model's learned field (red) on the
    :math:`(q_1, p_1)` plane (through a test state when ``dim > 2``), over the log squared error.
    """
    plt = _pyplot()
    grid, qq, pp, i, j = _slice_grid(system, data, n_grid)
    true = system.time_derivative(grid)
    k = max(len(models), 1)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 3.4), squeeze=False)
    for ax, (label, model) in zip(axes[0], models.items(), strict=False):
        dtype = next(model.parameters()).dtype
        pred = predict_field(model, grid.to(dtype)).to(torch.float64)
        err = ((pred - true) ** 2).sum(-1).clamp_min(1e-16).log10().reshape(qq.shape)
        mesh = ax.pcolormesh(qq.numpy(), pp.numpy(), err.numpy(), shading="auto", cmap="viridis")
        fig.colorbar(mesh, ax=ax, label="log10 |error|^2")
        ax.quiver(
            qq.numpy(),
            pp.numpy(),
            true[:, i].reshape(qq.shape).numpy(),
            true[:, j].reshape(qq.shape).numpy(),
            color="k",
            alpha=0.8,
        )
        ax.quiver(
            qq.numpy(),
            pp.numpy(),
            pred[:, i].reshape(qq.shape).numpy(),
            pred[:, j].reshape(qq.shape).numpy(),
            color="r",
            alpha=0.6,
        )
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("q1")
        ax.set_ylabel("p1")
    fig.suptitle(f"{system.name}: true (black) vs learned (red) field", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_energy(
    system: HamiltonianSystem, rollouts: Mapping[str, Mapping[str, Any]], path: str | Path
) -> None:
    """True energy along each model's rollout of one test state, and the mean relative drift."""
    plt = _pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6))
    first = next(iter(rollouts.values()))
    t = first["t"].numpy()
    ax0.plot(t, system.hamiltonian(first["truth"][0]).numpy(), "k--", label="ground truth")
    for label, ro in rollouts.items():
        ax0.plot(t, system.hamiltonian(ro["pred"][0]).numpy(), label=label)
        ax1.semilogy(t[1:], ro["drift"].mean(0)[1:].clamp_min(1e-16).numpy(), label=label)
    ax0.set_xlabel("t")
    ax0.set_ylabel("true H along rollout (test state 0)")
    ax1.set_xlabel("t")
    ax1.set_ylabel("mean |H(t) - H(0)| / |H(0)|")
    ax0.legend(fontsize=7)
    ax1.legend(fontsize=7)
    fig.suptitle(f"{system.name}: energy along rollouts", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(fits: Mapping[str, DynamicsFitResult], path: str | Path, title: str = "") -> None:
    """Test derivative error (dB) against training wall time for each model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, res in fits.items():
        ax.plot(res.wall_time, res.test_db, label=label)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("test derivative error (dB, summed)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
