"""The registry: models, derived values and every validation rule (each with a registry that breaks it)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from cells import AwsCell, Environment, GcpCell, RegistryError, Size, load_registry
from cells.export import cell_schema, organization_schema, registry_document, tenants_schema, to_json
from cells.loader import load_registry_data


def errors(directory: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_registry(directory)
    return [str(issue) for issue in info.value.issues]


def only_error(directory: Path) -> str:
    found = errors(directory)
    assert len(found) == 1, found
    return found[0]


class TestSample:
    def test_loads_clean_with_the_sample_cells(self, registry):
        assert [c.name for c in registry.cells] == ["alpha", "beta", "dev-jdoe", "gamma", "staging"]
        assert isinstance(registry.cell("alpha"), AwsCell)
        assert isinstance(registry.cell("beta"), GcpCell)
        assert {c.region for c in registry.aws_cells} >= {"us-east-1", "eu-west-1"}

    def test_derived_values(self, registry):
        alpha = registry.cell("alpha")
        assert alpha.stack_name == "cell-alpha"
        assert registry.zone_name(alpha) == "alpha.cells.acme-corp.net"
        assert alpha.endpoint("api", registry.organization.domain) == "api.alpha.cells.acme-corp.net"
        assert alpha.tags == {"cell": "alpha", "environment": "prod", "managed-by": "honeycomb"}
        assert alpha.size is Size.large and alpha.sizing.desired == 8
        assert registry.stack_names[0] == "management" and "cell-beta" in registry.stack_names

    def test_access_rules_combine_environment_and_cell(self, registry):
        dev = registry.cell("dev-jdoe")
        assert dev.environment is Environment.dev
        assert {(r.group, str(r.permission)) for r in registry.access_for(dev)} == {
            ("engineering", "read-only"),
            ("platform-admins", "admin"),
        }

    def test_waves_in_order_with_their_cells(self, registry):
        waves = [(w.name, [c.name for c in cells]) for w, cells in registry.waves()]
        assert waves == [
            ("preprod", ["dev-jdoe", "staging"]),
            ("prod-canary", ["alpha"]),
            ("prod-main", ["beta", "gamma"]),
        ]

    def test_unknown_cell_names_the_known_ones(self, registry):
        with pytest.raises(LookupError, match=r"no cell named 'nope'.*alpha, beta"):
            registry.cell("nope")

    def test_committed_schemas_match_the_models(self):
        root = Path(__file__).parents[1] / "cells" / "schema"
        hint = "regenerate with: cellctl schema cell -o cells/schema/cell.schema.json (and organization)"
        assert json.loads((root / "cell.schema.json").read_text()) == cell_schema(), hint
        assert json.loads((root / "organization.schema.json").read_text()) == organization_schema(), hint
        assert json.loads((root / "tenants.schema.json").read_text()) == tenants_schema(), hint


class TestExport:
    def test_json_round_trip_gives_equal_models(self, registry):
        assert load_registry_data(json.loads(to_json(registry))) == registry

    def test_export_is_stable_and_carries_derived_values(self, registry):
        text = to_json(registry)
        assert text == to_json(registry)
        doc = json.loads(text)
        alpha = next(c for c in doc["cells"] if c["name"] == "alpha")
        assert alpha["stack_name"] == "cell-alpha"
        assert alpha["dns_zone"] == "alpha.cells.acme-corp.net"
        assert alpha["endpoints"]["web"] == "web.alpha.cells.acme-corp.net"

    def test_outputs_are_attached_per_cell(self, registry):
        doc = registry_document(registry, {"alpha": {"account_id": "210987654321"}})
        alpha = next(c for c in doc["cells"] if c["name"] == "alpha")
        assert alpha["outputs"] == {"account_id": "210987654321"}
        assert load_registry_data(doc) == registry


class TestSchemaErrors:
    def test_unknown_key(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(colour="blue"))
        assert only_error(registry_copy).endswith("cells/alpha.yaml: colour: unknown key")

    def test_missing_field_and_bad_enum_reported_together(self, registry_copy, edit_yaml):
        def change(d):
            del d["capacity"]
            d["size"] = "huge"

        edit_yaml(registry_copy / "cells/gamma.yaml", change)
        found = errors(registry_copy)
        assert any("gamma.yaml: capacity: required field is missing" in e for e in found)
        assert any("gamma.yaml: size: " in e and "small" in e for e in found)

    def test_unknown_cloud(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(cloud="azure"))
        assert "cloud must be 'aws' or 'gcp'" in only_error(registry_copy)

    def test_nested_field_path(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d["network"].update(cidr="10.32.0.0/8"))
        message = only_error(registry_copy)
        assert "alpha.yaml: network.cidr: " in message

    def test_duplicate_yaml_key(self, registry_copy):
        path = registry_copy / "cells/alpha.yaml"
        path.write_text(path.read_text() + "size: small\n")
        message = only_error(registry_copy)
        assert "alpha.yaml" in message and "duplicate key 'size'" in message and "line" in message

    def test_invalid_yaml(self, registry_copy):
        (registry_copy / "cells/alpha.yaml").write_text("name: [alpha\n")
        assert "alpha.yaml: line" in only_error(registry_copy)

    def test_top_level_not_a_mapping(self, registry_copy):
        (registry_copy / "cells/alpha.yaml").write_text("- alpha\n")
        assert "expected a mapping at the top level" in only_error(registry_copy)

    def test_missing_organization_file(self, registry_copy):
        (registry_copy / "organization.yaml").unlink()
        assert "organization.yaml: file not found" in only_error(registry_copy)

    def test_missing_directory(self, tmp_path):
        assert "registry directory not found" in only_error(tmp_path / "absent")

    def test_gcp_project_id_rules(self, registry_copy, edit_yaml):
        for bad in ("Acme-cell", "short", "1acme-cell-beta", "acme-cell-beta-", "a" * 31):
            edit_yaml(registry_copy / "cells/beta.yaml", lambda d, bad=bad: d.update(project_id=bad))
            message = only_error(registry_copy)
            assert "beta.yaml: project_id" in message and "not a valid GCP project id" in message, bad

    def test_account_id_must_be_twelve_digits(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(account_id="12345"))
        assert "alpha.yaml: account_id" in only_error(registry_copy)

    def test_latest_image_tag_refused(self, registry_copy, edit_yaml):
        edit_yaml(
            registry_copy / "organization.yaml", lambda d: d["components"][0].update(image="ghcr.io/acme/api:latest")
        )
        assert "organization.yaml: components[0].image" in only_error(registry_copy)
        assert "latest" in only_error(registry_copy)


class TestCrossFileRules:
    def test_file_name_must_match_cell_name(self, registry_copy):
        (registry_copy / "cells/alpha.yaml").rename(registry_copy / "cells/alpha2.yaml")
        assert "alpha2.yaml: name: cell 'alpha' must live in alpha.yaml" in only_error(registry_copy)

    def test_duplicate_cell_name(self, registry_copy, edit_yaml):
        path = registry_copy / "cells/alpha2.yaml"
        path.write_text((registry_copy / "cells/gamma.yaml").read_text())
        edit_yaml(path, lambda d: d.update(network={"cidr": "10.100.0.0/16"}, account_email="x@acme-corp.net"))
        found = errors(registry_copy)
        assert any("alpha2.yaml: name: 'gamma' is used by more than one cell" in e for e in found)
        assert any("gamma.yaml: name: 'gamma' is used by more than one cell" in e for e in found)

    def test_duplicate_account_email_case_insensitive(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(account_email="AWS+cell-alpha@acme-corp.net"))
        found = errors(registry_copy)
        assert len(found) == 2 and all("account_email" in e and "more than one cell" in e for e in found)

    def test_duplicate_account_id(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(account_id="210987654321"))
        assert all("account_id: '210987654321' is used by more than one cell" in e for e in errors(registry_copy))

    def test_shared_account_cannot_be_a_cell(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(account_id="100000000002"))
        assert "is a shared account, not a cell account" in only_error(registry_copy)

    def test_duplicate_project_id(self, registry_copy, edit_yaml):
        path = registry_copy / "cells/delta.yaml"
        path.write_text((registry_copy / "cells/beta.yaml").read_text())
        edit_yaml(path, lambda d: d.update(name="delta", network={"cidr": "10.101.0.0/16"}))
        assert any("project_id: 'acme-cell-beta' is used by more than one cell" in e for e in errors(registry_copy))

    def test_overlapping_cidrs_name_both_cells(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(network={"cidr": "10.32.16.0/20"}))
        found = errors(registry_copy)
        assert any("gamma.yaml: network.cidr: 10.32.16.0/20 overlaps cell 'alpha'" in e for e in found)
        assert any("alpha.yaml: network.cidr: 10.32.0.0/16 overlaps cell 'gamma'" in e for e in found)

    def test_region_not_allowed(self, registry_copy, edit_yaml):
        (registry_copy / "tenants/gamma.yaml").unlink()  # its tenants' residency would refuse the move too
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(region="ap-southeast-2"))
        assert "gamma.yaml: region: aws region 'ap-southeast-2' is not allowed" in only_error(registry_copy)

    def test_gcp_region_checked_against_gcp_list(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/beta.yaml", lambda d: d.update(region="us-east-1"))
        assert "beta.yaml: region: unknown gcp region 'us-east-1'" in only_error(registry_copy)

    def test_allowed_region_must_exist(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "organization.yaml", lambda d: d["aws"]["allowed_regions"].append("us-nowhere-9"))
        assert "aws.allowed_regions[3]: unknown aws region 'us-nowhere-9'" in only_error(registry_copy)

    def test_unknown_wave(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/gamma.yaml", lambda d: d.update(wave="prod-late"))
        assert "gamma.yaml: wave: wave 'prod-late' is not defined" in only_error(registry_copy)

    def test_prod_cell_not_in_first_wave(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(wave="preprod"))
        assert "a prod cell cannot be in the first wave 'preprod'" in only_error(registry_copy)

    def test_dev_cell_needs_owner(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/dev-jdoe.yaml", lambda d: d.pop("owner"))
        assert "dev-jdoe.yaml: owner: a dev cell needs an owner" in only_error(registry_copy)

    def test_unknown_access_group_in_cell(self, registry_copy, edit_yaml):
        edit_yaml(
            registry_copy / "cells/alpha.yaml", lambda d: d.update(access=[{"group": "ghosts", "permission": "admin"}])
        )
        assert "alpha.yaml: access[0].group: group 'ghosts' is not defined" in only_error(registry_copy)

    def test_unknown_access_group_in_organization(self, registry_copy, edit_yaml):
        edit_yaml(
            registry_copy / "organization.yaml",
            lambda d: d["access"]["prod"].append({"group": "ghosts", "permission": "read-only"}),
        )
        assert "access.prod[4].group: group 'ghosts' is not defined in groups" in only_error(registry_copy)

    def test_override_of_unknown_component(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(overrides={"cache": {"replicas": 2}}))
        assert "alpha.yaml: overrides.cache: no application component named 'cache'" in only_error(registry_copy)

    def test_every_error_is_reported_at_once(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(wave="preprod", colour="red"))
        edit_yaml(registry_copy / "cells/dev-jdoe.yaml", lambda d: d.pop("owner"))
        edit_yaml(registry_copy / "cells/beta.yaml", lambda d: d.update(region="mars-1"))
        found = errors(registry_copy)
        assert {Path(e.split(":")[0]).name for e in found} == {"alpha.yaml", "dev-jdoe.yaml", "beta.yaml"}


def test_cidr_overlap_check_scales_and_is_exact(tmp_path):
    """Sorted sweep: neighbours that merely touch do not overlap; nested ranges do."""
    from cells.loader import _check_cells

    registry = load_registry()
    org = registry.organization
    base = registry.cell("gamma")
    cells = [
        (
            tmp_path / f"c{i}.yaml",
            base.model_copy(update={"name": f"c{i}", "network": base.network.model_copy(update={"cidr": net})}),
        )
        for i, net in enumerate(ipaddress.IPv4Network("10.0.0.0/12").subnets(new_prefix=20))
    ]
    assert not [i for i in _check_cells(org, cells) if i.path == "network.cidr"]
    nested = base.model_copy(
        update={
            "name": "nested",
            "network": base.network.model_copy(update={"cidr": ipaddress.IPv4Network("10.0.0.0/16")}),
        }
    )
    overlaps = [i for i in _check_cells(org, [*cells, (tmp_path / "nested.yaml", nested)]) if i.path == "network.cidr"]
    assert len(overlaps) == 32  # the /16 holds 16 of the /20s: two issues per pair
