"""What the LAMMPS tests share: a small untrained two-element moment model and SiC cells."""

import numpy as np
import torch
from ase.build import bulk

from ridgeline.models import build_model

SI, C = 14, 6


def two_element_model(layers: int = 1, seed: int = 0, invariants=None):
    """An untrained SiC moment model (float64) with its ZBL core switched on below 1.5 Å; with
    ``layers`` 2 a message layer of shorter cutoff, so that edges beyond it must add nothing;
    ``invariants``: fewer than the default compile faster."""
    torch.manual_seed(seed)
    extra = {"layers": 2, "message_cutoff": 2.8} if layers == 2 else {}
    if invariants is not None:
        extra["invariants"] = list(invariants)
    model = build_model("moment", [C, SI], preset="small", cutoff=3.6, **extra).double().eval()
    with torch.no_grad():
        model.scale_shift.scale.fill_(0.3)
        model.scale_shift.atomic_energies.copy_(torch.tensor([-7.0, -5.0]))
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def sic(repeat=(2, 2, 2), seed=0, cubic=False):
    """Rattled zincblende SiC: primitive (triclinic) cells, or cubic ones (LAMMPS keeps their
    axes, so forces compare component by component)."""
    atoms = bulk("SiC", "zincblende", a=4.36, cubic=cubic).repeat(repeat)
    atoms.rattle(0.08, seed=seed)
    return atoms


def close_pair(atoms):
    """A pair moved to 1.3 Å, inside the ZBL core."""
    atoms = atoms.copy()
    d = atoms.get_distance(0, 1, mic=True, vector=True)
    atoms.positions[1] = atoms.positions[0] + d / np.linalg.norm(d) * 1.3
    return atoms
