"""The JSON Schema an editor uses and the models `cellctl validate` uses agree on every registry file.

The schema is validated as JSON Schema prescribes (Draft 2020-12, `pattern` in the ECMA-262
dialect, through `regress`), since that is what an editor does; Python's `re.search` would, for
one, let a `$` match before a trailing newline.

Rules that look at more than one file (or at the whole organization) are checked by the loader
alone; `CROSS_FILE_RULES` lists them, each with a file the schema accepts and `cellctl validate`
refuses. The README lists the same.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import regress
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import best_match
from pydantic import ValidationError as ModelError

from cells import RegistryError, load_registry
from cells.export import cell_schema, organization_schema, tenants_schema
from cells.loader import DEFAULT_REGISTRY, parse_yaml
from cells.models import CELL_ADAPTER, CELL_PREFIXES, PRIVATE_RANGES, Organization
from cells.regions import AWS_REGIONS, GCP_REGIONS
from cells.tenants import TenantFile


@functools.cache
def _regex(pattern: str) -> regress.Regex:
    return regress.Regex(pattern)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and _regex(pattern).find(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EditorValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
SCHEMA = {
    "cell": EditorValidator(cell_schema()),
    "organization": EditorValidator(organization_schema()),
    "tenants": EditorValidator(tenants_schema()),
}
MODEL: dict[str, Callable[[Any], Any]] = {
    "cell": CELL_ADAPTER.validate_python,
    "organization": Organization.model_validate,
    "tenants": TenantFile.model_validate,
}
SAMPLES = {
    "cell": [yaml.safe_load(p.read_text()) for p in sorted((DEFAULT_REGISTRY / "cells").glob("*.yaml"))],
    "organization": [yaml.safe_load((DEFAULT_REGISTRY / "organization.yaml").read_text())],
    "tenants": [yaml.safe_load(p.read_text()) for p in sorted((DEFAULT_REGISTRY / "tenants").glob("*.yaml"))],
}


def schema_accepts(kind: str, doc: Any) -> bool:
    return bool(SCHEMA[kind].is_valid(doc))


def model_accepts(kind: str, doc: Any) -> bool:
    try:
        MODEL[kind](doc)
    except ModelError:
        return False
    return True


def assert_agree(kind: str, doc: Any) -> bool:
    by_schema, by_model = schema_accepts(kind, doc), model_accepts(kind, doc)
    if by_schema != by_model:
        errors = [e.message for e in SCHEMA[kind].iter_errors(doc)][:3]
        try:
            MODEL[kind](doc)
        except ModelError as exc:
            errors.append(str(exc))
        pytest.fail(f"schema {'accepts' if by_schema else 'rejects'} but the models disagree: {doc!r}\n{errors}")
    return by_model


def cell(name: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(next(d for d in SAMPLES["cell"] if d["name"] == name))
    doc.update(changes)
    return doc


def organization(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(SAMPLES["organization"][0])
    change(doc)
    return doc


# --- the schema itself -------------------------------------------------------------------------


def test_schemas_are_valid_draft_2020_12():
    for validator in SCHEMA.values():
        Draft202012Validator.check_schema(validator.schema)
        assert validator.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("kind", ["cell", "organization", "tenants"])
def test_every_sample_file_is_valid_for_both(kind):
    for doc in SAMPLES[kind]:
        assert assert_agree(kind, doc), doc


# --- each disagreement there was, one by one --------------------------------------------------


class TestNamedDisagreements:
    def test_missing_cloud(self):
        doc = cell("alpha")
        del doc["cloud"]
        assert not assert_agree("cell", doc)
        assert list(best_match(SCHEMA["cell"].iter_errors(doc)).absolute_path) == []
        assert "'cloud' is a required property" in best_match(SCHEMA["cell"].iter_errors(doc)).message

    @pytest.mark.parametrize(
        "cidr",
        [
            "10.32.0.0/8",  # too large
            "10.32.0.0/24",  # too small
            "10.32.0.1/16",  # host bits set
            "8.8.0.0/16",  # public
            "172.32.0.0/16",  # just outside 172.16.0.0/12
            "192.169.0.0/16",
            "010.32.0.0/16",  # leading zero
            "10.32.0.0/016",
            "10.32.0.0/255.255.0.0",  # a netmask, not a prefix
            "10.32.0.0",
            "10.256.0.0/16",
            "10.32.0.0/16\n",
        ],
    )
    def test_bad_cidr(self, cidr):
        assert not assert_agree("cell", cell("alpha", network={"cidr": cidr}))

    @pytest.mark.parametrize("cidr", ["10.32.0.0/16", "172.31.240.0/20", "192.168.128.0/17", "10.255.224.0/19"])
    def test_good_cidr(self, cidr):
        assert assert_agree("cell", cell("alpha", network={"cidr": cidr}))

    @pytest.mark.parametrize("account_id", ["21098765432", "2109876543210", "21098765432x", "٢١٠٩٨٧٦٥٤٣٢١"])
    def test_account_id_not_twelve_digits(self, account_id):
        assert not assert_agree("cell", cell("alpha", account_id=account_id))
        doc = organization(lambda d: d["aws"].update(dns_account_id=account_id))
        assert not assert_agree("organization", doc)

    @pytest.mark.parametrize("project_id", ["Acme-cell", "short", "1acme-cell-beta", "acme-cell-beta-", "a" * 31])
    def test_bad_gcp_project_id(self, project_id):
        assert not assert_agree("cell", cell("beta", project_id=project_id))
        doc = organization(lambda d: d["gcp"].update(monitoring_project=project_id))
        assert not assert_agree("organization", doc)

    def test_override_tag_latest(self):
        assert not assert_agree("cell", cell("staging", overrides={"api": {"image_tag": "latest"}}))
        assert assert_agree("cell", cell("staging", overrides={"api": {"image_tag": "latest-but-pinned"}}))

    @pytest.mark.parametrize(
        "image",
        ["ghcr.io/acme/api:latest", "ghcr.io/acme/api", "ghcr.io/acme/api:", "ghcr.io/acme/api@sha256:abc"],
    )
    def test_component_image_not_pinned(self, image):
        doc = organization(lambda d: d["components"][0].update(image=image))
        assert not assert_agree("organization", doc)

    def test_empty_override(self):
        assert not assert_agree("cell", cell("staging", overrides={"api": {"image_tag": None}}))
        assert assert_agree("cell", cell("staging", overrides={"api": {"image_tag": None, "replicas": 2}}))

    @pytest.mark.parametrize("value", [True, "400", "four hundred", 400.5])
    def test_no_coercion_of_integers(self, value):
        assert not assert_agree("cell", cell("alpha", capacity={"max_tenants": value, "max_daily_requests": 1}))
        assert not assert_agree("cell", cell("staging", overrides={"api": {"replicas": value}}))
        doc = organization(lambda d: d["waves"][0].update(bake_minutes=value))
        assert not assert_agree("organization", doc)
        doc = organization(lambda d: d["components"][0]["replicas"].update(small=value))
        assert not assert_agree("organization", doc)

    def test_a_whole_number_written_as_a_float_is_that_number(self):
        # YAML's `400.0` and JSON Schema's `integer` agree: it is the number 400.
        doc = cell("alpha", capacity={"max_tenants": 400.0, "max_daily_requests": 1})
        assert assert_agree("cell", doc)
        assert CELL_ADAPTER.validate_python(doc).capacity.max_tenants == 400

    def test_unknown_region(self):
        assert not assert_agree("cell", cell("alpha", region="us-nowhere-9"))
        assert not assert_agree("cell", cell("beta", region="us-east-1"))  # an AWS region in a GCP cell
        assert not assert_agree("organization", organization(lambda d: d["gcp"]["allowed_regions"].append("mars1")))

    def test_dev_cell_without_owner(self):
        doc = cell("dev-jdoe")
        del doc["owner"]
        assert not assert_agree("cell", doc)
        assert not assert_agree("cell", cell("dev-jdoe", owner=None))

    def test_derived_keys_are_not_cell_fields(self):
        assert not assert_agree("cell", cell("alpha", stack_name="cell-alpha"))

    @pytest.mark.parametrize("email", ["jane doe@acme-corp.net", "jane@acme-corp", "jane@@acme.net", "jane@-x.net"])
    def test_bad_email(self, email):
        assert not assert_agree("cell", cell("dev-jdoe", owner=email))

    def test_tenant_fields(self):
        def tenant(**changes: Any) -> dict[str, Any]:
            doc = copy.deepcopy(SAMPLES["tenants"][0])
            doc["tenants"][0].update(changes)
            return doc

        assert assert_agree("tenants", tenant(pinned=False, residency={"clouds": ["gcp"]}))
        for bad in (
            {"pinned": "yes"},
            {"pinned": 1},
            {"residency": {}},
            {"residency": {"regions": []}},
            {"residency": {"regions": ["mars-1"]}},
            {"residency": {"clouds": ["azure"]}},
            {"id": "Acme"},
            {"id": "acme-"},
            {"id": "a" * 64},
            {"daily_requests": -1},
            {"daily_requests": "100"},
            {"environment": "preprod"},
            {"custom_domain": "API.acme.com"},
            {"custom_domain": "acme"},
            {"display_name": ""},
        ):
            assert not assert_agree("tenants", tenant(**bad)), bad

    def test_headroom_percent(self):
        for value, ok in ((0, True), (15, True), (90, True), (91, False), (-1, False), ("15", False), (12.5, False)):
            doc = organization(lambda d, v=value: d.update(capacity={"headroom_percent": v}))
            assert assert_agree("organization", doc) is ok, value

    def test_account_email_longer_than_aws_allows(self):
        assert assert_agree("cell", cell("alpha", account_email="a" * 50 + "@acme-corp.net"))  # 64 characters
        assert not assert_agree("cell", cell("alpha", account_email="a" * 51 + "@acme-corp.net"))


class TestErrorsNameTheField:
    """An editor's first error is about the field that is wrong, not about the other cloud's `cloud`."""

    @pytest.mark.parametrize(
        ("doc", "field"),
        [
            (cell("beta", project_id="Bad_Project"), ["project_id"]),
            (cell("alpha", account_id="12345"), ["account_id"]),
            (cell("beta", network={"cidr": "10.48.0.0/8"}), ["network", "cidr"]),
            (cell("alpha", capacity={"max_tenants": True, "max_daily_requests": 1}), ["capacity", "max_tenants"]),
            (cell("alpha", cloud="azure"), ["cloud"]),
        ],
    )
    def test_best_match_names_the_field(self, doc, field):
        error = best_match(SCHEMA["cell"].iter_errors(doc))
        assert list(error.absolute_path) == field, error.message

    def test_a_missing_field_of_the_chosen_cloud(self):
        doc = cell("beta")
        del doc["project_id"]
        assert "'project_id' is a required property" in best_match(SCHEMA["cell"].iter_errors(doc)).message

    def test_the_discriminator_is_kept_for_tools_that_read_it(self):
        schema = cell_schema()
        assert schema["discriminator"]["propertyName"] == "cloud"
        assert schema["required"] == ["cloud"]
        assert set(schema["discriminator"]["mapping"]) == {"aws", "gcp"}


class TestLoaderMessages:
    def errors(self, registry_copy: Path) -> list[str]:
        with pytest.raises(RegistryError) as info:
            load_registry(registry_copy)
        return [str(i) for i in info.value.issues]

    def test_boolean_for_an_integer(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d["capacity"].update(max_tenants=True))
        assert any(
            e.endswith("alpha.yaml: capacity.max_tenants: expected a whole number (no quotes), got true")
            for e in self.errors(registry_copy)
        )

    def test_quoted_number(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "organization.yaml", lambda d: d["components"][0].update(port="8080"))
        found = self.errors(registry_copy)
        assert any("components[0].port: expected a whole number (no quotes), got the string '8080'" in e for e in found)

    def test_unquoted_account_id(self, registry_copy):
        path = registry_copy / "cells/alpha.yaml"
        path.write_text(path.read_text().replace('account_id: "210987654321"', "account_id: 210987654321"))
        found = self.errors(registry_copy)
        assert any("account_id: expected a string (quote it in YAML), got 210987654321" in e for e in found)

    def test_scalar_for_a_mapping(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d.update(network="10.32.0.0/16"))
        found = self.errors(registry_copy)
        assert any("alpha.yaml: network: expected a mapping, got the string '10.32.0.0/16'" in e for e in found)

    def test_cidr_in_another_form(self, registry_copy, edit_yaml):
        edit_yaml(registry_copy / "cells/alpha.yaml", lambda d: d["network"].update(cidr="10.32.0.0/255.255.0.0"))
        found = self.errors(registry_copy)
        assert any("network.cidr: write '10.32.0.0/255.255.0.0' as 10.32.0.0/16" in e for e in found)


def test_cidr_pattern_accepts_exactly_the_cell_networks():
    """Every network the model accepts matches the schema's pattern; its neighbours do not."""
    validator = SCHEMA["cell"]
    for private in PRIVATE_RANGES:
        for prefix in CELL_PREFIXES:
            for net in private.subnets(new_prefix=prefix):
                assert validator.is_valid(cell("alpha", network={"cidr": str(net)})), net
    for outside in ("9.255.0.0/16", "11.0.0.0/16", "172.15.0.0/16", "192.167.0.0/16", "10.0.8.0/20"):
        assert not validator.is_valid(cell("alpha", network={"cidr": outside})), outside


# --- the property: generated files, mutated ---------------------------------------------------

_octet = st.one_of(st.integers(0, 256), st.sampled_from([10, 16, 31, 32, 128, 168, 172, 192, 240]))
_cidrs = st.builds(
    lambda a, b, c, d, p: f"{a}.{b}.{c}.{d}/{p}",
    st.sampled_from([10, 10, 172, 192, 8, 100]),
    _octet,
    st.one_of(st.sampled_from([0, 16, 32, 64, 128, 144, 240]), _octet),
    st.sampled_from([0, 0, 0, 1]),
    st.one_of(st.integers(15, 21), st.integers(0, 33)),
)
_numbers = st.one_of(
    st.integers(-3, 70_000),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=1e6),
    st.integers(0, 100).map(float),
    st.integers(0, 100).map(str),
)
_emails = st.from_regex(r"[a-z.+]{0,5}@?[a-z-]{0,5}(\.[a-z]{0,3})?", fullmatch=True)
_short_text = st.text(alphabet=st.sampled_from("az09AZ-_.:/@+ \n"), max_size=14)
#: Values chosen for the field they replace: near misses of each field's rule, and valid ones.
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "cidr": _cidrs,
    "account_id": st.text(alphabet="0123456789", min_size=10, max_size=13),
    "management_account_id": st.text(alphabet="0123456789", min_size=11, max_size=13),
    "project_id": st.one_of(
        st.from_regex(r"[a-z][a-z0-9-]{3,30}[a-z0-9-]", fullmatch=True),
        st.from_regex(r"[a-zA-Z0-9_-]{4,32}", fullmatch=True),
    ),
    "monitoring_project": st.from_regex(r"[a-z0-9-]{4,32}", fullmatch=True),
    "image_tag": st.one_of(st.sampled_from(["latest", "1.0", ".x", "-x", "a" * 128, "a" * 129]), _short_text),
    "image": st.builds(
        lambda repo, sep, tag: f"{repo}{sep}{tag}",
        st.sampled_from(["ghcr.io/acme/api", "localhost:5000/api", "api", ""]),
        st.sampled_from([":", "@sha256:", "/", ""]),
        st.one_of(st.sampled_from(["latest", "1.2", "a" * 64, "0" * 64]), _short_text),
    ),
    "region": st.sampled_from(sorted(AWS_REGIONS | GCP_REGIONS | {"mars-1", "US-EAST-1"})),
    "email": _emails,
    "account_email": _emails,
    "owner": st.one_of(st.none(), _emails),
    "name": st.from_regex(r"[a-z0-9-]{0,34}", fullmatch=True),
    "environment": st.sampled_from(["prod", "preprod", "dev", "Prod", ""]),
    "size": st.sampled_from(["small", "medium", "large", "huge"]),
    "cloud": st.sampled_from(["aws", "gcp", "azure"]),
    "id": st.from_regex(r"[a-zA-Z0-9-]{0,66}", fullmatch=True),
    "custom_domain": st.one_of(st.none(), st.from_regex(r"[a-zA-Z0-9.-]{0,20}", fullmatch=True)),
    "clouds": st.one_of(st.none(), st.lists(st.sampled_from(["aws", "gcp", "azure", ""]), max_size=3)),
    "regions": st.one_of(st.none(), st.lists(st.sampled_from(sorted(AWS_REGIONS | {"mars-1", "europe-west1"})))),
    "pinned": st.one_of(st.booleans(), st.sampled_from(["yes", "true", 1, 0, None])),
    # A component's lifecycle: git refs, Makefile directories and targets, repositories (no option look-alikes).
    "ref": st.one_of(
        st.sampled_from(["main", "v1.2", "feature/x", "-x", ".x", "a..b", "a" * 200, "a" * 201]), _short_text
    ),
    "directory": st.one_of(st.sampled_from([".", "deploy/honeycomb", "../up", "a//b", ".hidden", "a/"]), _short_text),
    "targets": st.dictionaries(
        st.sampled_from(["cell-bootstrap", "tenant-mirror", "tenant-move"]),
        st.one_of(st.none(), st.sampled_from(["sync", "-n", ".x", "a b", "db/sync"]), _short_text),
        max_size=3,
    ),
    "repository": st.one_of(
        st.sampled_from(
            ["https://github.com/acme/api.git", "git@github.com:acme/api.git", "../api", "--upload-pack=x"]
        ),
        _short_text,
    ),
    **dict.fromkeys(
        ["max_tenants", "max_daily_requests", "bake_minutes", "port", "replicas", "small", "daily_requests"], _numbers
    ),
}
_scalars = st.one_of(st.none(), _numbers, _short_text, st.text(max_size=6))
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "small", "cpu"]), inner),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a document that holds a value."""
    if prefix:
        yield prefix
    children = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in children:
        yield from _paths(value, (*prefix, key))


def _values_by_key(docs: list[Any]) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = {}
    for doc in docs:
        for path in _paths(doc):
            value = doc
            for key in path:
                value = value[key]
            found.setdefault(path[-1], []).append(value)
    return found


#: Valid values seen at each key in the samples: swapping one in mostly keeps a file valid.
SAMPLE_VALUES = {kind: _values_by_key(docs) for kind, docs in SAMPLES.items()}


@st.composite
def registry_files(draw: st.DrawFn, kind: str) -> Any:
    """A sample file with up to three mutations: a value replaced (by a near miss, another sample's
    value or anything at all), a key removed, or an unknown key added."""
    doc = copy.deepcopy(draw(st.sampled_from(SAMPLES[kind])))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        paths = list(_paths(doc))
        if not paths:  # every key deleted already (a tenant file has only two)
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["targeted", "targeted", "swap", "swap", "anything", "delete", "add"]))
        if action == "targeted":
            parent[path[-1]] = draw(FIELD_VALUES.get(str(path[-1]), _values))
        elif action == "swap" and path[-1] in SAMPLE_VALUES[kind]:
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(SAMPLE_VALUES[kind][path[-1]])))
        elif action == "anything":
            parent[path[-1]] = draw(_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["colour", "owner", "folder", "account_id", "tags"]))] = draw(_values)
    # What the loader reads is YAML: dump and parse it back the way `cellctl validate` does.
    return parse_yaml(yaml.safe_dump(doc))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registry_files("cell"))
def test_schema_and_models_agree_on_cell_files(doc):
    assert_agree("cell", doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registry_files("organization"))
def test_schema_and_models_agree_on_organization_files(doc):
    assert_agree("organization", doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registry_files("tenants"))
def test_schema_and_models_agree_on_tenant_files(doc):
    assert_agree("tenants", doc)


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(FIELD_VALUES)), data=st.data())
def test_schema_and_models_agree_on_each_checked_field(field, data):
    """The same, aimed at one rule at a time, in every sample file that has the field."""
    value = data.draw(FIELD_VALUES[field])
    for kind, docs in SAMPLES.items():
        for sample in docs:
            for path in _paths(sample):
                if path[-1] == field:
                    doc = copy.deepcopy(sample)
                    parent = doc
                    for key in path[:-1]:
                        parent = parent[key]
                    if path[0] == "components" and parent[field] == doc.get("routing", {}).get("component", "web"):
                        # routing.component names a component: a rule across fields, which the schema cannot state.
                        doc.setdefault("routing", {})["component"] = value
                    parent[field] = value
                    assert_agree(kind, doc)


# --- what only `cellctl validate` can check ---------------------------------------------------


def _gamma_copies_alpha(d: dict[str, Any]) -> None:
    d.update(account_email="aws+cell-alpha@acme-corp.net")


#: Rules over more than one file or over the whole organization: JSON Schema sees one file at a time
#: (or cannot compare items of a list), so these are the documented exceptions to the agreement.
CROSS_FILE_RULES: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    ("cell file name", "cells/alpha.yaml", lambda d: d.update(name="alpha2"), "must live in alpha2.yaml"),
    ("unique account email", "cells/gamma.yaml", _gamma_copies_alpha, "used by more than one cell"),
    ("unique account id", "cells/gamma.yaml", lambda d: d.update(account_id="210987654321"), "more than one cell"),
    ("shared accounts", "cells/gamma.yaml", lambda d: d.update(account_id="100000000002"), "a shared account"),
    ("CIDR overlap", "cells/gamma.yaml", lambda d: d.update(network={"cidr": "10.32.16.0/20"}), "overlaps cell"),
    ("allowed region", "cells/gamma.yaml", lambda d: d.update(region="ap-southeast-2"), "is not allowed"),
    ("wave exists", "cells/gamma.yaml", lambda d: d.update(wave="prod-late"), "is not defined"),
    ("prod not in first wave", "cells/alpha.yaml", lambda d: d.update(wave="preprod"), "cannot be in the first wave"),
    (
        "access group exists",
        "cells/alpha.yaml",
        lambda d: d.update(access=[{"group": "ghosts", "permission": "admin"}]),
        "is not defined",
    ),
    (
        "override of a known component",
        "cells/alpha.yaml",
        lambda d: d.update(overrides={"cache": {"replicas": 2}}),
        "no application component",
    ),
    (
        "in-network runner inside the cell's network",
        "cells/gamma.yaml",
        lambda d: d.update(deploy={"runner": {"kind": "in-network", "cidrs": ["10.99.0.0/24"]}}),
        "is not inside the cell's network",
    ),
    (
        "runner security group only in an AWS cell",
        "cells/beta.yaml",
        lambda d: d.update(
            deploy={"runner": {"kind": "in-network", "cidrs": ["10.48.1.0/24"], "security_group_id": "sg-0123abcd"}}
        ),
        "is an AWS security group",
    ),
    ("tenants file name", "tenants/gamma.yaml", lambda d: d.update(cell="beta"), "must live in beta.yaml"),
    ("tenants of a known cell", "tenants/gamma.yaml", lambda d: d.update(cell="zeta"), "no cell named 'zeta'"),
    (
        "residency",
        "tenants/alpha.yaml",
        lambda d: d["tenants"][0].update(residency={"regions": ["eu-west-1"]}),
        "may live only in regions eu-west-1",
    ),
    (
        "prod tenants in prod cells",
        "tenants/staging.yaml",
        lambda d: d["tenants"][0].update(environment="prod"),
        "a prod tenant lives only in prod cells",
    ),
    ("unique tenant ids", "tenants/gamma.yaml", lambda d: d["tenants"][0].update(id="acme-bank"), "more than one"),
    (
        "unique custom domains",
        "tenants/gamma.yaml",
        lambda d: d["tenants"][0].update(custom_domain="api.acmebank.com"),
        "more than one tenant",
    ),
    (
        "custom domain outside the cells' domain",
        "tenants/gamma.yaml",
        lambda d: d["tenants"][0].update(custom_domain="x.cells.acme-corp.net"),
        "inside the organization's domain",
    ),
    (
        "a cell's limits",
        "tenants/gamma.yaml",
        lambda d: d["tenants"][0].update(daily_requests=40_000_000),
        "over its limit capacity.max_daily_requests",
    ),
    ("unique wave names", "organization.yaml", lambda d: d["waves"].append(d["waves"][0]), "more than once"),
    (
        "organization access group exists",
        "organization.yaml",
        lambda d: d["access"]["prod"].append({"group": "ghosts", "permission": "admin"}),
        "is not defined in groups",
    ),
    (
        "the serving component exists",
        "organization.yaml",
        lambda d: d.update(routing={"component": "frontend"}),
        "'frontend' is not one of the components",
    ),
    (
        "routing TTLs in order",
        "organization.yaml",
        lambda d: d.update(routing={"ttl_seconds": 600}),
        "ttl_seconds (600) <= max_ttl_seconds (300)",
    ),
]


@pytest.mark.parametrize(("rule", "file", "change", "message"), CROSS_FILE_RULES, ids=[r[0] for r in CROSS_FILE_RULES])
def test_cross_file_rules_are_checked_by_the_loader_alone(registry_copy, edit_yaml, rule, file, change, message):
    edit_yaml(registry_copy / file, change)
    doc = yaml.safe_load((registry_copy / file).read_text())
    kind = "organization" if file == "organization.yaml" else file.split("/")[0].removesuffix("s")
    kind = "tenants" if kind == "tenant" else kind
    assert schema_accepts(kind, doc) and model_accepts(kind, doc), f"{rule}: the schema states it now; update docs"
    with pytest.raises(RegistryError) as info:
        load_registry(registry_copy)
    assert any(message in str(issue) for issue in info.value.issues), info.value.report()


# --- networks written as text: the runner's addresses ------------------------------------------


def _runner(runner: dict[str, Any]) -> dict[str, Any]:
    return organization(lambda d: d.update(deploy={"runner": runner}))


@pytest.mark.parametrize(
    ("cidr", "accepted"),
    [
        ("203.0.113.16/28", True),
        ("8.8.8.0/24", True),
        ("100.128.0.0/9", True),  # next to shared address space, not in it
        ("us-east-1", False),
        ("203.0.113.17/28", False),  # host bits
        ("203.0.113.0", False),  # ipaddress reads this as a /32; the schema and a reader do not
        ("203.0.113.0/255.255.255.0", False),
        ("0.0.0.0/0", False),
        ("8.0.0.0/7", False),  # wider than a /8
        ("10.1.0.0/16", False),
        ("100.64.0.0/9", False),  # a supernet of shared address space (100.64.0.0/10)
        ("172.31.255.0/24", False),
        ("192.0.0.0/22", False),  # contains 192.0.0.0/24
        ("198.19.0.0/16", False),
        ("239.1.0.0/16", False),
        ("255.255.255.255/32", False),
    ],
)
def test_ci_egress_cidrs_are_public_networks_in_schema_and_models(cidr: str, accepted: bool) -> None:
    doc = _runner({"kind": "ci", "egress_cidrs": [cidr]})
    assert assert_agree("organization", doc) is accepted


@pytest.mark.parametrize(("cidr", "accepted"), [("10.32.4.0/24", True), ("10.32.4.1/24", False), ("eu-west-1", False)])
def test_in_network_cidrs_are_networks_in_schema_and_models(cidr: str, accepted: bool) -> None:
    doc = _runner({"kind": "in-network", "cidrs": [cidr]})
    assert assert_agree("organization", doc) is accepted
