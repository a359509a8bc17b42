"""Model schemas pulled from the API and kept in the store, so a new model version validates
without a new release of kling-pipe.

    <models>/<owner>__<name>.json   {"ref", "version", "input_schema", "price_per_second", …}

where <models> is the store's models folder (`Workspace.models`).
"""

from __future__ import annotations

import json
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
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a pulled model schema ({exc}); delete it") from None
        known = bundled.get(pulled.ref)
        if known is not None:  # keep what the API does not publish
            pulled = ModelSpec(
                ref=pulled.ref,
                inputs=pulled.inputs,
                price_per_second=pulled.price_per_second,
                price_per_second_with_audio=pulled.price_per_second_with_audio,
                mode_prices=known.mode_prices,
                ignores_aspect_ratio_with_start_image=known.ignores_aspect_ratio_with_start_image,
                summary=known.summary,
            )
        specs.append(pulled)
    return bundled.with_specs(specs)
