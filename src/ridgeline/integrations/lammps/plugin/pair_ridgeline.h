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

 private:
  void allocate();
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> program;
  std::string path;
  double cutoff = 0.0;
  bool float64 = true;
  std::vector<std::string> elements;  // the model's, in its species order
  std::vector<long> species_of_type;  // LAMMPS type -> species index (index 0 unused)
};

}    // namespace LAMMPS_NS

#endif
