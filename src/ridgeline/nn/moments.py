"""Cartesian moment tensors of atomic environments and their rotation-invariant contractions
(the body-ordered features of the moment tensor potential, Shapeev, Multiscale Model. Simul. 14,
1153 (2016), and of the atomic cluster expansion in Cartesian form).

    M^nu_ic = sum_j R_c,nu(r_ij) u_ij (x) ... (x) u_ij      (nu factors of the unit vector u_ij)

Each contraction of k moments is a (k+1)-body invariant. Moments are formed by batched matrix
products over a dense per-atom neighbour layout: the edge-by-channel-by-tensor product is never
materialised, which keeps memory and time linear in the number of edges with a small constant.

A moment is symmetric in its Cartesian indices, so it is formed and channel-mixed in symmetric
storage, (n_atoms, n_sym, C) with one entry per sorted index tuple (1, 3, 6, 10, 15 entries for
ranks 0-4 against 1, 3, 9, 27, 81), and expanded to the full (n_atoms, 3, ..., 3, C) layout
only where a contraction needs it. A full self-contraction of two moments of one rank ("22",
"44") needs no expansion: it is the sum over sorted tuples weighted by their multiplicity.
Rank 4 (angular momentum up to l = 4) is what tells the cubic order of a bcc or fcc site from
other environments with the same radial distribution: moments of rank <= 3 hold only l <= 3,
and their l = 2 and l = 3 parts vanish at a centrosymmetric cubic site.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch

# invariant -> ranks of the moments it contracts, and the contraction over Cartesian indices
# (channels last: "n" atoms, "c" channels; used as the reference in the tests)
CONTRACTIONS = {
    "0": ((0,), "nc->nc"),
    "11": ((1, 1), "nac,nac->nc"),
    "22": ((2, 2), "nabc,nabc->nc"),
    "33": ((3, 3), "nabdc,nabdc->nc"),
    "44": ((4, 4), "nabdec,nabdec->nc"),
    "55": ((5, 5), "nabdefc,nabdefc->nc"),
    "66": ((6, 6), "nabdefgc,nabdefgc->nc"),
    "121": ((1, 2, 1), "nac,nabc,nbc->nc"),
    "222": ((2, 2, 2), "nabc,nbdc,ndac->nc"),
    "123": ((1, 2, 3), "nac,nbdc,nabdc->nc"),
    "233": ((2, 3, 3), "nabc,nadec,nbdec->nc"),
    "1221": ((1, 2, 2, 1), "nac,nabc,nbdc,ndc->nc"),
    "2222": ((2, 2, 2, 2), "nabc,nbdc,ndec,neac->nc"),
    "1331": ((1, 3, 3, 1), "nac,nabdc,nebdc,nec->nc"),
    "224": ((2, 2, 4), "nabc,ndec,nabdec->nc"),
    "444": ((4, 4, 4), "nabdec,ndefgc,nfgabc->nc"),
}

SELF_CONTRACTIONS = {name for name, (ranks, _) in CONTRACTIONS.items() if len(ranks) == 2 and ranks[0] == ranks[1]}


@functools.lru_cache(maxsize=None)
def symmetric_tuples(nu: int) -> list[tuple[int, ...]]:
    """The sorted Cartesian index tuples of a symmetric rank-nu tensor (its stored entries)."""
    return list(itertools.combinations_with_replacement(range(3), nu))


@functools.lru_cache(maxsize=None)
def expansion_index(nu: int) -> torch.Tensor:
    """For each full index tuple (row-major over 3^nu), the position of its sorted tuple."""
    position = {t: k for k, t in enumerate(symmetric_tuples(nu))}
    return torch.tensor([position[tuple(sorted(t))] for t in itertools.product(range(3), repeat=nu)], dtype=torch.long)


@functools.lru_cache(maxsize=None)
def multiplicities(nu: int) -> torch.Tensor:
    """How many full index tuples each sorted tuple stands for (nu! / (n_x! n_y! n_z!))."""
    return torch.tensor([math.factorial(nu) // math.prod(math.factorial(t.count(a)) for a in range(3)) for t in symmetric_tuples(nu)],
                        dtype=torch.float64)


def expand_symmetric(m: torch.Tensor, nu: int) -> torch.Tensor:
    """(n, n_sym, C) symmetric storage -> the full (n, 3, ..., 3, C) tensor (a full one is returned
    as it is; rank 1 is the same in both)."""
    if m.dim() == nu + 2:
        return m
    full = m.index_select(1, expansion_index(nu).to(m.device))
    return full.reshape(m.shape[0], *([3] * nu), m.shape[-1])


def _matvec(m, v):  # (n,3,3,c) x (n,3,c) -> (n,3,c): sum_b m_ab v_b
    return (m * v[:, None]).sum(2)


def _matmat(a, b):  # (n,3,3,c) x (n,3,3,c) -> (n,3,3,c)
    return (a[:, :, :, None] * b[:, None]).sum(2)


def _contract(name: str, t: list[torch.Tensor]) -> torch.Tensor:
    """The contraction ``CONTRACTIONS[name]`` with broadcast products (faster than einsum here)."""
    if name == "0":
        return t[0]
    if name in SELF_CONTRACTIONS:
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
    if name == "224":  # sum A_ab B_de C_abde
        return ((t[2] * t[0][:, :, :, None, None]).sum((1, 2)) * t[1]).sum((1, 2))
    if name == "444":  # trace of the product of the three (ab) x (de) matrices
        a, b, c = (x.reshape(x.shape[0], 9, 9, x.shape[-1]) for x in t)
        return (_matmat(a, b) * c.transpose(1, 2)).sum((1, 2))
    raise KeyError(name)


def dense_slots(centers: torch.Tensor, n_atoms: int, n_max: int | None = None) -> tuple[torch.Tensor, int]:
    """The dense neighbour layout of edges sorted by centre: each edge's row, centre * n_max +
    (its place among its centre's edges), in an (n_atoms * n_max) layout, and n_max (the most
    edges of one centre; given by the caller where it knows it, e.g. an exported model's input,
    at least the true one)."""
    # a scatter of ones rather than bincount: its size is n_atoms whatever the data
    counts = torch.zeros(n_atoms, dtype=centers.dtype, device=centers.device).index_add_(0, centers, torch.ones_like(centers))
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(centers.shape[0], device=centers.device) - start[centers]
    if n_max is None:
        n_max = int(counts.max()) if n_atoms > 0 else 0
    return centers * n_max + rank, n_max


@functools.lru_cache(maxsize=None)
def _power_factors(nu: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sorted tuple of rank nu: the position of its first nu-1 indices among rank nu-1's
    tuples, and its last index (u^(nu) = u^(nu-1) * u_last, entry by entry)."""
    before = {t: k for k, t in enumerate(symmetric_tuples(nu - 1))}
    tuples = symmetric_tuples(nu)
    return torch.tensor([before[t[:-1]] for t in tuples]), torch.tensor([t[-1] for t in tuples])


def unit_powers(unit: torch.Tensor, max_rank: int) -> list[torch.Tensor]:
    """[1, u, u(x)u, ...][:max_rank+1] in symmetric storage, each (E, n_sym): the monomials
    u_a u_b ... over the sorted index tuples, each the one of rank nu-1 times one component."""
    powers = [torch.ones_like(unit[:, :1])]
    for nu in range(1, max_rank + 1):
        before, last = (x.to(unit.device) for x in _power_factors(nu))
        powers.append(powers[-1].index_select(1, before) * unit.index_select(1, last))
    return powers


class CartesianMoments(torch.nn.Module):
    """M^nu for nu = 0..max_rank from per-edge radial weights, in symmetric storage
    (n_atoms, n_sym, channels); ``expand_symmetric`` gives the full tensors.

    The edges come in the dense neighbour layout (``dense_slots``): atom a's neighbours in rows
    a * n_max ... (a + 1) * n_max - 1, padding rows with zero radial weights. Each moment is then
    one batched matrix product over the neighbour slots. The layout is built once, from the
    edge vectors (3 numbers per edge), and everything per edge is computed in it: scattering
    the radial functions and unit-vector powers (115 numbers per edge) into it, and gathering
    their gradients back, took a fifth of the calculator's time (docs/results_log.md)."""

    def __init__(self, max_rank: int):
        super().__init__()
        self.max_rank = max_rank

    def forward(self, radial: torch.Tensor, unit: torch.Tensor, n_atoms: int, n_max: int) -> list[torch.Tensor]:
        """``radial``: (n_atoms * n_max, (max_rank + 1) * channels), the weights of each edge for
        rank 0, 1, ... side by side; ``unit``: (n_atoms * n_max, 3), in the dense layout."""
        powers = unit_powers(unit, self.max_rank)
        rs = radial.view(n_atoms, n_max, radial.shape[1]).split(radial.shape[1] // (self.max_rank + 1), dim=2)
        return [torch.bmm(p.view(n_atoms, n_max, p.shape[1]).transpose(1, 2), r) for p, r in zip(powers, rs)]  # (n, n_sym, C)

    def of_basis(self, basis: torch.Tensor, unit: torch.Tensor, n_atoms: int, n_max: int) -> list[torch.Tensor]:
        """sum_j B_k(r_ij) u_ij^(x)nu, (n_atoms, n_sym, n_basis) for nu = 0..max_rank: the moments
        of the basis functions themselves. Where the radial functions are linear in the basis,
        R_c,nu = sum_k B_k W_k,c,nu, the moments are these times W, which is cheaper than forming
        the radial functions of every edge (one batched product over n_basis columns instead of
        the (max_rank + 1) * channels of the radial functions)."""
        powers = unit_powers(unit, self.max_rank)
        y = torch.cat(powers, dim=1)
        y = y.view(n_atoms, n_max, y.shape[1])
        both = torch.bmm(y.transpose(1, 2), basis.view(n_atoms, n_max, basis.shape[1]))  # (n, sum n_sym, n_basis)
        return list(both.split([p.shape[1] for p in powers], dim=1))


class MomentInvariants(torch.nn.Module):
    """Channel-mixed contractions of moments: for each invariant and each of its slots, a learnable
    linear mixing of channels, then the full contraction over Cartesian indices. Output
    (n_atoms, n_invariants * channels)."""

    def __init__(self, channels: int, invariants: tuple[str, ...]):
        super().__init__()
        self.invariants = tuple(invariants)
        unknown = [name for name in self.invariants if name not in CONTRACTIONS]
        if unknown or not self.invariants:
            raise ValueError(f"unknown moment invariants {unknown}; valid names (strings): {', '.join(CONTRACTIONS)}")
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
        """Per rank, (S_nu, n, n_sym, C) (or the full (S_nu, n, 3, ..., 3, C) if a moment came in
        full): the channel mixtures used by the slots."""
        out = []
        for nu, m in enumerate(moments[: self.max_rank + 1]):
            n_slots = self.mixing[nu].shape[1] // self.channels
            mixed = (m.reshape(-1, self.channels) @ self.mixing[nu]).reshape(*m.shape[:-1], n_slots, self.channels)
            out.append(mixed.movedim(-2, 0))
        return out

    def forward(self, moments: list[torch.Tensor]) -> torch.Tensor:
        """``moments``: M^nu in symmetric storage (n, n_sym, C), or full (n, 3, ..., 3, C)."""
        # unbind once: indexing the stack slot by slot would, in backward, fill a zero tensor of
        # the whole stack for every slot (70% of the time when profiled)
        mixed = [m.unbind(0) for m in self.mixed(moments)]
        return torch.cat([self._invariant(name, [mixed[nu][s] for nu, s in slots]) for name, slots in zip(self.invariants, self.slots)], dim=1)

    @staticmethod
    def _invariant(name: str, t: list[torch.Tensor]) -> torch.Tensor:
        ranks = CONTRACTIONS[name][0]
        if name == "0":
            return t[0].reshape(t[0].shape[0], -1)
        if name in SELF_CONTRACTIONS and t[0].dim() == 3 and t[1].dim() == 3:  # both in symmetric storage
            weight = multiplicities(ranks[0]).to(t[0].device, t[0].dtype)
            return (t[0] * t[1] * weight[:, None]).sum(1)
        return _contract(name, [expand_symmetric(x, nu) for x, nu in zip(t, ranks)])
