"""``ridgeline uq calibrate MODEL --train DATA --valid DATA [-o OUT]`` and
``ridgeline uq report MODEL DATA [--output-dir DIR]``."""

from __future__ import annotations

from ..names import DOMAIN_METHODS, FORCE_VARIANCES, UQ_SUFFIX
from .data_args import add_key_arguments, read_labelled

# the options left unset on the command line take UncertaintyOptions' defaults (not imported here:
# parsing a command line does not import torch)
OPTION_FLAGS = {"domains": "domains", "confidence": "confidence", "criterion": "criterion",
                "force_variance": "force_variance", "rank": "force_rank"}


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="uq_command", metavar="ACTION", required=True)
    c = sub.add_parser("calibrate", help="fit the posterior, domain models and variance scales; write a calibrated model file",
                       description="Single models get a last-layer Laplace posterior; ensembles (from 'ridgeline train --ensemble') "
                                   "use their spread. Domain models are fitted on --train, alpha on --valid (frames not trained on).")
    c.add_argument("model", help="model or ensemble file")
    c.add_argument("--train", required=True, help="the training data (posterior and domain of applicability)")
    c.add_argument("--valid", required=True, help="held-out labelled data for the variance scale alpha")
    c.add_argument("-o", "--output", help=f"calibrated model file (default: MODEL with suffix {UQ_SUFFIX})")
    c.add_argument("--domains", nargs="+", choices=DOMAIN_METHODS, help="domain models to fit (default: all)")
    c.add_argument("--confidence", type=float,
                   help="in-domain confidence of the domain thresholds: the fraction of in-domain atoms kept (default: 0.99)")
    c.add_argument("--criterion", choices=("area", "nll"),
                   help="fit alpha by the miscalibration area (default) or by maximum likelihood")
    c.add_argument("--force-variance", choices=FORCE_VARIANCES,
                   help="single models: force variance of the last-layer posterior: 'directional' (default; bond vectors weighted "
                        "by the atomic-energy sigmas; zero where symmetry makes forces vanish; no extra cost) or 'linearised' (exact "
                        "for the last layer, --rank backward passes per call; force components enter the posterior)")
    c.add_argument("--rank", type=int, help="posterior directions of the linearised force variance (default: 4)")
    c.add_argument("--floor", action="store_true",
                   help="also fit a noise floor of the force sigma (sigma^2 -> alpha sigma^2 + floor^2): for forces at the round-off "
                        "level, e.g. of symmetric structures, in the validation data")
    c.add_argument("--power", action="store_true", help="also fit a power of the force variance (sigma^2 -> alpha sigma^2b + floor^2)")
    c.add_argument("--tails", action="store_true",
                   help="also fit the force errors' distribution: a Student t (heavy tails; its degrees of freedom stored as "
                        "forces_nu) or the Gaussian, whichever fits the validation errors better")
    c.add_argument("--no-progress", action="store_true", help="no progress bars (none either when stderr is not a terminal)")
    add_key_arguments(c)
    r = sub.add_parser("report", help="calibration, ranking and domain flags on labelled data: table and plots",
                       description="Writes uq_report.{md,json}, reliability.png and sigma_vs_error.png to --output-dir.")
    r.add_argument("model", help="a calibrated model or ensemble file")
    r.add_argument("data", help="labelled structures")
    r.add_argument("--output-dir", default="uq_report", help="default: %(default)s")
    r.add_argument("--domains", nargs="*", default=None, choices=DOMAIN_METHODS, help="default: every fitted domain model")
    add_key_arguments(r)
    for q in (c, r):
        q.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")


def calibration_options(args):
    """``UncertaintyOptions`` from the command line: the flags given, the defaults for the rest."""
    from ..errors import ConfigError
    from ..uncertainty.options import UncertaintyOptions

    given = {field: getattr(args, flag) for flag, field in OPTION_FLAGS.items() if getattr(args, flag) is not None}
    try:
        return UncertaintyOptions(**given, floor=args.floor, power=args.power, tails=args.tails)
    except ConfigError as err:  # name the flag, not the field
        message = str(err)
        for flag, field in OPTION_FLAGS.items():
            message = message.replace(f"{field} must", f"--{flag.replace('_', '-')} must")
        raise ConfigError(message) from None


def run(args) -> int:
    import sys
    from pathlib import Path

    from ..errors import ConfigError
    from ..models.io import load_model
    from ..uncertainty.model import UncertaintyModel, fit_uncertainty
    from ..uncertainty.report import markdown, uncertainty_report

    if args.uq_command == "calibrate":
        options = calibration_options(args)
        model, desc = load_model(args.model, device=args.device)
        train = read_labelled(args.train, args, model.elements)
        valid = read_labelled(args.valid, args, model.elements)
        progress = not args.no_progress and sys.stderr.isatty()
        uq = fit_uncertainty(model, train, valid, options, description=desc, progress=progress)
        out = Path(args.output or str(Path(args.model).with_suffix("")) + UQ_SUFFIX)
        uq.save(out)
        a = uq.alpha
        nu = "Gaussian" if a["forces_nu"] is None else f"Student t, nu {a['forces_nu']:.3g}"
        print(f"{uq.method}: alpha forces {a['forces']:.4g} (power {a['forces_power']:.3g}, floor {a['forces_floor']:.3g} eV/Å, {nu}), "
              f"energy {a['energy']:.4g}; domain models: {', '.join(uq.domains)}")
        print(out)
        return 0
    uq = UncertaintyModel.load(args.model, device=args.device)
    if not uq.variances.available:
        raise ConfigError(f"{args.model}: no uncertainty data; run 'ridgeline uq calibrate' on it first")
    frames = read_labelled(args.data, args, uq.model.elements)
    result = uncertainty_report(uq, frames, args.output_dir, domains=args.domains, title=Path(args.data).name)
    print(markdown(result))
    print(f"written to {args.output_dir}/")
    return 0
