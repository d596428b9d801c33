"""A small ASE calculator for Kohn-Sham DFT of molecules with PySCF (energy and analytic forces).

Each calculation starts from PySCF's default initial guess, so the result depends on the
structure only. An SCF that does not converge within ``max_cycle`` raises (PySCF itself only
records ``mf.converged = False`` and returns the unconverged energy and gradient).
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator, all_changes
from ase.units import Bohr, Hartree

from ..errors import OracleError


class PySCFCalculator(Calculator):
    """RKS (``spin`` 0) or UKS (``spin`` = number of unpaired electrons > 0) with functional ``xc``
    in ``basis``; molecules only (any periodic direction is an error)."""

    implemented_properties = ["energy", "free_energy", "forces"]
    default_parameters = {"xc": "PBE", "basis": "def2-SVP", "charge": 0, "spin": 0, "max_cycle": 100, "conv_tol": 1e-9}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        try:
            from pyscf import dft, gto
        except ImportError as err:
            raise OracleError("the pyscf oracle needs pyscf: pip install pyscf") from err
        super().calculate(atoms, properties, system_changes)
        atoms, p = self.atoms, self.parameters
        if atoms.pbc.any():
            raise OracleError(f"the pyscf oracle handles molecules only, got pbc={atoms.pbc.tolist()}")
        mol = gto.M(atom=[(s, tuple(map(float, xyz))) for s, xyz in zip(atoms.get_chemical_symbols(), atoms.positions)],
                    basis=p.basis, charge=int(p.charge), spin=int(p.spin), unit="Angstrom", verbose=0)
        mf = dft.UKS(mol) if p.spin > 0 else dft.RKS(mol)
        mf.xc = p.xc
        mf.max_cycle = int(p.max_cycle)
        mf.conv_tol = float(p.conv_tol)
        mf.verbose = 0
        energy = mf.kernel()
        if not mf.converged:
            raise OracleError(f"SCF not converged in {p.max_cycle} cycles")
        gradient = mf.nuc_grad_method().kernel()
        self.results["energy"] = self.results["free_energy"] = float(energy) * Hartree
        self.results["forces"] = -gradient * Hartree / Bohr
