"""``aftersales classifier``: train and evaluate the trained classifier from the shell.

Same conventions as the ``aftersales`` command: results to standard output, errors to
standard error, exit 0 done, 1 refused or failed (the message says why), 2 a usage error.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from aftersales.exceptions import AftersalesError

__all__ = ["build_classifier_app"]


class Using(str, Enum):
    """Which classifier ``eval`` scores."""

    MODEL = "model"
    RULES = "rules"
    COMBINED = "combined"


def _fail(message: str) -> typer.Exit:
    typer.echo(typer.style("error:", fg=typer.colors.RED) + f" {message}", err=True)
    return typer.Exit(1)


def build_classifier_app() -> typer.Typer:
    """The ``classifier`` command group."""
    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        help="Train and evaluate the trained classifier (extra ml).",
    )

    @app.command()
    def train(
        data: Annotated[
            list[Path],
            typer.Argument(
                help="CSV files with the columns text and category (severity optional).",
                metavar="DATA.csv...",
            ),
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the model into.")],
        regularisation: Annotated[
            float, typer.Option(min=1e-4, help="C of the linear models.")
        ] = 3.0,
        max_false_positive: Annotated[
            float,
            typer.Option(
                min=0.0, max=1.0, help="Out-of-scope rows the abstention may let through."
            ),
        ] = 0.05,
        seed: Annotated[int, typer.Option(help="Seed of the folds.")] = 0,
    ) -> None:
        """Train a model on labelled CSV rows and save it (model.json and weights.npz).

        Rows labelled other teach the model what is not an after-sales message.
        """
        try:
            from aftersales.routing.model import TrainingOptions, read_rows, train_classifier

            rows = [row for path in data for row in read_rows(path)]
            options = TrainingOptions(
                regularisation=regularisation, max_false_positive=max_false_positive, seed=seed
            )
            model = train_classifier(rows, options)
            model.save(out)
        except (AftersalesError, ImportError) as error:
            raise _fail(str(error)) from None
        except OSError as error:
            raise _fail(f"cannot write the model to {out}: {error}") from None
        summary = model.summary
        typer.echo(
            f"trained on {summary['rows']} rows, {summary['features']} features; "
            f"out-of-fold accuracy {summary['out_of_fold_accuracy']}; saved to {out}"
        )
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))

    @app.command("eval")
    def evaluate_command(
        data: Annotated[
            list[Path],
            typer.Argument(
                help="CSV files with the columns text and category (severity optional).",
                metavar="DATA.csv...",
            ),
        ],
        model: Annotated[
            Path | None, typer.Option("--model", "-m", help="Folder of a trained model.")
        ] = None,
        using: Annotated[
            Using, typer.Option(help="Score the model, the rules, or both combined.")
        ] = Using.MODEL,
        rule_confidence: Annotated[
            float, typer.Option(help="Combined: the rules' answer stands from this confidence.")
        ] = 0.6,
    ) -> None:
        """Score a classifier on labelled CSV rows: precision and recall per category,
        severity recall per level, out-of-scope false positives and messages per second."""
        if model is None and using is not Using.RULES:
            typer.echo("error: --model is needed unless --using rules", err=True)
            raise typer.Exit(2)
        try:
            from aftersales.routing.classify import Classifier, RuleClassifier
            from aftersales.routing.evaluation import evaluate, render
            from aftersales.routing.model import CombinedClassifier, ModelClassifier, read_rows

            classifier: Classifier = RuleClassifier()
            if model is not None and using is not Using.RULES:
                trained = ModelClassifier.load(model)
                classifier = (
                    trained
                    if using is Using.MODEL
                    else CombinedClassifier(trained, rule_confidence=rule_confidence)
                )
            for path in data:
                typer.echo(
                    render(f"{using.value} on {path}", evaluate(classifier, read_rows(path)))
                )
        except (AftersalesError, ImportError) as error:
            raise _fail(str(error)) from None

    return app
