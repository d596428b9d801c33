"""The stress-label check: a shear order mixed up in conversion, and an isotropic (Pulay-like)
offset, found against a model's stresses, per config_type."""

import numpy as np

from ridgeline.training.metrics import EV_PER_A3_IN_GPA, Predictions
from ridgeline.training.stress_labels import check_stress_labels, stress_label_warnings


def _predictions(stress_pred, stress_ref, config_type):
    f = len(config_type)
    zeros = np.zeros(f)
    return Predictions(n_atoms=np.ones(f, dtype=int), config_type=np.array(config_type, dtype=object), energy_pred=zeros,
                       energy_ref=zeros, numbers=np.full(f, 14), forces_pred=np.zeros((f, 3)), forces_ref=np.zeros((f, 3)),
                       stress_pred=stress_pred, stress_ref=stress_ref)


def test_a_swapped_shear_order_is_flagged_by_group_and_an_offset_is_measured():
    rng = np.random.default_rng(0)
    n = 40
    pred = rng.normal(scale=2.0, size=(2 * n, 6)) / EV_PER_A3_IN_GPA  # 2 GPa stresses
    ref = pred + rng.normal(scale=0.05, size=pred.shape) / EV_PER_A3_IN_GPA  # labels 0.05 GPa from the model
    ref[:n, [3, 4]] = ref[:n, [4, 3]]  # group "swapped": yz and xz exchanged
    ref[n:, :3] += 1.0 / EV_PER_A3_IN_GPA  # group "offset": +1 GPa on the normal components
    ref[-1] = np.nan  # a frame without a stress label is left out
    check = check_stress_labels(_predictions(pred, ref, ["swapped"] * n + ["offset"] * n))
    swapped, offset = check["swapped"], check["offset"]
    assert swapped["flagged"] and swapped["best_other_order"] == "xz yz xy"
    assert swapped["shear_mae_best_other"] < 0.06 < 1.0 < swapped["shear_mae_as_given"]
    assert abs(swapped["isotropic_offset"]) < 0.05
    assert not offset["flagged"] and offset["n_frames"] == n - 1
    assert offset["shear_mae_as_given"] < 0.06
    assert abs(offset["isotropic_offset"] - 1.0) < 0.05 and offset["isotropic_offset_std"] < 0.1
    warnings = stress_label_warnings(check, "data.xyz")
    assert len(warnings) == 1 and warnings[0].startswith("data.xyz: config_type 'swapped'") and "(xz yz xy)" in warnings[0]


def test_a_sign_flip_of_the_shear_labels_is_found_and_no_stress_gives_an_empty_check():
    rng = np.random.default_rng(1)
    pred = rng.normal(scale=2.0, size=(20, 6)) / EV_PER_A3_IN_GPA
    ref = pred.copy()
    ref[:, 3:] *= -1
    check = check_stress_labels(_predictions(pred, ref, ["md"] * 20))
    assert check["md"]["flagged"] and check["md"]["best_other_order"] == "-yz -xz -xy"
    assert check_stress_labels(_predictions(pred, np.full_like(pred, np.nan), ["md"] * 20)) == {}
