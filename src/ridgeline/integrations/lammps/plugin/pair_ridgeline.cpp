/* pair_style ridgeline (pair_ridgeline.h).

   Each step: edges i -> j within the model's cutoff from LAMMPS' full neighbour list (local
   centres, ascending), as plain vectors x_j - x_i (ghosts carry the periodic images); the
   program returns each atom's energy and dE/d(edge vector) g_e; then F_i += g_e, F_j -= g_e
   (ghost forces go back to their owners by LAMMPS' reverse communication, newton on), the virial
   -r_e (x) g_e globally and by halves per atom. Models with message layers (ghost_cutoff >
   cutoff) need the ghosts' own edges and are refused for now.

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

void PairRidgeline::settings(int narg, char **)
{
  if (narg != 0) error->all(FLERR, "Illegal pair_style ridgeline command: it takes no arguments");
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
  if (std::stod(meta["ghost_cutoff"]) > cutoff + 1e-9)
    error->all(FLERR, "pair ridgeline: {} has message layers (ghost_cutoff {} > cutoff {}): not supported by this "
               "plugin yet; export a one-layer model", path, meta["ghost_cutoff"], meta["cutoff"]);
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
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairRidgeline::init_one(int, int)
{
  return cutoff;
}

void PairRidgeline::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  double **x = atom->x;
  double **f = atom->f;
  int *type = atom->type;
  const int nlocal = atom->nlocal;
  const double cut2 = cutoff * cutoff;

  // edges of the local centres, ascending centre index
  std::vector<int> centres(list->ilist, list->ilist + list->inum);
  std::sort(centres.begin(), centres.end());
  std::vector<int> from, to;
  std::vector<double> vec;
  int64_t most = 1;
  for (int i : centres) {
    int *jlist = list->firstneigh[i];
    int64_t count = 0;
    for (int jj = 0; jj < list->numneigh[i]; jj++) {
      int j = jlist[jj] & NEIGHMASK;
      double d[3] = {x[j][0] - x[i][0], x[j][1] - x[i][1], x[j][2] - x[i][2]};
      if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] >= cut2) continue;
      from.push_back(i);
      to.push_back(j);
      vec.insert(vec.end(), d, d + 3);
      count++;
    }
    most = std::max(most, count);
  }
  const int64_t nedges = from.size();
  // The program sees the local atoms and, after them, one stand-in atom per element: a ghost
  // neighbour j enters only through its element (one layer: no features of its own), so it is
  // renumbered to its element's stand-in. The dense layout then has nlocal + K rows of
  // neighbours, not nlocal + nghost (three to five times more in a small domain).
  const int64_t nelements = elements.size();
  std::vector<int64_t> species(nlocal + nelements);
  for (int i = 0; i < nlocal; i++) species[i] = species_of_type[type[i]];
  for (int64_t k = 0; k < nelements; k++) species[nlocal + k] = k;
  std::vector<int64_t> program_to(to.begin(), to.end());
  for (auto &j : program_to)
    if (j >= nlocal) j = nlocal + species_of_type[type[j]];

  auto dtype = float64 ? torch::kFloat64 : torch::kFloat32;
  auto longs = torch::TensorOptions().dtype(torch::kInt64);
  std::vector<int64_t> pairs(from.begin(), from.end());
  pairs.insert(pairs.end(), program_to.begin(), program_to.end());
  std::vector<torch::Tensor> inputs = {
      torch::from_blob(species.data(), {(int64_t) species.size()}, longs).clone(),
      torch::from_blob(pairs.data(), {2, nedges}, longs).clone(),
      torch::from_blob(vec.data(), {nedges, 3}, torch::TensorOptions().dtype(torch::kFloat64)).to(dtype),
      torch::full({1}, (int64_t) nlocal, longs),
      torch::zeros({most}, torch::TensorOptions().dtype(dtype))};
  std::vector<torch::Tensor> out;
  try {
    out = program->run(inputs);
  } catch (const std::exception &err) {
    std::string what = err.what();
    error->one(FLERR, "pair ridgeline: the model failed on {} atoms and {} edges: {}", nlocal, nedges,
               what.substr(0, what.find('\n')));
  }
  if ((int) out.size() != (members > 1 ? 4 : 2))
    error->all(FLERR, "pair ridgeline: {} returned {} outputs; its metadata says {} member(s)", path, out.size(), members);
  auto energies = out[0].to(torch::kFloat64).contiguous();
  auto gradient = out[1].to(torch::kFloat64).contiguous();
  const double *e = energies.data_ptr<double>();
  const double *g = gradient.data_ptr<double>();

  if (eflag_either)
    for (int i = 0; i < nlocal; i++) {
      if (eflag_global) eng_vdwl += e[i];
      if (eflag_atom) eatom[i] += e[i];
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
    committee_sigma(member_energies.data_ptr<double>(), member_gradients.data_ptr<double>(), from, to, nlocal,
                    (int) species.size());
  }
}

void PairRidgeline::committee_sigma(const double *member_energies, const double *member_gradients,
                                    const std::vector<int> &from, const std::vector<int> &to, int nlocal, int program_atoms)
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
  const size_t nedges = from.size();
  for (int m = 0; m < members; m++) {
    const double *g = member_gradients + 3 * nedges * m;
    for (size_t k = 0; k < nedges; k++)
      for (int c = 0; c < 3; c++) {
        member_forces[from[k]][3 * m + c] += g[3 * k + c];
        member_forces[to[k]][3 * m + c] -= g[3 * k + c];
      }
  }
  comm->reverse_comm(this);  // ghosts' member forces onto their owners
  const double n = members;
  for (int i = 0; i < nlocal; i++) {
    double var = 0.0;
    for (int c = 0; c < 3; c++) {
      double mean = 0.0, square = 0.0;
      for (int m = 0; m < members; m++) mean += member_forces[i][3 * m + c];
      mean /= n;
      for (int m = 0; m < members; m++) square += std::pow(member_forces[i][3 * m + c] - mean, 2);
      var += square / (n - 1.0) / 3.0;
    }
    forces_sigma[i] = std::sqrt(forces_alpha * std::pow(var, forces_power) + forces_floor * forces_floor);
    double mean = 0.0, square = 0.0;
    for (int m = 0; m < members; m++) mean += member_energies[m * program_atoms + i];
    mean /= n;
    for (int m = 0; m < members; m++) square += std::pow(member_energies[m * program_atoms + i] - mean, 2);
    energies_sigma[i] = std::sqrt(energy_alpha * square / (n - 1.0));
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
