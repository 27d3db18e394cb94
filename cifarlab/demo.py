"""The main job, ``cifarlab demo``: five variants on one superclass; SYNTHETIC data marked."""

import argparse
from pathlib import Path

from tqdm.auto import tqdm

from cifarlab import _checks, course
from cifarlab._files import atomic_write, free_name
from cifarlab.runs import runs_table

VARIANTS: dict[str, str] = {  # in the order of the notebooks (01 to 04)
    "baseline": "seed 000's network: Conv 32/64/128, Dense 256/128",
    "batch_norm": "the same with batch normalization after each convolution",
    "augmentation": "the same with seed 002's augmentation (flip, rotation, shift)",
    "dropout": "the same with dropout 0.5 in the classifier",
    "augmentation+dropout": "both, seed 002's best combination",
}
COLUMNS = ["variant", "params", "epochs", "best_epoch", "best_val_accuracy", "test_accuracy",
           "test_top3_accuracy", "train_seconds", "path"]  # of the demo's table


def build_variant(variant: str, num_classes: int, *, seed: int = 0):
    """The baseline CNN or one of its variants, from the one configurable builder."""
    from cifarlab import augment, models

    _checks.one_of("variant", variant, VARIANTS)
    aug = augment.augmentation("seed002", seed=seed) if "augmentation" in variant else None
    return models.build_cnn(num_classes, batch_norm=variant == "batch_norm",
                            dropout=0.5 if "dropout" in variant else 0.0, augment=aug, seed=seed,
                            name=variant.replace("+", "_"))


def run_demo(*, superclass: str | int = "medium_mammals", data_dir=None, synthetic: bool = False,
             epochs: int = 20, batch_size: int = 64, variants=tuple(VARIANTS), runs_dir="runs",
             seed: int = 0, smoke: bool = False, out=None):
    """Train, test and compare ``variants``; runs, figures and demo-<superclass>.md in runs_dir."""
    import matplotlib
    matplotlib.use("Agg")  # the demo writes files; it never opens windows
    import matplotlib.pyplot as plt
    from tqdm.keras import TqdmCallback

    from cifarlab import plots

    nb = course.load_notebook_data(superclass, epochs=epochs, seed=seed, smoke=smoke, out=out,
                                   synthetic=synthetic, data_dir=data_dir, runs_dir=str(runs_dir))
    runs, classes = {}, nb.num_classes
    for variant in tqdm(list(variants), desc="variants", unit="model", file=out):
        runs |= course.train_models(
            nb, {variant: build_variant(variant, classes, seed=seed)}, notebook="demo", verbose=0,
            batch_size=batch_size, config={"description": VARIANTS[variant], "smoke": smoke},
            callbacks=[TqdmCallback(verbose=0, desc=variant, leave=False, file=out)])
    for variant, test in course.evaluate_on_test(nb, runs, show=False).items():
        curves = plots.plot_history(runs[variant], synthetic=nb.synthetic,
                                    title=f"{variant}: {nb.data.name}")
        matrix = plots.plot_confusion_matrix(test, synthetic=nb.synthetic, title=f"{variant}, test")
        for fig, file in ((curves, "curves.png"), (matrix.figure, "confusion_matrix.png")):
            fig.savefig(runs[variant].path / file, dpi=90, bbox_inches="tight")
        plt.close("all")
    table = runs_table(runs_dir).rename(columns={"model": "variant"}).set_index("path", drop=False)
    table = table.loc[[str(run.path) for run in runs.values()], COLUMNS].reset_index(drop=True)
    heading = f"cifarlab demo: {nb.data.description}" + (" (smoke mode)" if smoke else "")
    report = atomic_write(free_name(Path(runs_dir) / f"demo-{nb.name}.md"),  # keeps earlier
                          f"# {heading}\n\n{table.to_markdown(index=False, floatfmt='.3f')}\n")
    shown = table.drop(columns="path").to_markdown(index=False, floatfmt=".3f")
    note = "These numbers come from SYNTHETIC data: they say nothing about real CIFAR-100.\n"
    print(f"\n{heading}, classes {', '.join(nb.class_names)}\n\n{shown}\n\n"
          f"{note if nb.synthetic else ''}Runs, curves and confusion matrices: {runs_dir}/ "
          f"(table: {report})", file=out)
    return table


def _main(args: argparse.Namespace) -> int:
    run_demo(superclass=args.superclass, data_dir=args.data_dir, synthetic=args.synthetic,
             epochs=args.epochs, runs_dir=args.runs_dir, seed=args.seed, smoke=args.smoke,
             variants=args.variants)
    return 0


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train and compare CNN variants on one superclass")
    p.set_defaults(func=_main)
    p.add_argument("--superclass", default="medium_mammals", help="name or index 0..19")
    p.add_argument("--data-dir", type=Path, help="folder or archive (default: see README)")
    p.add_argument("--synthetic", action="store_true", help="SYNTHETIC data, no real CIFAR")
    p.add_argument("--epochs", type=int, default=20, help="at most this many (early stopping)")
    p.add_argument("--runs-dir", default="runs", help="where runs are recorded")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny data, 2 epochs: a quick check")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
