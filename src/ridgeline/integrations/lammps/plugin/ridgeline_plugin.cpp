/* Registers pair_style ridgeline with LAMMPS when the library is loaded by `plugin load`. */
#include "lammpsplugin.h"
#include "pair_ridgeline.h"

using namespace LAMMPS_NS;

static Pair *ridgeline_creator(LAMMPS *lmp)
{
  return new PairRidgeline(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  auto register_plugin = (lammpsplugin_regfunc) regfunc;
  plugin.version = RIDGELINE_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "ridgeline";
  plugin.info = "ridgeline machine-learned potential (an exported .pt2 model)";
  plugin.author = "ridgeline";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &ridgeline_creator;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
