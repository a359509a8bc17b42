"""Model schemas pulled from the API and kept in the store, so a new model version validates
without a new release of kling-pipe.

    <models>/<owner>__<name>.json   {"ref", "version", "input_schema", "output_schema",
                                     "price_per_second", "price_per_image", "prices_as_of", …}

where <models> is the store's models folder (`Workspace.models`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from kling_pipe.errors import InputError
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.spec import ModelRegistry, ModelSpec, split_model_ref


def _file_for(folder: Path, ref: str) -> Path:
    owner, _, name = split_model_ref(ref)[0].partition("/")
    return folder / f"{owner}__{name}.json"


def save_pulled_model(
    folder: Path,
    ref: str,
    version: str | None,
    input_schema: dict[str, Any],
    price_per_second: float,
    price_per_second_with_audio: float | None,
    *,
    output_schema: dict[str, Any] | None = None,
    price_per_image: float | None = None,
    prices_as_of: str | None = None,
) -> Path:
    """Write a pulled schema into the store's models `folder`."""
    path = _file_for(folder, ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "ref": split_model_ref(ref)[0],
        "version": version,
        "input_schema": input_schema,
        "price_per_second": price_per_second,
        "price_per_second_with_audio": price_per_second_with_audio,
        "output_schema": output_schema,
        "price_per_image": price_per_image,
        "prices_as_of": prices_as_of,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", "utf-8")
    return path


def local_registry(folder: Path) -> ModelRegistry:
    """The bundled models, with pulled schemas from the models `folder` replacing or adding
    to them."""
    bundled = bundled_registry()
    if not folder.is_dir():
        return bundled
    specs: list[ModelSpec] = []
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text("utf-8"))
            pulled = ModelSpec.from_openapi(
                doc["ref"],
                doc["input_schema"],
                float(doc["price_per_second"]),
                doc.get("price_per_second_with_audio"),
                output_schema=doc.get("output_schema"),
                price_per_image=doc.get("price_per_image"),
                prices_as_of=doc.get("prices_as_of"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a pulled model schema ({exc}); delete it") from None
        known = bundled.get(pulled.ref)
        if known is not None:  # keep what the API does not publish
            pulled = replace(
                known,
                inputs=pulled.inputs,
                price_per_second=pulled.price_per_second,
                price_per_second_with_audio=pulled.price_per_second_with_audio,
                prices_as_of=pulled.prices_as_of or known.prices_as_of,
            )
        specs.append(pulled)
    return bundled.with_specs(specs)
