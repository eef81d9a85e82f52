"""dlhw list backbones: the pretrained backbones a config can name, and what each expects."""

from __future__ import annotations

import typer
from typing_extensions import Annotated

from dlhw.cli.common import DebugOpt, cli_errors

WHAT = ("backbones",)
PREPROCESSING = {
    "caffe": "caffe (BGR, minus ImageNet mean)",
    "torch": "torch (0..1, ImageNet mean/std)",
    "tf": "tf (-1..1)",
    "none": "built in (model rescales)",
}


def backbone_rows() -> list[list[str]]:
    """One row per registered backbone (no TensorFlow needed)."""
    from dlhw.models.backbones import BACKBONES

    rows = []
    for name in sorted(BACKBONES):
        e = BACKBONES[name]
        rows.append([name, f"keras.applications.{e.constructor}", f"{e.min_size}x{e.min_size}",
                     PREPROCESSING[e.preprocessing], str(e.channels), ", ".join(e.blocks),
                     e.weights_file(224)])
    return rows


def list_cmd(
    what: Annotated[str, typer.Argument(help="What to list; backbones is the one list today.", show_default=False)] = "backbones",
    debug: DebugOpt = False,
) -> None:
    """List what configs can name (backbones: name, minimum image size, preprocessing, feature size)."""
    with cli_errors(debug):
        from dlhw.errors import ConfigError, did_you_mean

        if what not in WHAT:
            raise ConfigError(f"dlhw list: unknown list '{what}'{did_you_mean(what, WHAT)}; choose one of: "
                              f"{', '.join(WHAT)}")
        header = ["name", "constructor", "min size", "preprocessing", "features (avg/max)",
                  "blocks (unfreeze.from_block)", "ImageNet file (224px)"]
        rows = backbone_rows()
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        typer.echo(fmt.format(*header[:5]))
        for r in rows:
            typer.echo(fmt.format(*r[:5]))
        typer.echo("")
        typer.echo("blocks (prefixes for unfreeze.from_block) and the ImageNet file Keras caches:")
        for r in rows:
            typer.echo(f"  {r[0]:<16} {r[5]}")
            typer.echo(f"  {'':<16} {r[6]}")
        typer.echo("")
        typer.echo("pooling: flatten gives height/32 x width/32 x features values (e.g. densenet201 at 128x128: "
                   "4x4x1920 = 30720); weights: imagenet | null | a .weights.h5 / .h5 file.")
