"""The registry as JSON (for other infrastructure) and the JSON Schemas of its files (for editors)."""

from __future__ import annotations

import json
from typing import Any

from cells.models import CELL_ADAPTER, AwsCell, GcpCell, Organization, Registry

FORMAT_VERSION = 1


def cell_document(registry: Registry, cell: AwsCell | GcpCell) -> dict[str, Any]:
    """A cell as exported: its fields plus the values derived from them."""
    domain = registry.organization.domain
    return {
        **cell.model_dump(mode="json"),
        "stack_name": cell.stack_name,
        "dns_zone": cell.zone_name(domain),
        "tags": cell.tags,
        "endpoints": {c.name: cell.endpoint(c.name, domain) for c in registry.organization.components},
    }


def registry_document(registry: Registry, outputs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole registry; `outputs` (per cell name) adds resolved values such as account ids."""
    cells = []
    for cell in registry.cells:
        doc = cell_document(registry, cell)
        if outputs and cell.name in outputs:
            doc["outputs"] = outputs[cell.name]
        cells.append(doc)
    return {
        "format_version": FORMAT_VERSION,
        "organization": registry.organization.model_dump(mode="json"),
        "cells": cells,
    }


def to_json(registry: Registry, outputs: dict[str, dict[str, Any]] | None = None) -> str:
    return json.dumps(registry_document(registry, outputs), indent=2, sort_keys=True) + "\n"


def cell_schema() -> dict[str, Any]:
    schema = CELL_ADAPTER.json_schema()
    schema["title"] = "Honeycomb cell"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def organization_schema() -> dict[str, Any]:
    schema = Organization.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
