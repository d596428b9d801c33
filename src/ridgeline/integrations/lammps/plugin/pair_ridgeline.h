/* pair_style ridgeline: a ridgeline model exported by `ridgeline export` (an AOTInductor .pt2
   package) as a LAMMPS pair style. Design: docs/lammps.md in the ridgeline repository. */
#ifndef RIDGELINE_PAIR_RIDGELINE_H
#define RIDGELINE_PAIR_RIDGELINE_H

#include "pair.h"

#include <memory>
#include <string>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}

namespace LAMMPS_NS {

class PairRidgeline : public Pair {
 public:
  PairRidgeline(class LAMMPS *);
  ~PairRidgeline() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;
  int pack_reverse_comm(int, int, double *) override;
  void unpack_reverse_comm(int, int *, double *) override;
  void *extract_peratom(const char *, int &) override;
  double memory_usage() override;

 private:
  void allocate();
  void evaluate(const int *centres, int ncentres, bool stand_ins);
  void committee_begin();
  void committee_end();
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> program;
  std::string path;
  double cutoff = 0.0;
  double ghost_cutoff = 0.0;  // the receptive field: the cutoff plus each message layer's
  bool layered = false;       // message layers: ghosts are atoms of the program
  int chunk = 512;            // one-layer models: local atoms per program call (bounds its memory)
  bool float64 = true;
  std::vector<std::string> elements;  // the model's, in its species order
  std::vector<long> species_of_type;  // LAMMPS type -> species index (index 0 unused)
  // a committee (an exported ensemble): its size, calibration, each member's forces (3 per
  // member, ghosts' summed home by reverse communication) and the calibrated per-atom sigmas
  int members = 1;
  double energy_alpha = 1.0, forces_alpha = 1.0, forces_power = 1.0, forces_floor = 0.0;
  int nmax = 0;
  double **member_forces = nullptr;
  double *forces_sigma = nullptr;
  double *energies_sigma = nullptr;
};

}    // namespace LAMMPS_NS

#endif
