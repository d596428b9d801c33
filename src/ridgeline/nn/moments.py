"""Cartesian moment tensors of atomic environments and their rotation-invariant contractions
(the body-ordered features of the moment tensor potential, Shapeev, Multiscale Model. Simul. 14,
1153 (2016), and of the atomic cluster expansion in Cartesian form).

    M^nu_ic = sum_j R_c,nu(r_ij) u_ij (x) ... (x) u_ij      (nu factors of the unit vector u_ij)

Each contraction of k moments is a (k+1)-body invariant. Moments are formed by batched matrix
products over a dense per-atom neighbour layout: the edge-by-channel-by-tensor product is never
materialised, which keeps memory and time linear in the number of edges with a small constant.
"""

from __future__ import annotations

import torch

# invariant -> ranks of the moments it contracts, and the contraction over Cartesian indices
# (channels last: "n" atoms, "c" channels; used as the reference in the tests)
CONTRACTIONS = {
    "0": ((0,), "nc->nc"),
    "11": ((1, 1), "nac,nac->nc"),
    "22": ((2, 2), "nabc,nabc->nc"),
    "33": ((3, 3), "nabdc,nabdc->nc"),
    "121": ((1, 2, 1), "nac,nabc,nbc->nc"),
    "222": ((2, 2, 2), "nabc,nbdc,ndac->nc"),
    "123": ((1, 2, 3), "nac,nbdc,nabdc->nc"),
    "233": ((2, 3, 3), "nabc,nadec,nbdec->nc"),
    "1221": ((1, 2, 2, 1), "nac,nabc,nbdc,ndc->nc"),
    "2222": ((2, 2, 2, 2), "nabc,nbdc,ndec,neac->nc"),
    "1331": ((1, 3, 3, 1), "nac,nabdc,nebdc,nec->nc"),
}


def _matvec(m, v):  # (n,3,3,c) x (n,3,c) -> (n,3,c): sum_b m_ab v_b
    return (m * v[:, None]).sum(2)


def _matmat(a, b):  # (n,3,3,c) x (n,3,3,c) -> (n,3,3,c)
    return (a[:, :, :, None] * b[:, None]).sum(2)


def _contract(name: str, t: list[torch.Tensor]) -> torch.Tensor:
    """The contraction ``CONTRACTIONS[name]`` with broadcast products (faster than einsum here)."""
    if name == "0":
        return t[0]
    if name in ("11", "22", "33"):
        return (t[0] * t[1]).flatten(1, -2).sum(1)
    if name == "121":
        return (_matvec(t[1], t[2]) * t[0]).sum(1)
    if name == "222":
        return (_matmat(t[0], t[1]) * t[2].transpose(1, 2)).sum((1, 2))
    if name == "123":  # sum_abd A_a B_bd C_abd
        return ((t[2] * t[1][:, None]).sum((2, 3)) * t[0]).sum(1)
    if name == "233":  # sum_abde A_ab B_ade C_bde
        bc = (t[1][:, :, None] * t[2][:, None]).sum((3, 4))  # (n, a, b, c)
        return (t[0] * bc).sum((1, 2))
    if name == "1221":
        return ((t[0][:, :, None] * t[1]).sum(1) * _matvec(t[2], t[3])).sum(1)  # (A B)_b (C D)_b
    if name == "2222":
        return (_matmat(t[0], t[1]) * _matmat(t[2], t[3]).transpose(1, 2)).sum((1, 2))
    if name == "1331":  # sum A_a B_abd C_ebd D_e = (A.B)_bd (D.C)_bd
        ab = (t[0][:, :, None, None] * t[1]).sum(1)
        dc = (t[3][:, :, None, None] * t[2]).sum(1)
        return (ab * dc).sum((1, 2))
    raise KeyError(name)


def dense_slots(centers: torch.Tensor, n_atoms: int) -> tuple[torch.Tensor, int]:
    """Position of each edge in its centre's neighbour row (edges sorted by centre)."""
    counts = torch.bincount(centers, minlength=n_atoms)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(centers), device=centers.device) - start[centers]
    return rank, int(counts.max()) if len(centers) else 0


def unit_powers(unit: torch.Tensor, max_rank: int) -> list[torch.Tensor]:
    """[1, u, u(x)u, u(x)u(x)u][:max_rank+1], flattened to (E, 3^nu)."""
    powers = [torch.ones_like(unit[:, :1])]
    for nu in range(1, max_rank + 1):
        powers.append((powers[-1][:, :, None] * unit[:, None, :]).reshape(len(unit), 3**nu))
    return powers


class CartesianMoments(torch.nn.Module):
    """M^nu (n_atoms, 3, ..., 3, channels) for nu = 0..max_rank from per-edge radial weights."""

    def __init__(self, max_rank: int):
        super().__init__()
        self.max_rank = max_rank

    def forward(self, radial: list[torch.Tensor], unit: torch.Tensor, centers: torch.Tensor, n_atoms: int) -> list[torch.Tensor]:
        """``radial[nu]``: (E, channels) weights of each edge for rank nu; ``unit``: (E, 3)."""
        rank, n_max = dense_slots(centers, n_atoms)
        moments = []
        for nu, y in enumerate(unit_powers(unit, self.max_rank)):
            r = radial[nu]
            r_dense = r.new_zeros(n_atoms, n_max, r.shape[1]).index_put((centers, rank), r)
            y_dense = y.new_zeros(n_atoms, n_max, y.shape[1]).index_put((centers, rank), y)
            m = torch.bmm(y_dense.transpose(1, 2), r_dense)  # (n, 3^nu, C)
            moments.append(m.reshape(n_atoms, *([3] * nu), r.shape[1]))
        return moments


class MomentInvariants(torch.nn.Module):
    """Channel-mixed contractions of moments: for each invariant and each of its slots, a learnable
    linear mixing of channels, then the full contraction over Cartesian indices. Output
    (n_atoms, n_invariants * channels)."""

    def __init__(self, channels: int, invariants: tuple[str, ...]):
        super().__init__()
        self.invariants = tuple(invariants)
        self.max_rank = max(max(CONTRACTIONS[name][0]) for name in self.invariants)
        # one mixing matrix per (invariant, slot), stacked per rank so that each rank is mixed once
        self.slots: list[list[tuple[int, int]]] = []  # per invariant: (rank, index in that rank's stack)
        count = [0] * (self.max_rank + 1)
        for name in self.invariants:
            entries = []
            for nu in CONTRACTIONS[name][0]:
                entries.append((nu, count[nu]))
                count[nu] += 1
            self.slots.append(entries)
        # mixing[nu]: (C, S_nu * C), all slots of a rank mixed by one matrix product
        self.mixing = torch.nn.ParameterList(
            torch.nn.Parameter(
                (torch.eye(channels)[:, None, :] + 0.3 * torch.randn(channels, max(n, 1), channels) / channels**0.5).reshape(channels, -1)
            )
            for n in count
        )
        self.channels = channels

    @property
    def n_features(self) -> int:
        return len(self.invariants) * self.channels

    def mixed(self, moments: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per rank, (S_nu, n, 3, ..., 3, C): the channel mixtures used by the slots."""
        out = []
        for nu, m in enumerate(moments[: self.max_rank + 1]):
            n_slots = self.mixing[nu].shape[1] // self.channels
            mixed = (m.reshape(-1, self.channels) @ self.mixing[nu]).reshape(*m.shape[:-1], n_slots, self.channels)
            out.append(mixed.movedim(-2, 0))
        return out

    def forward(self, moments: list[torch.Tensor]) -> torch.Tensor:
        # unbind once: indexing the stack slot by slot would, in backward, fill a zero tensor of
        # the whole stack for every slot (70% of the time when profiled)
        mixed = [m.unbind(0) for m in self.mixed(moments)]
        return torch.cat([_contract(name, [mixed[nu][s] for nu, s in slots]) for name, slots in zip(self.invariants, self.slots)], dim=1)
