"""The registry as JSON (for other infrastructure) and the JSON Schemas of its files (for editors)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from cells.models import CELL_ADAPTER, AwsCell, GcpCell, Organization, Registry
from cells.routes import Route, routes
from cells.tenants import TenantFile

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
        "tenants": [t.model_dump(mode="json") for t in registry.tenants],
        # Each tenant's name and the origin of its registry cell (`cells.routes`), for readers in any language.
        "routes": [route_document(r) for r in routes(registry)],
    }


def route_document(route: Route) -> dict[str, Any]:
    """A route as exported: `cells.routes.Route`'s fields (`moving_to` only while a move runs)."""
    doc = asdict(route)
    if doc["moving_to"] is None:
        del doc["moving_to"]
    return doc


def to_json(registry: Registry, outputs: dict[str, dict[str, Any]] | None = None) -> str:
    return json.dumps(registry_document(registry, outputs), indent=2, sort_keys=True) + "\n"


class RegistrySchema(GenerateJsonSchema):
    """Pydantic's JSON Schema, with each branch of a tagged union chosen by its tag.

    Pydantic writes `oneOf` plus an OpenAPI `discriminator`, which Draft 2020-12 validators ignore:
    they try every branch and report the wrong branch's `cloud: 'aws' was expected`. Here the tag is
    required and enumerated beside the `oneOf`, and each branch applies only when the tag names it
    (`if`/`then`); a last branch stands for a missing or unknown tag, which the enum reports. The
    `discriminator` stays for the tools that read it; every other validator reports the errors of
    the branch the tag names.
    """

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        json_schema = super().tagged_union_schema(schema)
        discriminator = json_schema.get("discriminator")
        if not isinstance(discriminator, dict) or "mapping" not in discriminator:
            return json_schema
        tag, mapping = discriminator["propertyName"], discriminator["mapping"]
        known = {"properties": {tag: {"enum": list(mapping)}}, "required": [tag]}
        json_schema["oneOf"] = [
            *(
                {"if": {"properties": {tag: {"const": value}}, "required": [tag]}, "then": {"$ref": ref}, "else": False}
                for value, ref in mapping.items()
            ),
            {"not": known},
        ]
        return {"type": "object", **known, **json_schema}


def cell_schema() -> dict[str, Any]:
    schema = CELL_ADAPTER.json_schema(schema_generator=RegistrySchema)
    schema["title"] = "Honeycomb cell"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def organization_schema() -> dict[str, Any]:
    schema = Organization.model_json_schema(schema_generator=RegistrySchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def tenants_schema() -> dict[str, Any]:
    schema = TenantFile.model_json_schema(schema_generator=RegistrySchema)
    schema["title"] = "Honeycomb tenants of a cell"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
