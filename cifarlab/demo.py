"""The main job, ``cifarlab demo`` (what ``make demo`` runs).

Loads CIFAR-100: real data when it is present or downloadable; otherwise it says so
and, only after that warning or with ``--synthetic``, uses a SYNTHETIC dataset in
the official format, and every output says SYNTHETIC.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from cifarlab import course, data
from cifarlab._files import atomic_write

#: The variants the demo trains, in the order of the notebooks (01 to 04).
VARIANTS: dict[str, str] = {
    "baseline": "seed 000's network: Conv 32/64/128, Dense 256/128",
    "batch_norm": "the same with batch normalization after each convolution",
    "augmentation": "the same with seed 002's augmentation (flip, rotation, shift)",
    "dropout": "the same with dropout 0.5 in the classifier",
    "augmentation+dropout": "both, seed 002's best combination",
}


def build_variant(variant: str, num_classes: int, *, seed: int = 0):
    """The baseline CNN or one of its variants, from the one configurable builder."""
    from cifarlab import augment, models

    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}. Valid: {', '.join(VARIANTS)}.")
    aug = augment.augmentation("seed002", seed=seed) if "augmentation" in variant else None
    return models.build_cnn(
        num_classes,
        batch_norm=variant == "batch_norm",
        dropout=0.5 if "dropout" in variant else 0.0,
        augment=aug,
        seed=seed,
        name=variant.replace("+", "_"),
    )


@dataclass(frozen=True)
class DemoRow:
    """One line of the demo's comparison table."""

    variant: str
    params: int
    epochs: int
    best_epoch: int | None
    val_accuracy: float | None
    test_accuracy: float
    test_top3: float | None
    train_seconds: float
    run_dir: str


def run_demo(
    *,
    superclass: str | int = "medium_mammals",
    data_dir=None,
    synthetic: bool = False,
    epochs: int = 20,
    batch_size: int = 64,
    variants=tuple(VARIANTS),
    runs_dir="runs",
    seed: int = 0,
    smoke: bool = False,
    out=None,
):
    """Train the baseline and its variants on one superclass and compare them.

    Every run is recorded under ``runs_dir`` (history, model, metrics, plus
    ``curves.png`` and ``confusion_matrix.png``), evaluated once on the test split,
    and summarised in a table (also written as ``demo-<superclass>.md`` in
    ``runs_dir``). ``smoke`` shrinks the data and epochs for a quick check; the
    code path is the same.

    Returns:
        A pandas DataFrame, one row per variant.
    """
    import matplotlib

    matplotlib.use("Agg")  # the demo writes files; it never opens windows
    import matplotlib.pyplot as plt
    import pandas as pd
    from tqdm.auto import tqdm
    from tqdm.keras import TqdmCallback

    from cifarlab import evaluate, plots, set_seed, train

    out = sys.stdout if out is None else out
    if smoke:
        epochs = min(epochs, course.SMOKE_EPOCHS)
    set_seed(seed)
    cifar = course.get_cifar(
        "cifar100",
        data_dir,
        synthetic=synthetic,
        train_per_class=course.SMOKE_TRAIN_PER_CLASS if smoke else None,
        test_per_class=course.SMOKE_TEST_PER_CLASS if smoke else None,
    )
    sub = data.select_superclass(cifar, superclass)
    if smoke:
        sub = data.subsample(
            sub,
            train_per_class=course.SMOKE_TRAIN_PER_CLASS,
            test_per_class=course.SMOKE_TEST_PER_CLASS,
            seed=seed,
        )
    (x_tr, y_tr), (x_val, y_val) = data.train_val_split(sub.x_train, sub.y_train, seed=seed)
    print(f"{sub.description}: {', '.join(sub.class_names)}", file=out)
    print(
        f"  {len(x_tr):,} training, {len(x_val):,} validation (from the training split), "
        f"{len(sub.x_test):,} test images",
        file=out,
    )
    train_ds = data.make_dataset(x_tr, y_tr, batch_size=batch_size, training=True, seed=seed)
    val_ds = data.make_dataset(x_val, y_val, batch_size=256, training=False)
    slug = sub.name.split(" / ")[-1]  # the superclass's official name
    rows, results = [], []
    for variant in tqdm(list(variants), desc="variants", unit="model", file=out):
        model = build_variant(variant, sub.num_classes, seed=seed)
        result = train.train(
            model,
            train_ds,
            val_ds,
            epochs=epochs,
            name=f"demo-{slug}-{variant}",
            runs_dir=runs_dir,
            config={
                "variant": variant,
                "description": VARIANTS[variant],
                "superclass": slug,
                "data": sub.description,
                "synthetic": sub.synthetic,
                "smoke": smoke,
            },
            callbacks=[TqdmCallback(verbose=0, desc=variant, leave=False, file=out)],
            verbose=0,
            seed=seed,
        )
        test = evaluate.evaluate(
            result.model,
            sub.x_test,
            sub.y_test,
            sub.class_names,
            top_k=(3,),
            synthetic=sub.synthetic,
            name=f"{variant} on the {sub.description} test split",
        )
        train.record_metrics(
            result,
            {
                "test_accuracy": test.accuracy,
                "test_loss": test.loss,
                "test_top3_accuracy": test.top_k_accuracy.get(3),
                "test": test.to_dict(),
            },
        )
        fig = plots.plot_history(result, synthetic=sub.synthetic, title=f"{variant}: {sub.name}")
        fig.savefig(Path(result.path) / "curves.png", dpi=90, bbox_inches="tight")
        ax = plots.plot_confusion_matrix(test, synthetic=sub.synthetic, title=f"{variant}, test")
        ax.figure.savefig(Path(result.path) / "confusion_matrix.png", dpi=90, bbox_inches="tight")
        plt.close("all")
        results.append(result)
        rows.append(
            DemoRow(
                variant=variant,
                params=result.model.count_params(),
                epochs=result.epochs_run,
                best_epoch=result.best_epoch,
                val_accuracy=result.best_val_accuracy,
                test_accuracy=test.accuracy,
                test_top3=test.top_k_accuracy.get(3),
                train_seconds=result.total_time,
                run_dir=str(result.path),
            )
        )
    table = pd.DataFrame([asdict(r) for r in rows])
    heading = f"cifarlab demo: {sub.description}" + (" (smoke mode)" if smoke else "")
    shown = table.drop(columns="run_dir").to_markdown(index=False, floatfmt=".3f")
    print(f"\n{heading}\n\n{shown}\n", file=out)
    if sub.synthetic:
        print(
            "These numbers come from SYNTHETIC data: they say nothing about real CIFAR-100.",
            file=out,
        )
    report = Path(runs_dir) / f"demo-{slug}.md"
    atomic_write(report, f"# {heading}\n\n{table.to_markdown(index=False, floatfmt='.3f')}\n")
    print(f"Runs, curves and confusion matrices: {runs_dir}/ (table: {report})", file=out)
    return table


def _main(args: argparse.Namespace) -> int:
    run_demo(
        superclass=args.superclass,
        data_dir=args.data_dir,
        synthetic=args.synthetic,
        epochs=args.epochs,
        runs_dir=args.runs_dir,
        seed=args.seed,
        smoke=args.smoke,
        variants=args.variants or tuple(VARIANTS),
    )
    return 0


def add_arguments(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="train and compare CNN variants on one CIFAR-100 superclass"
    )
    p.add_argument("--superclass", default="medium_mammals", help="name or index 0..19")
    p.add_argument("--data-dir", type=Path, help="folder or archive (default: see README)")
    p.add_argument(
        "--synthetic", action="store_true", help="use SYNTHETIC data without trying real CIFAR"
    )
    p.add_argument("--epochs", type=int, default=20, help="at most this many (early stopping)")
    p.add_argument("--runs-dir", default="runs", help="where runs are recorded")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny data, 2 epochs: a quick check")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="default: all")
    p.set_defaults(func=_main)
