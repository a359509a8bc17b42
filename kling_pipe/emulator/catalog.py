"""The models the emulator serves, described as Replicate's models and versions endpoints do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kling_pipe.canonical import canonical_hash
from kling_pipe.models.spec import ModelRegistry, ModelSpec

COG_VERSION = "0.16.8"
# Fixed so that a model's payload is the same bytes on every run.
VERSION_CREATED_AT = "2025-01-01T00:00:00.000000Z"

_VERSION_ID = re.compile(r"[0-9a-f]{64}")


def version_id(spec: ModelSpec) -> str:
    """The model's one version id: 64 hex digits derived from its input schema."""
    return canonical_hash({"model": spec.ref, "input": spec.to_openapi()})


@dataclass(frozen=True)
class ModelChoice:
    """The model a create names, and the version string its prediction reports."""

    spec: ModelSpec
    version: str


class Catalog:
    """Looks models up by `owner/name`, `owner/name:version` or a bare version id."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._by_version = {version_id(s): s for s in map(registry.get, registry.refs()) if s}

    def model(self, owner: str, name: str) -> ModelSpec | None:
        """The model `owner/name`, or None."""
        return self._registry.get(f"{owner}/{name}")

    def by_version(self, version: str) -> ModelChoice | None:
        """Resolve the `version` field of `POST /v1/predictions`; None when unknown."""
        ref, _, pinned = version.partition(":")
        if not pinned and _VERSION_ID.fullmatch(ref):
            spec = self._by_version.get(ref)
            return ModelChoice(spec, ref) if spec else None
        spec = self._registry.get(ref)
        if spec is None:
            return None
        if not pinned:
            return ModelChoice(spec, "hidden")
        return ModelChoice(spec, pinned) if pinned == version_id(spec) else None


def version_payload(spec: ModelSpec) -> dict[str, Any]:
    """`GET /v1/models/{owner}/{name}/versions/{id}`: the version with its `openapi_schema`."""
    return {
        "id": version_id(spec),
        "created_at": VERSION_CREATED_AT,
        "cog_version": COG_VERSION,
        "openapi_schema": {
            "openapi": "3.0.2",
            "info": {"title": "Cog", "version": "0.1.0"},
            "paths": {},
            "components": {
                "schemas": {
                    "Input": spec.to_openapi(),
                    "Output": spec.output_openapi(),
                }
            },
        },
    }


def model_payload(spec: ModelSpec, base_url: str, run_count: int) -> dict[str, Any]:
    """`GET /v1/models/{owner}/{name}`: an official, public model and its latest version."""
    owner, name = spec.ref.split("/", 1)
    return {
        "url": f"{base_url}/{spec.ref}",
        "owner": owner,
        "name": name,
        "description": spec.summary or None,
        "visibility": "public",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": run_count,
        "cover_image_url": None,
        "default_example": None,
        "is_official": True,
        "latest_version": version_payload(spec),
    }
