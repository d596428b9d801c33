"""``ridgeline train --ensemble`` and ``ridgeline uq calibrate|report`` end to end, and their errors."""

import json

import pytest

from ridgeline.cli.main import main
from ridgeline.errors import ConfigError
from ridgeline.models.io import read_description
from ridgeline.simulate.calculator import Calculator


def test_ensemble_training_calibrate_report(emt_files, trained_model, tmp_path, capsys):
    import yaml

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "train_file": str(emt_files["train"]), "output_dir": str(tmp_path / "ens"),
        "model": {"name": "bpnn", "preset": "small", "cutoff": 4.5}, "training": {"epochs": 2, "batch_size": 4},
    }))
    assert main(["train", str(config), "--ensemble", "2", "--no-progress"]) == 0
    ens = tmp_path / "ens" / "ensemble.safetensors"
    desc = read_description(ens)
    assert desc["ensemble_size"] == 2 and desc["uncertainty"]["method"] == "ensemble"
    assert set(desc["uncertainty"]["domain"]) == {"nearest", "mahalanobis", "hull"}
    # members: different seeds, one validation split
    c0 = yaml.safe_load((tmp_path / "ens" / "member_0" / "config.yaml").read_text())["training"]
    c1 = yaml.safe_load((tmp_path / "ens" / "member_1" / "config.yaml").read_text())["training"]
    assert (c0["seed"], c1["seed"]) == (0, 1) and c0["split_seed"] == c1["split_seed"] == 0
    # a second call reuses the finished members
    capsys.readouterr()
    assert main(["train", str(config), "--ensemble", "2", "--no-progress"]) == 0
    assert "finished run" in capsys.readouterr().out

    out = tmp_path / "cal.safetensors"
    code = main(["uq", "calibrate", str(trained_model), "--train", str(emt_files["train"]), "--valid", str(emt_files["test"]),
                 "-o", str(out), "--domains", "mahalanobis", "hull"])
    assert code == 0 and read_description(out)["uncertainty"]["method"] == "laplace"
    for model in (out, ens):
        report_dir = tmp_path / f"report_{model.stem}"
        assert main(["uq", "report", str(model), str(emt_files["test"]), "--output-dir", str(report_dir)]) == 0
        result = json.loads((report_dir / "uq_report.json").read_text())
        assert result["forces"]["ece_after"] >= 0 and -1 <= result["forces"]["spearman"] <= 1
        assert (report_dir / "reliability.png").stat().st_size > 1000 and (report_dir / "sigma_vs_error.png").exists()
        assert "Spearman" in (report_dir / "uq_report.md").read_text()
    # a domain model that was not fitted: a one-line error, exit 2
    capsys.readouterr()
    assert main(["uq", "report", str(out), str(emt_files["test"]), "--output-dir", str(tmp_path / "x"), "--domains", "nearest"]) == 2
    assert "not fitted" in capsys.readouterr().err
    calc = Calculator(out, domain=("mahalanobis", "hull"))
    from ase.io import read

    atoms = read(emt_files["test"], 0)
    atoms.calc = calc
    atoms.get_forces()
    assert {"forces_sigma", "domain_hull", "out_of_domain_hull", "out_of_domain"} <= set(calc.results)


def _choices(parser, *path):
    """The choices of option ``path[-1]`` of subcommand ``path[:-1]``."""
    for name in path[:-1]:
        parser = next(a for a in parser._actions if a.dest in ("command", "uq_command")).choices[name]
    return next(a for a in parser._actions if path[-1] in a.option_strings).choices


def test_names_are_the_registries_and_the_command_line_defaults_the_library():
    from ridgeline import names
    from ridgeline.cli.main import build_parser
    from ridgeline.cli.uq import calibration_options
    from ridgeline.uncertainty import DOMAINS, UncertaintyOptions
    from ridgeline.uncertainty.calibration import CRITERIA
    from ridgeline.uncertainty.domain import DOMAIN_MODELS
    from ridgeline.uncertainty.laplace import LastLayerLaplace

    # the domain models' registry is keyed by the names, in their order
    assert tuple(DOMAIN_MODELS) == names.DOMAIN_METHODS and DOMAINS is DOMAIN_MODELS
    assert all(DOMAIN_MODELS[d].name == d for d in names.DOMAIN_METHODS) and set(names.DEFAULT_DOMAINS) <= set(DOMAIN_MODELS)
    # every force variance named is one the posterior computes; new posteriors get the offered ones only
    for name in names.FORCE_VARIANCES + names.LEGACY_FORCE_VARIANCES:
        assert LastLayerLaplace(1, 2, force_variance=name).force_variance == name
    with pytest.raises(ConfigError, match="retired"):
        UncertaintyOptions(force_variance=names.LEGACY_FORCE_VARIANCES[0])
    # the command line offers what the library has, and what it leaves unset takes the library's defaults
    parser = build_parser()
    assert tuple(_choices(parser, "uq", "calibrate", "--domains")) == names.DOMAIN_METHODS
    assert tuple(_choices(parser, "uq", "report", "--domains")) == names.DOMAIN_METHODS
    assert tuple(_choices(parser, "uq", "calibrate", "--force-variance")) == names.FORCE_VARIANCES
    assert set(_choices(parser, "uq", "calibrate", "--criterion")) == set(CRITERIA)
    args = parser.parse_args(["uq", "calibrate", "m.safetensors", "--train", "t.xyz", "--valid", "v.xyz"])
    assert calibration_options(args) == UncertaintyOptions()
    assert UncertaintyOptions().domains == names.DOMAIN_METHODS
    args = parser.parse_args(["uq", "calibrate", "m", "--train", "t", "--valid", "v", "--rank", "2", "--domains", "hull", "--tails"])
    assert calibration_options(args) == UncertaintyOptions(force_rank=2, domains=("hull",), tails=True)
    assert not args.no_progress and parser.parse_args(["uq", "calibrate", "m", "--train", "t", "--valid", "v",
                                                        "--no-progress"]).no_progress


def test_uq_errors_exit_2(emt_files, trained_model, tmp_path, capsys):
    # a model without uncertainty data cannot be reported on
    assert main(["uq", "report", str(trained_model), str(emt_files["test"]), "--output-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "calibrate" in err and "Traceback" not in err
    bad = tmp_path / "bad.xyz"
    bad.write_text("not an xyz file\n")
    assert main(["uq", "calibrate", str(trained_model), "--train", str(bad), "--valid", str(emt_files["test"])]) == 2
    assert "bad.xyz" in capsys.readouterr().err
    assert main(["uq", "calibrate", str(trained_model), "--train", str(emt_files["train"]), "--valid",
                 str(emt_files["test"]), "--confidence", "1.5"]) == 2


def test_calibrate_linearised_with_floor(emt_files, trained_model, tmp_path, capsys):
    out = tmp_path / "lin.safetensors"
    code = main(["uq", "calibrate", str(trained_model), "--train", str(emt_files["train"]), "--valid", str(emt_files["test"]),
                 "-o", str(out), "--domains", "mahalanobis", "--force-variance", "linearised", "--rank", "2", "--floor"])
    assert code == 0 and "floor" in capsys.readouterr().out
    uq = read_description(out)["uncertainty"]
    assert uq["laplace"]["force_variance"] == "linearised" and uq["laplace"]["force_rank"] == 2
    assert uq["laplace"]["force_weight"] == 1.0 and uq["alpha"]["forces_floor"] >= 0 and uq["alpha"]["forces_power"] == 1.0
    calc = Calculator(out)
    from ase.io import read

    atoms = read(emt_files["test"], 0)
    atoms.calc = calc
    atoms.get_forces()
    assert calc.results["forces_sigma"].shape == (len(atoms),) and (calc.results["forces_sigma"] > 0).all()
    capsys.readouterr()
    assert main(["uq", "calibrate", str(trained_model), "--train", str(emt_files["train"]), "--valid", str(emt_files["test"]),
                 "-o", str(out), "--rank", "0"]) == 2
    assert "--rank must be >= 1" in capsys.readouterr().err


def test_ensemble_members_in_parallel_equal_one_after_another(emt_files, tmp_path):
    """``--parallel 2``: the members trained in two processes are the members trained in turn
    (one torch thread in both cases, so the runs are bit for bit comparable)."""
    import torch
    import yaml
    from safetensors.torch import load_file

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, extra in (("turn", []), ("parallel", ["--parallel", "2"])):
            config = tmp_path / f"{name}.yaml"
            config.write_text(yaml.safe_dump({
                "train_file": str(emt_files["train"]), "output_dir": str(tmp_path / name),
                "model": {"name": "bpnn", "preset": "small", "cutoff": 4.5}, "training": {"epochs": 2, "batch_size": 4},
            }))
            assert main(["train", str(config), "--ensemble", "2", "--no-progress", *extra]) == 0
    finally:
        torch.set_num_threads(threads)
    for k in range(2):
        a = load_file(tmp_path / "turn" / f"member_{k}" / "model.safetensors")
        b = load_file(tmp_path / "parallel" / f"member_{k}" / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    m0 = load_file(tmp_path / "parallel" / "member_0" / "model.safetensors")
    m1 = load_file(tmp_path / "parallel" / "member_1" / "model.safetensors")
    assert any(not torch.equal(m0[key], m1[key]) for key in m0)  # the seeds differ
    assert main(["train", str(tmp_path / "parallel.yaml"), "--ensemble", "2", "--parallel", "0"]) == 2
