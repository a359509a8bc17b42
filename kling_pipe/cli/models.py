"""`kling-pipe models`: the model registry, and pulling a model's schema from the API."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.table import Table

from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.cli.app import app, out, user_errors
from kling_pipe.models.local import local_registry, save_pulled_model
from kling_pipe.models.spec import ModelSpec
from kling_pipe.workspace import models_folder, store_for_folder

models_app = typer.Typer(help="The models kling-pipe validates and prices.", no_args_is_help=True)
app.add_typer(models_app, name="models")

StoreOption = Annotated[
    Path | None,
    typer.Option(
        help="Store folder holding pulled schemas (default: KLING_PIPE_STORE, else the "
        "nearest .kling-pipe/ up to the repository root)."
    ),
]


@models_app.command("list")
def list_models(store: StoreOption = None) -> None:
    """Every known model with its inputs and price."""
    registry = local_registry(models_folder(store_for_folder(Path.cwd(), store)))
    table = Table(title="models", title_justify="left")
    for column in ("model", "makes", "inputs", "price (USD)", "prices as of"):
        table.add_column(column)
    for ref in registry.refs():
        spec = registry.get(ref)
        assert spec is not None
        table.add_row(
            ref,
            spec.output_kind,
            ", ".join(spec.inputs),
            price_text(spec),
            spec.prices_as_of or "unknown",
        )
    out.print(table)


def price_text(spec: ModelSpec) -> str:
    """The model's prices in one cell: per image, or per second by mode and audio."""
    if spec.output_kind == "image":
        return f"{spec.price_per_image or spec.price_per_second:.3f}/image"
    unit = "/s of input video" if spec.seconds_from else "/s"
    if spec.mode_prices:
        parts = []
        for mode, rate in spec.mode_prices.items():
            with_audio = spec.mode_prices_with_audio.get(mode)
            extra = f" ({with_audio:.3f} audio)" if with_audio else ""
            parts.append(f"{mode} {rate:.3f}{unit}{extra}")
        return ", ".join(parts)
    audio_rate = spec.price_per_second_with_audio
    audio = f" ({audio_rate:.3f} audio)" if audio_rate is not None else ""
    return f"{spec.price_per_second:.3f}{unit}{audio}"


@models_app.command("pull")
def pull(
    model: Annotated[str, typer.Argument(help="owner/name, or owner/name:version.")],
    store: StoreOption = None,
    price_per_second: Annotated[
        float | None, typer.Option(help="USD per second of output (needed for unknown models).")
    ] = None,
    price_per_second_with_audio: Annotated[
        float | None, typer.Option(help="USD per second with generate_audio on.")
    ] = None,
    price_per_image: Annotated[
        float | None, typer.Option(help="USD per output of a model that makes images.")
    ] = None,
) -> None:
    """Read MODEL's input schema from the API (REPLICATE_API_TOKEN, REPLICATE_BASE_URL) into
    the store's local registry, so manifests using a new version validate before spending."""
    folder = models_folder(store_for_folder(Path.cwd(), store))
    with user_errors():
        known = local_registry(folder).get(model)
        price = (
            price_per_second
            if price_per_second is not None
            else (known.price_per_second if known else None)
        )
        if price is None and price_per_image is not None:
            price = price_per_image
        if price is None:
            raise typer.BadParameter(
                f"{model} is not a model kling-pipe knows a price for: pass --price-per-second "
                "(or --price-per-image for a model that makes images)"
            )
        audio = price_per_second_with_audio
        if audio is None and known is not None:
            audio = known.price_per_second_with_audio

        async def fetch() -> tuple[str | None, dict[str, object], dict[str, object] | None]:
            async with ReplicateBackend() as backend:
                return await backend.model_schemas(model)

        version, schema, output_schema = anyio.run(fetch)
        path = save_pulled_model(
            folder,
            model,
            version,
            dict(schema),
            price,
            audio,
            output_schema=dict(output_schema) if output_schema is not None else None,
            price_per_image=price_per_image,
            prices_as_of=date.today().isoformat()
            if price_per_second is not None or price_per_image is not None
            else None,
        )
        spec = local_registry(folder).get(model)
        assert spec is not None
    out.print(
        f"pulled {model} (version {version or 'latest'}, makes {spec.output_kind}s): "
        f"{', '.join(spec.inputs)}"
    )
    out.print(f"saved to {path}")
