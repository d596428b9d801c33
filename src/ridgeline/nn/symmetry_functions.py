"""Atom-centred symmetry functions (Behler & Parrinello, PRL 98, 146401 (2007); Behler, JCP 134,
074106 (2011)), batched and differentiable in torch.

Radial, per neighbour element b:
    G2_i = sum_{j in b} exp(-eta (r_ij - r_s)^2) f_c(r_ij)
Angular G5, per unordered neighbour-element pair (b, c):
    G5_i = 2^(1-zeta) sum_{j in b, k in c, j != k} (1 + lambda cos theta_ijk)^zeta g(r_ij) g(r_ik)
    with g(r) = exp(-eta (r - r_s)^2) f_c(r).

G5's radial part factorises over j and k, so it is computed without enumerating triplets, at a
cost linear in the number of neighbours. Expanding (1 + lambda c)^zeta in powers c^n and writing
(u_j . u_k)^n through Cartesian monomials (the moment-tensor trick of MTP and ACE),
    sum_{j,k} c_jk^n g_j g_k = sum_{a+b+c=n} n!/(a! b! c!) M_abc^2,
    M_abc = sum_j g_j x_j^a y_j^b z_j^c   (x, y, z components of the unit vector u_ij),
and the j = k terms (c = 1) are subtracted. The result is exactly Behler's G5.
"""

from __future__ import annotations

import math

import torch

from .cutoff import build_cutoff
from .scatter import scatter_sum


def default_radial_grid(cutoff: float, n: int, r_min: float = 0.5) -> tuple[list[float], list[float]]:
    """Shifted Gaussians evenly spread over [r_min, r_c) whose width equals their spacing
    (the "shifted" scheme of Imbalzano et al., JCP 148, 241730 (2018))."""
    spacing = (cutoff - r_min) / n
    centers = [r_min + spacing * (k + 0.5) for k in range(n)]
    etas = [1.0 / (2.0 * spacing**2)] * n
    return centers, etas


def _monomial_exponents(degree: int) -> list[tuple[int, int, int]]:
    return [(a, b, n - a - b) for n in range(degree + 1) for a in range(n, -1, -1) for b in range(n - a, -1, -1)]


class SymmetryFunctions(torch.nn.Module):
    """G2 and G5 features of every atom, resolved by neighbour element (pair)."""

    def __init__(
        self,
        n_elements: int,
        cutoff: float,
        n_radial: int = 12,
        n_angular_shells: int = 4,
        zetas: tuple[int, ...] = (1, 2, 4),
        cutoff_function: str = "polynomial",
        r_min: float = 0.5,
    ):
        super().__init__()
        self.n_elements = n_elements
        self.cutoff = float(cutoff)
        self.cutoff_fn = build_cutoff(cutoff_function, cutoff)
        rs, eta = default_radial_grid(cutoff, n_radial, r_min)
        self.register_buffer("radial_centers", torch.tensor(rs))
        self.register_buffer("radial_etas", torch.tensor(eta))
        rs, eta = default_radial_grid(cutoff, n_angular_shells, r_min)
        self.register_buffer("angular_centers", torch.tensor(rs))
        self.register_buffer("angular_etas", torch.tensor(eta))

        degree = max(zetas)
        exps = _monomial_exponents(degree)
        self.register_buffer("exponents", torch.tensor(exps, dtype=torch.long))  # (M, 3)
        deg = [sum(e) for e in exps]
        self.register_buffer("monomial_degree", torch.tensor(deg, dtype=torch.long))
        multinomial = [math.factorial(a + b + c) / (math.factorial(a) * math.factorial(b) * math.factorial(c)) for a, b, c in exps]
        self.register_buffer("multinomial", torch.tensor(multinomial))
        # G5 (zeta, lambda) as a linear map of the power sums F_n = sum_{j != k} c^n g_j g_k
        rows, self.angular_labels = [], []
        for zeta in zetas:
            for lam in (1, -1):
                rows.append([2.0 ** (1 - zeta) * math.comb(zeta, n) * lam**n if n <= zeta else 0.0 for n in range(degree + 1)])
                self.angular_labels.append((zeta, lam))
        self.register_buffer("g5_matrix", torch.tensor(rows))  # (A, degree+1)
        self.register_buffer("self_term", torch.tensor([[sum(r)] for r in rows]).squeeze(-1))  # (A,) value of G5 row at c = 1
        self.pairs = [(b, c) for b in range(n_elements) for c in range(b, n_elements)]
        self.n_radial = n_radial
        self.n_angular_shells = n_angular_shells
        self.n_angular = len(rows)

    @property
    def n_features(self) -> int:
        return self.n_elements * self.n_radial + len(self.pairs) * self.n_angular_shells * self.n_angular

    def forward(self, edge_vectors, edge_lengths, centers, neighbor_species, n_atoms: int) -> torch.Tensor:
        """Features (n_atoms, n_features) from edges (i -> j) given as vectors, lengths, centre
        indices i and element indices of the neighbours j."""
        K = self.n_elements
        fc = self.cutoff_fn(edge_lengths)  # (E,)
        # radial G2, one block per neighbour element
        g2 = torch.exp(-self.radial_etas * (edge_lengths[:, None] - self.radial_centers) ** 2) * fc[:, None]  # (E, R)
        slot = centers * K + neighbor_species
        radial = scatter_sum(g2, slot, n_atoms * K).reshape(n_atoms, K * self.n_radial)

        # angular G5 through Cartesian moments
        g = torch.exp(-self.angular_etas * (edge_lengths[:, None] - self.angular_centers) ** 2) * fc[:, None]  # (E, S)
        unit = edge_vectors / edge_lengths[:, None]
        # x^0, x^1, ... by repeated products: torch.pow's derivatives are NaN at x = 0 for small exponents
        powers = [torch.ones_like(unit)]
        for _ in range(int(self.monomial_degree.max())):
            powers.append(powers[-1] * unit)
        powers = torch.stack(powers, dim=-1)  # (E, 3, D+1)
        monomials = powers[:, 0, self.exponents[:, 0]] * powers[:, 1, self.exponents[:, 1]] * powers[:, 2, self.exponents[:, 2]]  # (E, M)
        S, M = g.shape[1], monomials.shape[1]
        moments = scatter_sum((g[:, :, None] * monomials[:, None, :]).reshape(-1, S * M), slot, n_atoms * K)
        moments = moments.reshape(n_atoms, K, S, M)
        self_sq = scatter_sum(g * g, slot, n_atoms * K).reshape(n_atoms, K, S)  # sum_j g_j^2, the j = k terms

        D = int(self.monomial_degree.max()) + 1
        blocks = []
        for b, c in self.pairs:
            prod = moments[:, b] * moments[:, c] * self.multinomial  # (n, S, M)
            power_sums = prod.new_zeros(n_atoms, S, D).index_add_(2, self.monomial_degree, prod)  # (n, S, D)
            g5 = power_sums @ self.g5_matrix.T  # (n, S, A)
            if b == c:
                g5 = g5 - self_sq[:, b, :, None] * self.self_term
            blocks.append(g5.reshape(n_atoms, S * self.n_angular))
        return torch.cat([radial, *blocks], dim=1)
