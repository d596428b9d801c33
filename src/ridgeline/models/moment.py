"""Moment tensor network: learnable radial functions, Cartesian moment tensors up to rank 4,
body-ordered invariant contractions (2- to 5-body), a per-element network readout, and by
default a ZBL core as an energy term of the model (``models.sum``). One layer is local (MTP/ACE-like); each further layer lets the neighbours' invariant
features of the layer before weight the radial functions (scalar messages, as the node features
of MACE's interaction), within its own ``message_cutoff`` (<= cutoff), which widens the receptive
field to cutoff + message_cutoff. Cost linear in atoms."""

from __future__ import annotations

from typing import NamedTuple

import torch

from .. import keys
from ..nn.moments import CartesianMoments, MomentInvariants, dense_slots, expand_symmetric
from ..nn.radial import BesselBasis
from ..nn.readout import ElementMLPs, Standardize
from ..nn.tracing import tracing
from .base import EnergyModel, shared_value

# "44" (the rank-4, l <= 4 three-body invariant) sees the cubic order of bcc/fcc sites
# (docs/moment_network.md)
DEFAULT_INVARIANTS = ("0", "11", "22", "33", "44", "121", "222", "123", "233", "1221", "2222", "1331")

MESSAGES = ("scalar", "equivariant")  # what layers after the first receive from neighbours
MAX_NEIGHBOURS = ("max neighbours",)  # key in ``shared``: the most edges of one centre, given (export)

PRESETS = {
    "small": dict(channels=8, n_basis=8, hidden=[32, 32]),
    # a narrow readout generalises better, a 6.5 Å cutoff is more accurate (5 -> 6 -> 6.5 Å on Si),
    # a linear path in the readout extrapolates Mo's surface energies better (docs/moment_network.md)
    "medium": dict(channels=16, n_basis=8, hidden=[16], cutoff=6.5, linear_path=True),
    "large": dict(channels=32, n_basis=10, hidden=[128, 128]),
}


def pair_radial(basis: torch.Tensor, weights: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    """Radial functions of each edge, (E, width): its basis (E, n_basis) times the weights of its
    ordered element pair, ``weights`` (n_pairs, n_basis, width)."""
    if weights.shape[0] == 1:  # one element: a single matrix product
        return basis @ weights[0]
    return torch.einsum("ek,ekc->ec", basis, weights[pair])


class DenseEdges(NamedTuple):
    """One layer's edges in the dense neighbour layout (``dense_slots``): (n_atoms * n_max)
    rows, atom a's neighbours in rows a * n_max ..., padding rows placed beyond the cutoff (their
    radial basis is zero)."""

    basis: torch.Tensor  # (rows, n_basis)
    unit: torch.Tensor  # (rows, 3)
    pair: torch.Tensor  # (rows,) ordered element pair (centre, neighbour)
    neighbor: torch.Tensor  # (rows,) the neighbour's atom index (0 in padding rows)
    n_max: int
    norm: torch.Tensor  # the average number of neighbours the moments are divided by
    key: tuple  # what the layout depends on besides the batch (cutoff, basis): its name in ``shared``


class MomentLayer(torch.nn.Module):
    """Radial functions -> moments -> invariants -> per-element standardisation.

    ``n_messages`` > 0: the radial functions are multiplied by a linear map of the neighbour's
    invariants of the layer before (scalar messages). ``equivariant``: the neighbours' rank-1 and
    rank-2 moments of the layer before, channel-mixed, travel along the edges too, weighted by
    their own radial functions and coupled to the edge direction (``EquivariantMessages``); they
    are added to this layer's moments of the same rank."""

    def __init__(self, n_elements: int, n_basis: int, channels: int, invariants: tuple[str, ...], n_messages: int = 0,
                 equivariant: bool = False, radial_hidden: tuple[int, ...] = (), cutoff: float | None = None):
        super().__init__()
        self.invariants = MomentInvariants(channels, invariants)
        self.moments = CartesianMoments(self.invariants.max_rank)
        # a message layer has its own cutoff (<= the model's), radial basis on it and average
        # number of neighbours within it; the first layer uses the model's
        self.cutoff = cutoff
        if cutoff is not None:
            self.basis = BesselBasis(cutoff, n_basis)
            self.register_buffer("avg_num_neighbors", torch.tensor(1.0))
        width = (self.invariants.max_rank + 1) * channels
        # radial weights per ordered element pair (centre, neighbour): onto the first hidden layer
        # of the radial network, or (no hidden layers) straight onto each rank and channel
        sizes = [n_basis, *radial_hidden, width]
        self.radial_weights = torch.nn.Parameter(torch.randn(n_elements * n_elements, n_basis, sizes[1]) / n_basis**0.5)
        self.radial_net = torch.nn.Sequential(*[
            m for a, b in zip(sizes[1:-1], sizes[2:]) for m in (torch.nn.SiLU(), torch.nn.Linear(a, b, bias=False))])
        self.message = torch.nn.Linear(n_messages, width, bias=True) if n_messages else None
        self.equivariant = EquivariantMessages(n_elements, n_basis, channels) if equivariant else None
        self.standardize = Standardize(n_elements, self.invariants.n_features)
        self.channels = channels
        self.n_elements = n_elements

    @property
    def linear_radial(self) -> bool:
        """Radial functions linear in the basis (no radial network, no messages): the moments can
        be formed from the basis functions' moments (``CartesianMoments.of_basis``)."""
        return len(self.radial_net) == 0 and self.message is None

    def moments_of_basis(self, edges: DenseEdges, species: torch.Tensor, shared: dict | None = None) -> list[torch.Tensor]:
        """The moments, (n_atoms, n_sym, C) per rank, of radial functions linear in the basis:
        sum_j R_c,nu(r_ij) u^(x)nu = sum_k W_k,c,nu [sum_j B_k(r_ij) u^(x)nu], with W the weights
        of the pair (centre, neighbour). With several elements the basis of each edge sits in
        its neighbour element's block of columns, and each atom takes its own element's weights.
        The basis functions' moments hold no weights: a committee computes them once (``shared``)."""
        K, C, n_atoms = self.n_elements, self.channels, species.shape[0]

        def basis_moments():
            basis = edges.basis
            if K > 1:  # (rows, K * n_basis): the basis in the neighbour's element block
                onehot = torch.nn.functional.one_hot(edges.pair % K, K).to(basis.dtype)
                basis = (onehot[:, :, None] * basis[:, None, :]).flatten(1)
            return self.moments.of_basis(basis, edges.unit, n_atoms, edges.n_max)

        blocks = shared_value(shared, edges.key + ("basis moments", self.moments.max_rank), basis_moments)
        weights = self.radial_weights.reshape(K, K * self.radial_weights.shape[1], -1)  # per centre element
        if K == 1:
            return [b @ weights[0, :, nu * C:(nu + 1) * C] for nu, b in enumerate(blocks)]
        per_atom = weights[species]  # (n_atoms, K * n_basis, width)
        return [torch.bmm(b, per_atom[:, :, nu * C:(nu + 1) * C]) for nu, b in enumerate(blocks)]

    def radial(self, basis, pair, neighbor_features=None) -> torch.Tensor:
        """(E, (max_rank + 1) * channels): each edge's radial functions for rank 0, 1, ... side by side."""
        r = self.radial_net(pair_radial(basis, self.radial_weights, pair))
        if self.message is not None:
            r = r * self.message(neighbor_features)
        return r


class EquivariantMessages(torch.nn.Module):
    """Messages that carry the neighbours' moments of the layer before (rank 1: vectors, rank 2:
    matrices; channel-mixed, C -> C), so that the next layer's invariants see how the neighbours'
    environments are oriented relative to each other and to the bond, which scalar messages
    (neighbours' invariants) cannot. For centre i and neighbour j, with u = u_ij and
    radial functions R_k(r_ij) (per element pair and channel, as the moments'):

        rank 0:  R_0 (u . V_j)               rank 1:  R_1 V_j + R_2 (T_j u)
        rank 2:  R_3 T_j + R_4 (u (x) V_j)

    summed over j and divided by the average number of neighbours; V, T: the mixed rank-1 and
    rank-2 moments. Each term is equivariant, so the sums rotate as tensors of their rank."""

    n_terms = 5

    def __init__(self, n_elements: int, n_basis: int, channels: int):
        super().__init__()
        self.channels = channels
        self.radial_weights = torch.nn.Parameter(
            0.5 * torch.randn(n_elements * n_elements, n_basis, self.n_terms * channels) / n_basis**0.5)
        self.mix_vector = torch.nn.Parameter(torch.eye(channels) + 0.3 * torch.randn(channels, channels) / channels**0.5)
        self.mix_matrix = torch.nn.Parameter(torch.eye(channels) + 0.3 * torch.randn(channels, channels) / channels**0.5)

    def forward(self, edges: DenseEdges, moments, n_atoms: int) -> list[torch.Tensor]:
        """[rank 0 (n, C), rank 1 (n, 3, C), rank 2 (n, 3, 3, C)] message sums; ``moments``: the
        layer before's [M^0, M^1, M^2, ...]."""
        C = self.channels
        unit, j = edges.unit, edges.neighbor
        r = pair_radial(edges.basis, self.radial_weights, edges.pair) / edges.norm  # zero in padding rows
        v = (moments[1] @ self.mix_vector)[j]  # (rows, 3, C)
        t = (expand_symmetric(moments[2], 2) @ self.mix_matrix)[j]  # (rows, 3, 3, C)
        rk = [r[:, k * C:(k + 1) * C] for k in range(self.n_terms)]
        s0 = rk[0] * (unit[:, :, None] * v).sum(1)
        s1 = rk[1][:, None] * v + rk[2][:, None] * (t * unit[:, None, :, None]).sum(2)
        s2 = rk[3][:, None, None] * t + rk[4][:, None, None] * (unit[:, :, None, None] * v[:, None])
        return [x.view(n_atoms, edges.n_max, *x.shape[1:]).sum(1) for x in (s0, s1, s2)]


class MomentNetwork(EnergyModel):
    architecture = "moment"
    default_terms = {"zbl": {"switch": "data"}}  # a core switched off just below the training data
    atom_block = 512  # atoms per block of the per-atom part (a speed setting, not a hyperparameter)

    def __init__(
        self,
        elements: list[int],
        cutoff: float = 5.0,
        channels: int = 16,
        n_basis: int = 8,
        hidden: list[int] = (64, 64),
        invariants: list[str] = DEFAULT_INVARIANTS,
        layers: int = 1,
        messages: str = "scalar",
        radial_hidden: list[int] = (),
        linear_path: bool = False,
        message_cutoff: float | None = None,
        message_invariants: list[str] | None = None,
    ):
        super().__init__(elements, cutoff)
        invariants = [str(name) for name in invariants]  # YAML reads [0, 11, 22] as integers
        message_invariants = invariants if message_invariants is None else [str(name) for name in message_invariants]
        message_cutoff = float(cutoff) if message_cutoff is None else float(message_cutoff)
        if not 0 < message_cutoff <= float(cutoff):
            raise ValueError(f"message_cutoff must be in (0, cutoff = {cutoff}], got {message_cutoff}")
        if messages not in MESSAGES:
            raise ValueError(f"messages must be one of {', '.join(MESSAGES)}, got {messages!r}")
        self._hp = dict(cutoff=float(cutoff), channels=int(channels), n_basis=int(n_basis), hidden=[int(h) for h in hidden],
                        invariants=list(invariants), layers=int(layers), messages=messages,
                        radial_hidden=[int(h) for h in radial_hidden], linear_path=bool(linear_path),
                        message_cutoff=message_cutoff, message_invariants=list(message_invariants))
        K = self.n_elements
        self.basis = BesselBasis(cutoff, n_basis)
        self.layers = torch.nn.ModuleList([MomentLayer(K, n_basis, channels, tuple(invariants), radial_hidden=tuple(self._hp["radial_hidden"]))])
        for _ in range(1, int(layers)):
            self.layers.append(MomentLayer(K, n_basis, channels, tuple(message_invariants), n_messages=self.layers[-1].invariants.n_features,
                                           equivariant=messages == "equivariant", radial_hidden=tuple(self._hp["radial_hidden"]),
                                           cutoff=message_cutoff))
        if messages == "equivariant" and int(layers) > 1 and self.layers[0].invariants.max_rank < 2:
            raise ValueError("equivariant messages need moments up to rank 2 (an invariant of rank >= 2)")
        self.register_buffer("avg_num_neighbors", torch.tensor(1.0))
        n_features = sum(layer.invariants.n_features for layer in self.layers)
        self.networks = ElementMLPs(K, n_features, self._hp["hidden"], linear_path=self._hp["linear_path"])

    def hyperparameters(self) -> dict:
        return dict(elements=self.elements, **self._hp)

    def _layer_edges(self, layer, vectors, lengths, i, j, species, shared: dict | None = None) -> DenseEdges:
        """The edges a layer sees, in the dense neighbour layout; a message layer with a shorter
        cutoff keeps the edges within it (in order, so still sorted by centre). No weights: a
        committee's members with the same cutoff and basis build it once (``shared``)."""
        cutoff, basis, norm = (self.cutoff, self.basis, self.avg_num_neighbors) if layer.cutoff is None else \
            (layer.cutoff, layer.basis, layer.avg_num_neighbors)
        key = ("dense edges", cutoff, basis.n_basis, self.n_elements)

        def build():
            v, a, b = vectors, i, j
            # an exported model gets the most neighbours of an atom as an input (MAX_NEIGHBOURS
            # in ``shared``) and keeps every edge: beyond a layer's cutoff its basis is exactly
            # zero, so the edges outside add nothing, and no shape depends on the data
            given = None if shared is None else shared.get(MAX_NEIGHBOURS)
            if cutoff < self.cutoff and given is None:
                inside = torch.nonzero(lengths < cutoff).squeeze(1)
                v, a, b = v[inside], a[inside], b[inside]
            n_atoms = species.shape[0]
            slot, n_max = dense_slots(a, n_atoms, given)
            padding = v.new_zeros(n_atoms * n_max, 3)
            padding[:, 0] = 2.0 * cutoff  # beyond the cutoff: the basis (its envelope) is exactly zero
            dense = padding.index_copy(0, slot, v)
            r = torch.linalg.norm(dense, dim=-1)
            pair = species[a] * self.n_elements + species[b]
            return DenseEdges(basis(r), dense / r[:, None], pair.new_zeros(dense.shape[0]).index_copy(0, slot, pair),
                              b.new_zeros(dense.shape[0]).index_copy(0, slot, b), n_max, norm, key)

        return shared_value(shared, key, build)._replace(norm=norm)

    def _layer_moments(self, layer, edges: DenseEdges, species, previous=None, previous_moments=None,
                       shared: dict | None = None) -> list[torch.Tensor]:
        """Moment tensors of one layer (symmetric storage, or full where equivariant messages were
        added); ``previous``: the layer before's features (messages), ``previous_moments``: its
        moments (equivariant messages)."""
        if layer.linear_radial:
            moments = layer.moments_of_basis(edges, species, shared)
        else:
            radial = layer.radial(edges.basis, edges.pair, None if previous is None else previous[edges.neighbor])
            moments = layer.moments(radial, edges.unit, species.shape[0], edges.n_max)
        moments = [m / edges.norm for m in moments]
        if layer.equivariant is not None:
            extra = layer.equivariant(edges, previous_moments, species.shape[0])
            # the messages' rank-2 part is not symmetric: those ranks go on in the full layout
            moments = [expand_symmetric(m, nu) + extra[nu] if nu < len(extra) else m for nu, m in enumerate(moments)]
        return moments

    def _layer_features(self, layer, edges, species, previous=None, previous_moments=None, shared=None):
        """Standardised invariants of one layer, (n_atoms, n_invariants * channels), and its moments."""
        moments = self._layer_moments(layer, edges, species, previous, previous_moments, shared)
        # the per-atom part runs in blocks of atoms: each block's tensors (and their gradients in
        # the backward pass) stay in cache, which keeps the cost per atom flat for large systems
        # (split, not sliced: each slice's backward would fill zeros of the whole moment tensor)
        # (one block when exported: the number of blocks would depend on the number of atoms)
        if tracing():
            return layer.standardize(layer.invariants(list(moments)), species), moments
        pieces = [m.split(self.atom_block) for m in moments]
        blocks = [layer.standardize(layer.invariants(list(block)), s) for block, s in zip(zip(*pieces), species.split(self.atom_block))]
        return (torch.cat(blocks) if len(blocks) != 1 else blocks[0]), moments

    def _features(self, batch: dict, species: torch.Tensor, n_layers: int | None = None, shared: dict | None = None):
        vectors, lengths = self.geometry(batch, shared)
        i, j = batch[keys.EDGE_INDEX]
        features, moments = [], None
        for layer in self.layers[:n_layers]:
            edges = self._layer_edges(layer, vectors, lengths, i, j, species, shared)
            x, moments = self._layer_features(layer, edges, species, features[-1] if features else None, moments, shared)
            features.append(x)
        return features

    def environment_moments(self, batch: dict, species: torch.Tensor | None = None, layer: int = 0) -> list[torch.Tensor]:
        """Moment tensors M^nu of a layer (messages included), each (n_atoms, 3, ..., 3, channels)
        with nu Cartesian axes: equivariant."""
        species = self.species(batch[keys.NUMBERS]) if species is None else species
        vectors, lengths = self.edge_geometry(batch)
        i, j = batch[keys.EDGE_INDEX]
        x = moments = None
        for before in self.layers[:layer]:  # the layers before give the messages
            x, moments = self._layer_features(before, self._layer_edges(before, vectors, lengths, i, j, species), species, x, moments)
        edges = self._layer_edges(self.layers[layer], vectors, lengths, i, j, species)
        moments = self._layer_moments(self.layers[layer], edges, species, x, moments)
        return [expand_symmetric(m, nu) for nu, m in enumerate(moments)]

    def atomic_features(self, batch: dict, species: torch.Tensor | None = None, shared: dict | None = None) -> torch.Tensor:
        """Rotation-invariant body-ordered features of all layers (n_atoms, layers * n_invariants * channels)."""
        species = self.species(batch[keys.NUMBERS]) if species is None else species
        return torch.cat(self._features(batch, species, shared=shared), dim=1)

    def readout_inputs(self, batch: dict, species: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        return self.atomic_features(batch, species, shared)

    @torch.no_grad()
    def fit_feature_statistics(self, batches: list[dict]) -> None:
        """The average number of neighbours, then each layer's feature statistics in turn (a
        layer's inputs depend on the statistics before it)."""
        n_edges = sum(b[keys.EDGE_INDEX].shape[1] for b in batches)
        n_atoms = sum(len(b[keys.NUMBERS]) for b in batches)
        self.avg_num_neighbors.fill_(max(n_edges / max(n_atoms, 1), 1.0))
        for layer in self.layers:
            if layer.cutoff is not None:
                inside = sum(int((self.edge_geometry(b)[1] < layer.cutoff).sum()) for b in batches)
                layer.avg_num_neighbors.fill_(max(inside / max(n_atoms, 1), 1.0))
        for k, layer in enumerate(self.layers):
            layer.standardize.mean.zero_()
            layer.standardize.std.fill_(1.0)
            raw, species = [], []
            for batch in batches:
                s = self.species(batch[keys.NUMBERS])
                raw.append(self._features(batch, s, n_layers=k + 1)[-1])
                species.append(s)
            layer.standardize.fit(torch.cat(raw), torch.cat(species))
