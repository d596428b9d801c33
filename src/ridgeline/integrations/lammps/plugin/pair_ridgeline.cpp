/* pair_style ridgeline (pair_ridgeline.h).

   Each step: edges i -> j within the model's cutoff from LAMMPS' full neighbour list (local
   centres, ascending), as plain vectors x_j - x_i (ghosts carry the periodic images); the
   program returns each atom's energy and dE/d(edge vector) g_e; then F_i += g_e, F_j -= g_e
   (ghost forces go back to their owners by LAMMPS' reverse communication, newton on), the virial
   -r_e (x) g_e globally and by halves per atom.

   One-layer models see a neighbour only through its element: every neighbour is renumbered to
   one stand-in atom per element, so the local atoms go through the program in chunks of `chunk`
   rows (pair_style ridgeline chunk N; `evaluate`). Models with message
   layers (ghost_cutoff > cutoff) also read the ghosts' features: the ghost shell is widened to
   ghost_cutoff (+ skin), the neighbour list holds the ghosts' own neighbours, and every atom,
   local and ghost, with every edge within the cutoff goes to the program; the energy is still
   the local atoms' sum, so its edge gradients give each rank's share exactly.

   An exported ensemble (metadata members > 1) also returns each member's energies and edge
   gradients: the pair style then offers the committee's calibrated per-atom sigmas, as the ASE
   calculator gives them, to `fix ID all pair N ridgeline forces_sigma 0 energies_sigma 0`:
   forces_sigma^2 = forces_alpha var^forces_power + forces_floor^2 with var the members' force
   variance (ddof 1) averaged over x, y, z (each member's forces complete after reverse
   communication); energies_sigma^2 = energy_alpha var of the atom's energy. */
#include "pair_ridgeline.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "utils.h"

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

using namespace LAMMPS_NS;

PairRidgeline::PairRidgeline(LAMMPS *lmp) : Pair(lmp)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;
  centroidstressflag = CENTROID_NOTAVAIL;
}

PairRidgeline::~PairRidgeline()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
  }
  memory->destroy(member_forces);
  memory->destroy(forces_sigma);
  memory->destroy(energies_sigma);
}

void PairRidgeline::allocate()
{
  allocated = 1;
  int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  for (int i = 1; i < n; i++)
    for (int j = i; j < n; j++) setflag[i][j] = 0;
}

void PairRidgeline::settings(int narg, char **arg)
{
  // pair_style ridgeline [chunk N]
  if (narg == 2 && strcmp(arg[0], "chunk") == 0) {
    chunk = utils::inumeric(FLERR, arg[1], false, lmp);
    if (chunk < 1) error->all(FLERR, "pair_style ridgeline chunk {}: must be a positive number of atoms", chunk);
  } else if (narg != 0) {
    error->all(FLERR, "Illegal pair_style ridgeline command: pair_style ridgeline [chunk N]");
  }
}

void PairRidgeline::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff * * MODEL.pt2 followed by one element per atom type ({} types), got {} arguments",
               ntypes, narg);
  if (strcmp(arg[0], "*") != 0 || strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_style ridgeline takes one pair_coeff * * MODEL.pt2 ELEMENTS...");
  path = arg[2];
  try {
    program = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
  } catch (const std::exception &err) {
    std::string what = err.what();
    what = what.substr(0, what.find('\n'));
    error->all(FLERR, "pair ridgeline: cannot load {}: {}", path, what);
  }
  auto meta = program->get_metadata();
  if (meta.count("format") == 0 || meta["format"] != "ridgeline-pt2")
    error->all(FLERR, "pair ridgeline: {} is not a ridgeline export (write it with `ridgeline export`)", path);
  cutoff = std::stod(meta["cutoff"]);
  float64 = meta["dtype"] == "float64";
  ghost_cutoff = std::stod(meta["ghost_cutoff"]);
  layered = ghost_cutoff > cutoff + 1e-9;
  members = meta.count("members") ? std::stoi(meta["members"]) : 1;
  if (members > 1) {
    energy_alpha = std::stod(meta["energy_alpha"]);
    forces_alpha = std::stod(meta["forces_alpha"]);
    forces_power = std::stod(meta["forces_power"]);
    forces_floor = std::stod(meta["forces_floor"]);
  }
  comm_reverse = members > 1 ? 3 * members : 0;
  elements.clear();
  std::istringstream words(meta["elements"]);
  for (std::string e; words >> e;) elements.push_back(e);
  species_of_type.assign(ntypes + 1, -1);
  for (int t = 1; t <= ntypes; t++) {
    auto found = std::find(elements.begin(), elements.end(), std::string(arg[2 + t]));
    if (found == elements.end())
      error->all(FLERR, "pair ridgeline: element {} of atom type {} is not one of the model's ({})", arg[2 + t], t,
                 meta["elements"]);
    species_of_type[t] = found - elements.begin();
  }
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++) setflag[i][j] = 1;
}

void PairRidgeline::init_style()
{
  if (!program) error->all(FLERR, "pair ridgeline: no model: give pair_coeff * * MODEL.pt2 ELEMENTS...");
  if (force->newton_pair == 0) error->all(FLERR, "pair_style ridgeline requires newton pair on");
  if (layered) {
    // message layers: ghosts out to the receptive field, each with its own neighbours
    neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
    comm->cutghostuser = std::max(comm->cutghostuser, ghost_cutoff + neighbor->skin);
  } else {
    neighbor->add_request(this, NeighConst::REQ_FULL);
  }
}

double PairRidgeline::init_one(int, int)
{
  return cutoff;
}

void PairRidgeline::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  // the centres: the local atoms (with message layers also the ghosts), ascending index
  std::vector<int> centres(list->ilist, list->ilist + list->inum + (layered ? list->gnum : 0));
  std::sort(centres.begin(), centres.end());
  if (members > 1) committee_begin();
  if (layered) {
    evaluate(centres.data(), (int) centres.size(), false);
  } else {
    for (size_t start = 0; start < centres.size(); start += chunk)
      evaluate(centres.data() + start, (int) std::min(centres.size() - start, (size_t) chunk), true);
  }
  if (members > 1) committee_end();
}

/* One program call on the edges of `ncentres` centres (ascending atom indices).

   stand_ins (one layer): the program's atoms are the centres, then one stand-in atom per element;
   every neighbour j is renumbered to its element's stand-in (a one-layer model reads a neighbour
   only through its element and the edge vector), so a call's size is that of its centres, and
   the local atoms go through in chunks of bounded memory. Otherwise (message layers) the
   program's atoms are all of LAMMPS' atoms, local and ghost, numbered as LAMMPS numbers them. */
void PairRidgeline::evaluate(const int *centres, int ncentres, bool stand_ins)
{
  double **x = atom->x;
  double **f = atom->f;
  int *type = atom->type;
  const int nlocal = atom->nlocal;
  const int nall = atom->nlocal + atom->nghost;
  const double cut2 = cutoff * cutoff;
  const int64_t nelements = elements.size();

  std::vector<int> from, to;             // LAMMPS' indices
  std::vector<int64_t> program_from, program_to;
  std::vector<double> vec;
  int64_t most = 1;
  for (int k = 0; k < ncentres; k++) {
    const int i = centres[k];
    const int *jlist = list->firstneigh[i];
    int64_t count = 0;
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      const int j = jlist[jj] & NEIGHMASK;
      const double d[3] = {x[j][0] - x[i][0], x[j][1] - x[i][1], x[j][2] - x[i][2]};
      if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= cut2) continue;
      from.push_back(i);
      to.push_back(j);
      program_from.push_back(stand_ins ? k : i);
      program_to.push_back(stand_ins ? ncentres + species_of_type[type[j]] : j);
      vec.insert(vec.end(), d, d + 3);
      count++;
    }
    most = std::max(most, count);
  }
  const int64_t nedges = from.size();
  const int64_t natoms = stand_ins ? ncentres + nelements : nall;
  const int64_t nowned = stand_ins ? ncentres : nlocal;  // the program's atoms whose energies count
  std::vector<int64_t> species(natoms);
  if (stand_ins) {
    for (int k = 0; k < ncentres; k++) species[k] = species_of_type[type[centres[k]]];
    for (int64_t k = 0; k < nelements; k++) species[ncentres + k] = k;
  } else {
    for (int i = 0; i < nall; i++) species[i] = species_of_type[type[i]];
  }

  auto dtype = float64 ? torch::kFloat64 : torch::kFloat32;
  auto longs = torch::TensorOptions().dtype(torch::kInt64);
  std::vector<int64_t> pairs(program_from);
  pairs.insert(pairs.end(), program_to.begin(), program_to.end());
  std::vector<torch::Tensor> inputs = {
      torch::from_blob(species.data(), {natoms}, longs).clone(),
      torch::from_blob(pairs.data(), {2, nedges}, longs).clone(),
      torch::from_blob(vec.data(), {nedges, 3}, torch::TensorOptions().dtype(torch::kFloat64)).to(dtype),
      torch::full({1}, nowned, longs),
      torch::zeros({most}, torch::TensorOptions().dtype(dtype))};
  std::vector<torch::Tensor> out;
  try {
    out = program->run(inputs);
  } catch (const std::exception &err) {
    std::string what = err.what();
    error->one(FLERR, "pair ridgeline: the model failed on {} atoms and {} edges: {}", natoms, nedges,
               what.substr(0, what.find('\n')));
  }
  if ((int) out.size() != (members > 1 ? 4 : 2))
    error->all(FLERR, "pair ridgeline: {} returned {} outputs; its metadata says {} member(s)", path, out.size(), members);
  auto energies = out[0].to(torch::kFloat64).contiguous();
  auto gradient = out[1].to(torch::kFloat64).contiguous();
  const double *e = energies.data_ptr<double>();
  const double *g = gradient.data_ptr<double>();

  // the program's atom p < nowned is LAMMPS' atom centres[p] (stand-ins) or p
  auto atom_of = [&](int64_t p) { return stand_ins ? centres[p] : (int) p; };
  if (eflag_either)
    for (int64_t p = 0; p < nowned; p++) {
      if (eflag_global) eng_vdwl += e[p];
      if (eflag_atom) eatom[atom_of(p)] += e[p];
    }
  for (int64_t k = 0; k < nedges; k++) {
    const int i = from[k], j = to[k];
    const double *gk = g + 3 * k, *r = vec.data() + 3 * k;
    for (int c = 0; c < 3; c++) {
      f[i][c] += gk[c];
      f[j][c] -= gk[c];
    }
    if (vflag_either) {
      // -r (x) g in LAMMPS' order xx, yy, zz, xy, xz, yz
      const double w[6] = {-r[0] * gk[0], -r[1] * gk[1], -r[2] * gk[2], -r[0] * gk[1], -r[0] * gk[2], -r[1] * gk[2]};
      if (vflag_global)
        for (int c = 0; c < 6; c++) virial[c] += w[c];
      if (vflag_atom)
        for (int c = 0; c < 6; c++) {
          vatom[i][c] += 0.5 * w[c];
          vatom[j][c] += 0.5 * w[c];
        }
    }
  }
  if (members > 1) {
    auto member_energies = out[2].to(torch::kFloat64).contiguous();
    auto member_gradients = out[3].to(torch::kFloat64).contiguous();
    const double *me = member_energies.data_ptr<double>();
    const double *mg = member_gradients.data_ptr<double>();
    for (int m = 0; m < members; m++)
      for (int64_t k = 0; k < nedges; k++)
        for (int c = 0; c < 3; c++) {
          const double gk = mg[(m * nedges + k) * 3 + c];
          member_forces[from[k]][3 * m + c] += gk;
          member_forces[to[k]][3 * m + c] -= gk;
        }
    // the spread of each owned atom's energy over the members
    const double n = members;
    for (int64_t p = 0; p < nowned; p++) {
      double mean = 0.0, square = 0.0;
      for (int m = 0; m < members; m++) mean += me[m * natoms + p];
      mean /= n;
      for (int m = 0; m < members; m++) square += std::pow(me[m * natoms + p] - mean, 2);
      energies_sigma[atom_of(p)] = std::sqrt(energy_alpha * square / (n - 1.0));
    }
  }
}

void PairRidgeline::committee_begin()
{
  const int nall = atom->nlocal + atom->nghost;
  if (atom->nmax > nmax) {
    nmax = atom->nmax;
    memory->destroy(member_forces);
    memory->destroy(forces_sigma);
    memory->destroy(energies_sigma);
    memory->create(member_forces, nmax, 3 * members, "pair:member_forces");
    memory->create(forces_sigma, nmax, "pair:forces_sigma");
    memory->create(energies_sigma, nmax, "pair:energies_sigma");
  }
  for (int i = 0; i < nall; i++)
    for (int c = 0; c < 3 * members; c++) member_forces[i][c] = 0.0;
}

/* Each member's forces are complete once the ghosts' parts are home: then the calibrated
   per-atom force sigma (module comment). */
void PairRidgeline::committee_end()
{
  comm->reverse_comm(this);
  const double n = members;
  for (int i = 0; i < atom->nlocal; i++) {
    double var = 0.0;
    for (int c = 0; c < 3; c++) {
      double mean = 0.0, square = 0.0;
      for (int m = 0; m < members; m++) mean += member_forces[i][3 * m + c];
      mean /= n;
      for (int m = 0; m < members; m++) square += std::pow(member_forces[i][3 * m + c] - mean, 2);
      var += square / (n - 1.0) / 3.0;
    }
    forces_sigma[i] = std::sqrt(forces_alpha * std::pow(var, forces_power) + forces_floor * forces_floor);
  }
}

int PairRidgeline::pack_reverse_comm(int n, int first, double *buf)
{
  int k = 0;
  for (int i = first; i < first + n; i++)
    for (int c = 0; c < 3 * members; c++) buf[k++] = member_forces[i][c];
  return k;
}

void PairRidgeline::unpack_reverse_comm(int n, int *list, double *buf)
{
  int k = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 3 * members; c++) member_forces[list[i]][c] += buf[k++];
}

void *PairRidgeline::extract_peratom(const char *name, int &ncol)
{
  ncol = 0;
  const bool known = strcmp(name, "forces_sigma") == 0 || strcmp(name, "energies_sigma") == 0;
  if (!known) return nullptr;
  if (members < 2)
    error->all(FLERR, "pair ridgeline: {} is a single model: {} needs a committee (export an ensemble file)", path,
               name);
  return strcmp(name, "forces_sigma") == 0 ? (void *) forces_sigma : (void *) energies_sigma;
}

double PairRidgeline::memory_usage()
{
  double bytes = Pair::memory_usage();
  if (members > 1) bytes += (double) nmax * (3 * members + 2) * sizeof(double);
  return bytes;
}
