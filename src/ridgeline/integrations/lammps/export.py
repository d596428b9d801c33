"""A model file as a compiled program for engines that own the neighbour list (LAMMPS).

``export_model(MODEL)`` writes ``MODEL-<dtype>.pt2``: an AOTInductor package (``torch.export`` of
the model, then ``torch._inductor.aoti_compile_and_package``) that C++ loads with
``torch::inductor::AOTIModelPackageLoader`` and Python with ``torch._inductor.aoti_load_package``.
Its one entry point, :class:`EdgeForces`, is

    (species (N,), edge_index (2, E), edge_vectors (E, 3), n_local (1,), neighbours (M,))
        -> (atomic_energies (N,), dE/d(edge_vectors) (E, 3))

- atoms ``0 .. n_local - 1`` are the engine's own, the rest its ghosts (periodic images and other
  ranks' atoms); ``species`` is each atom's index in the model's elements (the engine maps its
  types once, so no element check runs per step); ``edge_vectors[e] = x[j] - x[i]`` for
  ``edge_index[:, e] = (i, j)``, sorted by ``i``; ``neighbours`` is any tensor whose length is at
  least the most edges of one centre (only its length is read: it fixes the dense neighbour layout
  without a data-dependent shape in the program);
- the energy is the sum of the local atoms' energies, and its gradient by the edge vectors is
  everything an engine needs: forces ``F_i = sum_e g_e [i = i_e] - sum_e g_e [i = j_e]`` and the
  virial ``W = -sum_e r_e (x) g_e``, per atom by halves (``forces_and_virials``), exactly, with
  ghost atoms' forces summed back onto their owners by the engine (Newton's third law on).
  A model with message layers needs the ghosts' own edges too, out to ``ghost_cutoff``. An
  ensemble's program also returns each member's energies and gradients (:class:`EdgeForces`).

The package carries the model's description as metadata (``metadata``): elements, cutoff,
ghost_cutoff, dtype, units, the ridgeline version, the source file, and the committee's size and
calibration. Before anything is
written, the compiled program is checked against the eager model on random structures.
The forces' backward pass is written into the graph by ``make_fx`` (``torch.export`` does not
trace ``autograd.grad``), inside ``nn.tracing.for_export`` so that no shape depends on the data.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from ... import keys
from ..._version import __version__
from ...errors import ConfigError, ExportError, ModelFileError
from ...models.moment import MAX_NEIGHBOURS
from ...nn.tracing import for_export

PT2_FORMAT = "ridgeline-pt2"
PT2_FORMAT_VERSION = 1
DTYPES = ("float32", "float64")
# agreement of the compiled program with the eager model before the file is written (max abs
# difference of the local energy, eV, and of the forces, eV/Å)
CHECK_TOLERANCE = {"float64": (1e-8, 1e-8), "float32": (1e-3, 1e-4)}


class EdgeForces(torch.nn.Module):
    """The exported entry point (module docstring). For a committee (an ``Ensemble`` of two or
    more) the outputs are the members' means, followed by each member's: ``(atomic_energies (N,), gradient (E, 3),
    member_energies (K, N), member_gradients (K, E, 3))``, from one pass through the weight-free
    part and one backward pass per member; the engine takes the committee's spread from them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, species, edge_index, edge_vectors, n_local, neighbours):
        n = species.shape[0]
        vectors = edge_vectors if edge_vectors.requires_grad else edge_vectors.requires_grad_(True)
        batch = {keys.SPECIES: species, keys.NUMBERS: species, keys.EDGE_INDEX: edge_index,
                 keys.BATCH: torch.zeros_like(species), keys.N_ATOMS: torch.ones(1, dtype=torch.long) * n}
        shared = {("edge geometry",): (vectors, torch.linalg.norm(vectors, dim=-1)), MAX_NEIGHBOURS: neighbours.shape[0]}
        outs = self.model.member_outputs(batch, shared=shared)  # a single model: a committee of one
        local = (torch.arange(n, device=species.device) < n_local).to(vectors.dtype)
        energies, gradients = [], []
        for k, out in enumerate(outs):
            atomic = out[keys.ATOMIC_ENERGIES]
            (gradient,) = torch.autograd.grad((atomic * local).sum(), [vectors], retain_graph=k < len(outs) - 1)
            energies.append(atomic)
            gradients.append(gradient)
        if len(outs) == 1:
            return energies[0], gradients[0]
        energies, gradients = torch.stack(energies), torch.stack(gradients)
        return energies.mean(0), gradients.mean(0), energies, gradients


def edge_inputs(model, atoms, dtype: torch.dtype) -> tuple:
    """The entry point's inputs for a periodic or finite ASE structure with no ghosts: every
    atom local, edges from ridgeline's own neighbour list (periodic images as shifts)."""
    from ...data.graph import atoms_to_batch

    batch = atoms_to_batch(atoms, model.cutoff, dtype=dtype)
    vectors, _ = first_member(model).edge_geometry(batch)
    centres = batch[keys.EDGE_INDEX][0]
    most = int(torch.bincount(centres, minlength=len(atoms)).max()) if centres.numel() else 1
    return (model.species(batch[keys.NUMBERS]), batch[keys.EDGE_INDEX], vectors.detach(), torch.tensor([len(atoms)]),
            torch.zeros(max(most, 1), dtype=dtype))


def forces_and_virials(edge_index: torch.Tensor, edge_vectors: torch.Tensor, gradient: torch.Tensor, n_atoms: int):
    """Forces (N, 3) and per-atom virials (N, 3, 3) from the edge gradient g = dE/dr_e
    (r_e = x_j - x_i): F_i += g_e, F_j -= g_e; each edge's virial -r_e (x) g_e, half to each end.
    The global virial is their sum."""
    i, j = edge_index
    forces = torch.zeros(n_atoms, 3, dtype=gradient.dtype).index_add_(0, i, gradient).index_add_(0, j, -gradient)
    edge_virial = -edge_vectors[:, :, None] * gradient[:, None, :]
    virials = torch.zeros(n_atoms, 3, 3, dtype=gradient.dtype)
    virials.index_add_(0, i, 0.5 * edge_virial).index_add_(0, j, 0.5 * edge_virial)
    return forces, virials


def members(model) -> list:
    """An ensemble's members, or the model alone (members share elements, cutoff and layout)."""
    return list(getattr(model, "members", [model]))


def first_member(model):
    return members(model)[0]


def receptive_field(model) -> float:
    """How far an atom's energy sees (Å): the cutoff plus each message layer's cutoff."""
    layers = getattr(first_member(model), "layers", None)
    extra = sum(float(layer.cutoff if layer.cutoff is not None else model.cutoff) for layer in list(layers or [])[1:])
    return float(model.cutoff) + extra


def _random_structures(elements: list[int], seed: int = 0) -> list:
    """Checks of the compiled program: a periodic and a finite cluster of the model's elements at
    a density where every atom has neighbours, of sizes unlike the traced one."""
    from ase import Atoms
    from ase.data import covalent_radii

    rng = np.random.default_rng(seed)
    out = []
    for n, periodic in ((23, True), (9, False)):
        radius = float(np.mean([covalent_radii[z] for z in elements]))
        spacing = max(2.0 * radius, 1.5)
        side = spacing * round(n ** (1 / 3) + 1)
        grid = np.array(np.meshgrid(*[np.arange(round(n ** (1 / 3) + 1))] * 3)).reshape(3, -1).T[:n] * spacing
        positions = grid + rng.normal(0.0, 0.05 * spacing, grid.shape)
        numbers = rng.choice(elements, size=n)
        atoms = Atoms(numbers=numbers, positions=positions, cell=[side] * 3 if periodic else None, pbc=periodic)
        out.append(atoms)
    return out


def _trace(model, example: tuple, dtype: torch.dtype):
    """The ExportedProgram of ``EdgeForces(model)`` with the numbers of atoms, edges and the most
    neighbours dynamic."""
    from torch.fx.experimental import _config as fx_config
    from torch.fx.experimental.proxy_tensor import make_fx

    module = EdgeForces(model)
    # one eager pass first: the moment layers cache small index tensors on first use, and a cache
    # filled while tracing would hold the tracer's tensors
    module(*[x.clone() for x in example])
    duck = fx_config.use_duck_shape
    fx_config.use_duck_shape = False  # a dimension equal to a weight's size must not be merged with it
    try:
        with for_export():
            graph = make_fx(module, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*[x.clone() for x in example])
    finally:
        fx_config.use_duck_shape = duck
    atoms, edges, most = torch.export.Dim("atoms", min=2), torch.export.Dim("edges", min=2), torch.export.Dim("neighbours", min=1)
    shapes = ({0: atoms}, {1: edges}, {0: edges}, None, {0: most})
    return torch.export.export(graph, example, dynamic_shapes=shapes, strict=False)


def _example(model, dtype) -> tuple:
    from ase.build import bulk
    from ase.data import chemical_symbols, covalent_radii

    z = model.elements[0]
    a = 2.6 * max(covalent_radii[z], 0.5)
    atoms = bulk(chemical_symbols[z], "sc", a=a).repeat((3, 3, 3))
    atoms.numbers = np.resize(model.elements, len(atoms))
    atoms.rattle(0.05 * a, seed=1)
    return edge_inputs(model, atoms, dtype)


def committee_calibration(description: dict) -> dict[str, float]:
    """The committee's calibration from a model file's description: sigma_E^2 = energy_alpha var,
    sigma_F^2 = forces_alpha var^forces_power + forces_floor^2 (``uncertainty.model``); an
    uncalibrated ensemble has the raw spread (1, 1, 0)."""
    uq = description.get("uncertainty") or {}
    alpha = (uq.get("alpha") or {}) if uq.get("method", "ensemble") == "ensemble" else {}
    return {"energy_alpha": float(alpha.get("energy", 1.0)), "forces_alpha": float(alpha.get("forces", 1.0)),
            "forces_power": float(alpha.get("forces_power", 1.0)), "forces_floor": float(alpha.get("forces_floor", 0.0))}


def metadata(description: dict, model, dtype: str, source) -> dict[str, str]:
    """What the package says about itself (strings: AOTInductor's metadata is a string map):
    ``members`` is the committee's size (1: a single model, no sigma) and, beyond one, its
    calibration (``committee_calibration``)."""
    from ase.data import chemical_symbols

    size = len(members(model))
    calibration = {k: repr(v) for k, v in committee_calibration(description).items()} if size > 1 else {}
    return {**calibration, "members": str(size), "format": PT2_FORMAT, "format_version": str(PT2_FORMAT_VERSION),
            "ridgeline_version": __version__, "elements": " ".join(chemical_symbols[z] for z in model.elements), "cutoff": repr(float(model.cutoff)),
            "ghost_cutoff": repr(receptive_field(model)), "dtype": dtype, "architecture": str(description.get("architecture")),
            "units": json.dumps(description.get("units", {})), "source": str(source),
            "entry": "species, edge_index, edge_vectors, n_local, neighbours -> atomic_energies, dE/d(edge_vectors)"}


def check_program(program, model, dtype: str, structures=None) -> dict:
    """The largest differences of the compiled ``program`` from the eager model over
    ``structures`` (default: ``_random_structures``): local energy (eV) and forces (eV/Å), of
    the mean and of each committee member."""
    torch_dtype = getattr(torch, dtype)
    worst = {"energy": 0.0, "forces": 0.0}
    eager = EdgeForces(model)
    for atoms in structures or _random_structures(model.elements):
        inputs = edge_inputs(model, atoms, torch_dtype)
        got = [x.detach() for x in program(*[x.clone() for x in inputs])]
        want = [x.detach() for x in eager(*[x.clone() for x in inputs])]
        if len(got) != len(want):
            raise ExportError(f"the program gives {len(got)} outputs, the model {len(want)}")
        pairs = [(got[:2], want[:2])]
        if len(got) == 4:
            pairs += [((got[2][k], got[3][k]), (want[2][k], want[3][k])) for k in range(len(want[2]))]
        for (e_got, g_got), (e_want, g_want) in pairs:
            f_got = forces_and_virials(inputs[1], inputs[2], g_got, len(atoms))[0]
            f_want = forces_and_virials(inputs[1], inputs[2], g_want, len(atoms))[0]
            worst["energy"] = max(worst["energy"], float((e_got.sum() - e_want.sum()).abs()))
            worst["forces"] = max(worst["forces"], float((f_got - f_want).abs().max()))
    return worst


def output_path(model_path, dtype: str, output=None) -> Path:
    if output is not None:
        return Path(output)
    path = Path(model_path)
    return path.with_name(f"{path.stem}-{dtype}.pt2")


def export_model(model_path, output=None, dtype: str = "float64", check: bool = True) -> tuple[Path, dict]:
    """Compile the model file ``model_path`` for ``dtype`` into ``output`` (default
    ``<stem>-<dtype>.pt2`` beside it); returns the path and the check's differences (module
    docstring). An ensemble file exports every member (``EdgeForces``) with the committee's
    calibration in the metadata; a single model calibrated by last-layer Laplace exports its
    model (its sigma needs the posterior: not exported)."""
    from ...models.io import load_model

    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not Path(model_path).is_file():
        raise ModelFileError(f"{model_path}: no such model file")
    model, description = load_model(model_path, dtype=dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    torch_dtype = getattr(torch, dtype)
    example = _example(model, torch_dtype)
    try:
        program = _trace(model, example, torch_dtype)
    except Exception as err:  # torch's own errors are long: name the model and the stage
        raise ExportError(f"{model_path}: the {description.get('architecture')} model could not be exported "
                          f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
    out = output_path(model_path, dtype, output)
    with tempfile.TemporaryDirectory(prefix="ridgeline-export-", dir=out.parent if out.parent.exists() else None) as tmp:
        staged = Path(tmp) / out.name
        torch._inductor.aoti_compile_and_package(
            program, package_path=str(staged),
            inductor_configs={"aot_inductor.metadata": metadata(description, model, dtype, Path(model_path).name)})
        differences = None
        if check:
            compiled = torch._inductor.aoti_load_package(str(staged))
            differences = check_program(compiled, model, dtype)
            energy_tol, forces_tol = CHECK_TOLERANCE[dtype]
            if differences["energy"] > energy_tol or differences["forces"] > forces_tol:
                raise ExportError(f"{model_path}: the compiled program disagrees with the model (energy "
                                  f"{differences['energy']:.3g} eV, forces {differences['forces']:.3g} eV/Å; tolerances "
                                  f"{energy_tol:g}, {forces_tol:g}): nothing written")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), str(out))
    return out, differences or {}


def load_exported(path):
    """The compiled program of a ``.pt2`` file and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        program = torch._inductor.aoti_load_package(str(path))
    except Exception as err:
        raise ModelFileError(f"{path}: not a loadable AOTInductor package ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''})") from None
    meta = dict(program.get_metadata()) if hasattr(program, "get_metadata") else {}
    if meta.get("format") != PT2_FORMAT:
        raise ModelFileError(f"{path}: not a ridgeline export (its metadata has no format {PT2_FORMAT!r})")
    return program, meta


__all__ = ["DTYPES", "EdgeForces", "ExportError", "check_program", "committee_calibration", "edge_inputs", "export_model",
           "first_member", "forces_and_virials", "load_exported", "metadata", "receptive_field"]
