"""Typed models of the cell registry.

Scope: the shape of the organization file and of one cell file, plus values derived from
them (stack name, DNS zone, tags). Rules that need more than one file at a time (unique
names, overlapping CIDRs, waves that exist) live in `cells.loader`. No Pulumi import here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import Strict as NoCoercion

from cells.deploy import CiRunner, Deploy, InNetworkRunner, needs_agent_pool
from cells.regions import KNOWN_REGIONS
from cells.rules import Pattern, Rule

MANAGED_BY = "honeycomb"

# Every regular expression here is anchored (`^...$`) and written with explicit ASCII classes (no
# `\d`, `\w`, `\s`, no `.` outside a class), so it means the same to pydantic, to Python's `re`
# and to the ECMA-262 dialect that JSON Schema (and so an editor) uses.


@dataclass(frozen=True)
class KnownRegion(Rule):
    """A region of one cloud, from `cells.regions`."""

    cloud: Literal["aws", "gcp"]

    def check(self, value: str) -> str:
        if value not in KNOWN_REGIONS[self.cloud]:
            raise ValueError(f"unknown {self.cloud} region {value!r}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"enum": sorted(KNOWN_REGIONS[self.cloud])}


def _whole_number(value: Any) -> Any:
    # `400.0` is the number 400 to YAML and to a JSON Schema validator alike; `true` and "400" are not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: An integer as a registry file writes it: no booleans, no numbers in quotes.
Integer = Annotated[int, NoCoercion(), BeforeValidator(_whole_number)]

DnsLabel = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"),
    Field(description="A lowercase DNS label: letters, digits and hyphens, at most 32 characters."),
]
AccountId = Annotated[
    str,
    Pattern(r"^[0-9]{12}$", "{value!r} is not an AWS account id (12 digits, quoted in YAML)"),
    Field(description="A 12-digit AWS account id."),
]
Email = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
    ),
    Field(json_schema_extra={"format": "email"}),
]
#: Google's rule for project ids: 6-30 characters, a lowercase letter first, no trailing hyphen.
ProjectId = Annotated[
    str,
    Pattern(
        r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        "{value!r} is not a valid GCP project id: 6-30 characters of lowercase letters, digits "
        "and hyphens, starting with a letter and not ending with a hyphen",
    ),
    Field(description="GCP project id: 6-30 characters, lowercase, starts with a letter."),
]
AwsRegion = Annotated[str, KnownRegion("aws")]
GcpRegion = Annotated[str, KnownRegion("gcp")]


#: The stack that owns the tenants' names and the router (`stacks.routing`).
ROUTING_STACK = "routing"


class Strict(BaseModel):
    """Base of every registry model: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Environment(StrEnum):
    prod = "prod"
    preprod = "preprod"
    dev = "dev"


class Size(StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


class Permission(StrEnum):
    read_only = "read-only"
    cell_operator = "cell-operator"
    admin = "admin"


T = TypeVar("T")


class PerSize(Strict, Generic[T]):
    """One value per cell size."""

    small: T
    medium: T
    large: T

    def __getitem__(self, size: Size | str) -> T:
        value: T = getattr(self, str(size))
        return value


class NodeSizing(Strict):
    min: int = Field(ge=1)
    desired: int = Field(ge=1)
    max: int = Field(ge=1)
    instance_type: str = Field(description="AWS instance type of the cell's nodes.")
    machine_type: str = Field(description="GCP machine type of the cell's nodes.")

    @model_validator(mode="after")
    def _ordered(self) -> NodeSizing:
        if not self.min <= self.desired <= self.max:
            raise ValueError(
                f"node counts must satisfy min <= desired <= max, got {self.min}/{self.desired}/{self.max}"
            )
        return self


#: Node pools per cell size; the one place where `size` turns into machines.
NODE_SIZING: dict[Size, NodeSizing] = {
    Size.small: NodeSizing(min=2, desired=3, max=4, instance_type="m6i.large", machine_type="e2-standard-2"),
    Size.medium: NodeSizing(min=3, desired=4, max=8, instance_type="m6i.xlarge", machine_type="e2-standard-4"),
    Size.large: NodeSizing(min=6, desired=8, max=16, instance_type="m6i.2xlarge", machine_type="e2-standard-8"),
}


# --- organization -------------------------------------------------------------------------


GithubSubject = Annotated[
    str,
    Pattern(
        r"^(ref:refs/(heads|tags)/[A-Za-z0-9._/*-]+|environment:[A-Za-z0-9._*-]+|pull_request)$",
        "{value!r} is not a GitHub OIDC subject: ref:refs/heads/<branch>, ref:refs/tags/<tag>, "
        "environment:<name> or pull_request",
    ),
]


class GithubActions(Strict):
    """CI on GitHub Actions: the repository's workflows become the CI role through OIDC, no keys."""

    repository: Annotated[
        str,
        Pattern(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", "{value!r} is not a GitHub owner/name"),
    ] = Field(description="owner/name of the repository whose workflows deploy.")
    subjects: list[GithubSubject] = Field(
        default_factory=lambda: ["ref:refs/heads/main"],
        min_length=1,
        description="What may deploy, as the OIDC `sub` claim after `repo:<owner>/<name>:` "
        "(ref:refs/heads/<branch>, ref:refs/tags/<tag>, environment:<name>, pull_request).",
    )


class AwsOrganization(Strict):
    management_account_id: AccountId
    monitoring_account_id: AccountId = Field(description="Holds the central CloudWatch observability sinks.")
    dns_account_id: AccountId = Field(description="Holds the parent Route53 zone of every cell's zone.")
    parent_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{1,31}$", description="Route53 id of the parent zone.")
    sso_instance_arn: str = Field(pattern=r"^arn:aws:sso:::instance/ssoins-[0-9a-f]{16}$")
    identity_store_id: str = Field(pattern=r"^d-[0-9a-f]{10}$")
    access_role_name: str = Field(default="OrganizationAccountAccessRole", pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")
    dns_delegation_role_name: str = Field(default="honeycomb-dns-delegation", pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")
    allowed_regions: list[AwsRegion] = Field(min_length=1)
    github_actions: GithubActions | None = Field(
        default=None,
        description="CI's identity (the default path): GitHub Actions OIDC. Without it the management "
        "stack needs `ciPrincipalArns`.",
    )


class GcpOrganization(Strict):
    organization_id: str = Field(pattern=r"^[0-9]{6,20}$")
    billing_account: str = Field(pattern=r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
    monitoring_project: ProjectId = Field(description="Scoping project of the central metrics scope.")
    allowed_regions: list[GcpRegion] = Field(min_length=1)


class Wave(Strict):
    name: DnsLabel
    bake_minutes: Integer = Field(ge=0, le=24 * 60, description="How long to watch health before the next wave.")


class Group(Strict):
    name: str = Field(min_length=1, description="Display name of the IAM Identity Center group.")
    email: Email = Field(description="The same group in Google Workspace / Cloud Identity, for GCP IAM.")


class AccessRule(Strict):
    group: str
    permission: Permission


#: An OCI image tag (ASCII only).
_IMAGE_TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
#: An image pinned by a tag other than `latest` (after the last ':', no '/') or by a sha256 digest.
_IMAGE = (
    r"^[A-Za-z0-9][A-Za-z0-9._/:-]*"
    r"(:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[0-9a-f]{64})$"
)


class ResourceSpec(Strict):
    cpu: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?m?$")
    memory: str = Field(pattern=r"^[0-9]+(Ki|Mi|Gi)$")


class LifecycleTarget(StrEnum):
    """The standardized Makefile targets Honeycomb calls on an application component (`cellctl.lifecycle`)."""

    cell_bootstrap = "cell-bootstrap"  # after a cell's stack is up (`cellctl bootstrap`)
    tenant_mirror = "tenant-mirror"  # a move: copy the tenant's data from source to destination
    tenant_verify = "tenant-verify"  # a move: the destination serves the tenant correctly
    tenant_cleanup = "tenant-cleanup"  # a move, after its grace period: release the source's copy


#: A make target: no leading '-' (it would be read as an option), no spaces.
MakeTarget = Annotated[
    str,
    Pattern(
        r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}$",
        "{value!r} is not a make target: up to 128 letters, digits, '_', '.', '/' and '-', not starting "
        "with '-' or '.'",
    ),
]
#: Where a component's repository is: a git URL (https://, ssh://, file://, user@host:path) or a path.
Repository = Annotated[
    str,
    Pattern(
        r"^[A-Za-z0-9_./~@+][A-Za-z0-9_./~@:+%=-]{0,499}$",
        "{value!r} is not a repository: a git URL (https://, ssh://, file://, user@host:path) or a path, "
        "without spaces and not starting with '-'",
    ),
]
#: A branch, tag or commit: a safe subset of git's ref names (no leading '-' or '.', no '..').
Ref = Annotated[
    str,
    Pattern(
        r"^(?![A-Za-z0-9_./-]*[.][.])[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$",
        "{value!r} is not a branch, tag or commit: letters, digits, '_', '.', '/' and '-', not starting with "
        "'-' or '.', without '..'",
    ),
]


class Lifecycle(Strict):
    """Where an application component's lifecycle targets live and what they are called (`cellctl.lifecycle`)."""

    repository: Repository = Field(
        description="The component's git repository: a URL (https://, ssh://, file://, user@host:path) or a path "
        "(a relative one from the Honeycomb project directory).",
    )
    ref: Ref = Field(default="main", description="Branch, tag or commit to check out (a branch is fetched anew).")
    directory: str = Field(
        default=".",
        pattern=r"^(\.|[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*)$",
        description="Directory of the Makefile inside the repository: relative, no segment starting with a dot.",
    )
    targets: dict[LifecycleTarget, MakeTarget | None] = Field(
        default_factory=dict,
        description="The make target for each standard target. One not listed is called by its standard name; "
        "null says the component has nothing to do for it (reported, never called).",
    )

    def make_target(self, target: LifecycleTarget) -> str | None:
        """The make target for `target`: the one declared, its standard name when none is, None when declared null."""
        return self.targets[target] if target in self.targets else str(target)


class AppComponent(Strict):
    """A workload of the application that every cell runs."""

    name: DnsLabel
    image: str = Field(
        description="Repository and tag (or digest); never `latest`.", json_schema_extra={"pattern": _IMAGE}
    )
    port: Integer = Field(ge=1, le=65535)
    replicas: PerSize[Integer]
    resources: PerSize[ResourceSpec] = Field(
        default_factory=lambda: PerSize[ResourceSpec](
            small=ResourceSpec(cpu="250m", memory="256Mi"),
            medium=ResourceSpec(cpu="500m", memory="512Mi"),
            large=ResourceSpec(cpu="1", memory="1Gi"),
        )
    )
    health_path: str = Field(default="/healthz", pattern=r"^/")
    lifecycle: Lifecycle | None = Field(
        default=None,
        description="The component's repository and its lifecycle targets (cell-bootstrap, tenant-mirror, "
        "tenant-verify, tenant-cleanup). Without it a move refuses to run, as nothing says its data is safe.",
    )

    @field_validator("image")
    @classmethod
    def _pinned(cls, image: str) -> str:
        return _check_image(image)


def _check_image(image: str) -> str:
    if re.fullmatch(_IMAGE, image):
        return image
    repo, sep, tag = image.rpartition(":")
    if "@" not in image and (not sep or "/" in tag or not repo):
        raise ValueError(f"image {image!r} has no tag: pin it by tag or digest")
    if tag == "latest":
        raise ValueError(f"image {image!r} uses the `latest` tag: pin it by tag or digest")
    raise ValueError(
        f"image {image!r} is not a pinned image reference: repository:tag (a tag of up to 128 letters, digits, "
        "'_', '.' and '-') or repository@sha256:<64 hex digits>"
    )


def replica_bucket(bucket: str, region: str) -> str:
    """The published registry's copy in `region` (`<bucket>-<region>`), the name the client derives too."""
    return f"{bucket}-{region}"


class RegistryTarget(Strict):
    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="The primary, in the first AWS region; every region with AWS cells reads <bucket>-<region>.",
    )
    key: str = Field(default="registry.json", min_length=1)

    def replica(self, region: str) -> str:
        return replica_bucket(self.bucket, region)


class CapacityPolicy(Strict):
    """The organization's sizing rule: keep every cell this far under its limits (`cells.tenants`)."""

    headroom_percent: Integer = Field(
        default=15,
        ge=0,
        le=90,
        description="How far under its limits a cell should stay (a warning past that line); also how much "
        "the cell count is inflated when sizing.",
    )


class Routing(Strict):
    """How tenants are reached (`cells.routes`): the routing stack's names, TTLs and the router's host."""

    host: DnsLabel = Field(
        default="app", description="The thin router's host label: browsers reach it at <host>.<domain>."
    )
    component: DnsLabel = Field(
        default="web",
        description="The application component that serves tenants: a tenant's origin is <component>.<cell>.<domain>.",
    )
    ttl_seconds: Integer = Field(default=60, ge=1, description="TTL of each tenant's record.")
    max_ttl_seconds: Integer = Field(
        default=300, ge=1, description="The most any tenant record may have (a policy checks the routing stack)."
    )
    moving_ttl_seconds: Integer = Field(
        default=5, ge=1, description="The TTL a tenant's record is lowered to while the tenant moves."
    )


class DeploymentsGcpOidc(Strict):
    """Workload identity federation that lets Pulumi Deployments act as a GCP service account (set up once)."""

    project_number: str = Field(pattern=r"^[0-9]{6,20}$", description="Number of the project holding the pool.")
    workload_pool_id: str = Field(pattern=r"^[a-z0-9-]{4,32}$", description="The workload identity pool's id.")
    provider_id: str = Field(
        pattern=r"^[a-z0-9-]{4,32}$", description="The pool's OIDC provider trusting https://api.pulumi.com/oidc."
    )
    service_account: str = Field(
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$",
        description="Email of the service account deployments impersonate.",
    )


class PulumiDeployments(Strict):
    """Pulumi Deployments for the organization: where `cellctl rollout --runner deployments` runs stack updates.

    The management stack turns it into each stack's deployment settings (`pulumiservice.DeploymentSettings`).
    """

    organization: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", description="The Pulumi Cloud organization that owns the stacks."
    )
    repository: str = Field(
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/-]+?(\.git)?$",
        description="HTTPS clone URL of the repository the agents check the project out of.",
    )
    repo_dir: str = Field(
        default=".",
        pattern=r"^(\.|[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*)$",
        description="Directory of Pulumi.yaml inside the repository: relative, no segment starting with a dot.",
    )
    branch: str = Field(
        default="main",
        pattern=r"^[A-Za-z0-9._/-]{1,200}$",
        description="What a deployment started outside cellctl deploys; a rollout pins its own commit.",
    )
    concurrency: Integer = Field(
        default=25, ge=1, le=1000, description="Deployments at once within a wave (the organization's concurrency)."
    )
    gcp: DeploymentsGcpOidc | None = Field(
        default=None, description="How deployments of GCP cells get credentials; required when there are GCP cells."
    )
    agent_image: str | None = Field(
        default=None,
        description="The customer-managed agent image (pinned, never `latest`) a cell runs for its agent pool; "
        "required when a cell needs one (cells.deploy.needs_agent_pool).",
        json_schema_extra={"pattern": _IMAGE},
    )

    @field_validator("agent_image")
    @classmethod
    def _pinned(cls, image: str | None) -> str | None:
        return None if image is None else _check_image(image)


class Organization(Strict):
    name: DnsLabel
    domain: str = Field(
        pattern=r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$",
        description="Parent DNS domain; cells get <cell>.<domain>.",
    )
    aws: AwsOrganization
    gcp: GcpOrganization
    waves: list[Wave] = Field(min_length=1, description="Rollout order; the first wave is pre-production.")
    groups: list[Group] = Field(default_factory=list)
    access: dict[Environment, list[AccessRule]] = Field(default_factory=dict)
    components: list[AppComponent] = Field(default_factory=list)
    registry: RegistryTarget
    deploy: Deploy = Field(description="Where stack updates run, unless a cell says otherwise (cells.deploy).")
    capacity: CapacityPolicy = Field(default_factory=CapacityPolicy)
    routing: Routing = Field(default_factory=Routing, description="Tenant names and the router (`cells.routes`).")
    pulumi_deployments: PulumiDeployments | None = Field(
        default=None,
        description="Pulumi Deployments (`cellctl rollout --runner deployments`); without it only the local runner.",
    )

    def wave_index(self, name: str) -> int:
        return [w.name for w in self.waves].index(name)

    def group(self, name: str) -> Group:
        return next(g for g in self.groups if g.name == name)

    def component(self, name: str) -> AppComponent:
        return next(c for c in self.components if c.name == name)


# --- cells ----------------------------------------------------------------------------------


#: The private (RFC 1918) ranges a cell's network comes from, and the prefix lengths a cell may have.
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
CELL_PREFIXES = range(16, 21)


def _cell_cidr_regex() -> str:
    """Every network `Network.cidr` accepts, in canonical form, as one regular expression.

    Each private range is a /16 or larger and a cell a /16 or smaller, so the range fixes the
    first two octets and the prefix length the third (a multiple of the block size); the fourth is 0.
    """
    octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    heads = []
    for private in PRIVATE_RANGES:
        first, second = private.network_address.packed[:2]
        count = 2 ** (16 - private.prefixlen)
        seconds = octet if count == 256 else "|".join(str(second + i) for i in range(count))
        heads.append(f"{first}\\.({seconds})")
    tails = ["(" + "|".join(str(n) for n in range(0, 256, 2 ** (24 - p))) + f")\\.0/{p}" for p in CELL_PREFIXES]
    return f"^({'|'.join(heads)})\\.({'|'.join(tails)})$"


CELL_CIDR = _cell_cidr_regex()


class Network(Strict):
    cidr: ipaddress.IPv4Network = Field(
        description="The cell's private (RFC 1918) address space, /16 to /20, written canonically.",
        json_schema_extra={"pattern": CELL_CIDR},
    )

    @field_validator("cidr", mode="before")
    @classmethod
    def _cell_network(cls, value: Any) -> ipaddress.IPv4Network:
        text = str(value) if isinstance(value, ipaddress.IPv4Network) else value
        if not isinstance(text, str) or "/" not in text:
            raise ValueError(f"{text!r} is not a CIDR block: write address/prefix, such as 10.32.0.0/16")
        try:
            cidr = ipaddress.IPv4Network(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an IPv4 CIDR block: {exc}") from None
        if cidr.prefixlen not in CELL_PREFIXES:
            raise ValueError(f"{cidr} is a /{cidr.prefixlen}: a cell needs a /16 to /20")
        if not any(cidr.subnet_of(private) for private in PRIVATE_RANGES):
            raise ValueError(f"{cidr} is not a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)")
        if str(cidr) != text:
            raise ValueError(f"write {text!r} as {cidr}")
        return cidr


class Capacity(Strict):
    max_tenants: Integer = Field(ge=1)
    max_daily_requests: Integer = Field(ge=1)


class ComponentOverride(Strict):
    """Per-cell override of an application component, for staged rollouts."""

    # The schema's form of `_not_empty`: at least one of the two, and not null.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["image_tag"], "properties": {"image_tag": {"type": "string"}}},
                {"required": ["replicas"], "properties": {"replicas": {"type": "integer"}}},
            ]
        }
    )

    image_tag: str | None = Field(
        default=None,
        description="Replaces the tag or digest of the component's image.",
        json_schema_extra={"pattern": _IMAGE_TAG, "not": {"const": "latest"}},
    )
    # Bounds inside the Annotated: on an optional field they would not reach the schema otherwise.
    replicas: Annotated[int, Field(ge=1, le=100), NoCoercion(), BeforeValidator(_whole_number)] | None = Field(
        default=None, description="Replaces the replicas of the cell's size."
    )

    @field_validator("image_tag")
    @classmethod
    def _not_latest(cls, tag: str | None) -> str | None:
        if tag is not None and not re.fullmatch(_IMAGE_TAG, tag):
            raise ValueError(
                f"{tag!r} is not an image tag: up to 128 letters, digits, '_', '.' and '-', not starting with "
                "'.' or '-' (a tag only, without the repository, ':' or a digest)"
            )
        if tag == "latest":
            raise ValueError("image tag `latest` is not allowed: pin a version")
        return tag

    @model_validator(mode="after")
    def _not_empty(self) -> ComponentOverride:
        if self.image_tag is None and self.replicas is None:
            raise ValueError("an override must set image_tag, replicas or both (remove it to use the defaults)")
        return self


class CellBase(Strict):
    # The schema's form of `_dev_cell_has_owner`.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"environment": {"const": "dev"}}, "required": ["environment"]},
            "then": {"required": ["owner"], "properties": {"owner": {"type": "string"}}},
        }
    )

    name: DnsLabel = Field(description="The cell's name; its stack is cell-<name>.")
    environment: Environment
    region: str
    wave: str
    size: Size
    network: Network
    capacity: Capacity
    owner: Email | None = Field(
        default=None, validate_default=True, description="Required for a dev cell: gets admin there."
    )
    access: list[AccessRule] = Field(default_factory=list, description="Grants on top of the environment's rules.")
    overrides: dict[str, ComponentOverride] = Field(default_factory=dict)
    deploy: Deploy | None = Field(
        default=None, description="Where this cell's updates run (default: the organization's)."
    )

    @field_validator("owner")
    @classmethod
    def _dev_cell_has_owner(cls, owner: str | None, info: ValidationInfo) -> str | None:
        if owner is None and info.data.get("environment") == Environment.dev:
            raise ValueError("a dev cell needs an owner (the email that gets admin there)")
        return owner

    @property
    def stack_name(self) -> str:
        return f"cell-{self.name}"

    @property
    def tags(self) -> dict[str, str]:
        """The tags (AWS) and labels (GCP) every taggable resource of the cell carries."""
        return {"cell": self.name, "environment": str(self.environment), "managed-by": MANAGED_BY}

    @property
    def sizing(self) -> NodeSizing:
        return NODE_SIZING[self.size]

    def zone_name(self, domain: str) -> str:
        return f"{self.name}.{domain}"

    def endpoint(self, component: str, domain: str) -> str:
        return f"{component}.{self.zone_name(domain)}"


class AwsCell(CellBase):
    cloud: Literal["aws"]
    region: AwsRegion
    account_email: Email = Field(
        max_length=64,  # Organizations CreateAccount: 6 to 64 characters
        description="Root email of the cell's AWS account; unique in the organization.",
    )
    account_id: AccountId | None = Field(default=None, description="Pin an existing account instead of creating one.")


class GcpCell(CellBase):
    cloud: Literal["gcp"]
    region: GcpRegion
    project_id: ProjectId
    folder: str | None = Field(default=None, pattern=r"^folders/[0-9]+$")


Cell = Annotated[AwsCell | GcpCell, Field(discriminator="cloud")]
CELL_ADAPTER: TypeAdapter[AwsCell | GcpCell] = TypeAdapter(Cell)


class Registry(Strict):
    """The organization, its cells and their tenants: the one source of truth."""

    organization: Organization
    cells: list[Cell]
    tenants: list[Tenant] = Field(default_factory=list)

    def cell(self, name: str) -> AwsCell | GcpCell:
        for cell in self.cells:
            if cell.name == name:
                return cell
        known = ", ".join(sorted(c.name for c in self.cells)) or "none"
        raise UnknownCellError(f"no cell named {name!r} in the registry (known cells: {known})")

    def find_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant with this id, or None: callers word their own error (a file, a journal, a flag)."""
        return next((t for t in self.tenants if t.id == tenant_id), None)

    @property
    def aws_cells(self) -> list[AwsCell]:
        return [c for c in self.cells if isinstance(c, AwsCell)]

    @property
    def gcp_cells(self) -> list[GcpCell]:
        return [c for c in self.cells if isinstance(c, GcpCell)]

    @property
    def stack_names(self) -> list[str]:
        """Every stack, in bootstrap order: management, the cells, then routing (its records name the cells' hosts)."""
        return ["management", *sorted(c.stack_name for c in self.cells), ROUTING_STACK]

    def zone_name(self, cell: CellBase) -> str:
        return cell.zone_name(self.organization.domain)

    def runner_for(self, cell: CellBase) -> CiRunner | InNetworkRunner:
        """Where the cell's stack updates run: its own runner, else the organization's."""
        return (cell.deploy or self.organization.deploy).runner

    def agent_pool_cells(self) -> list[AwsCell]:
        """Cells whose Pulumi Deployments run on agents inside their own network (`cells.deploy.needs_agent_pool`)."""
        return [
            c
            for c in self.aws_cells
            if needs_agent_pool(self.runner_for(c), cloud=str(c.cloud), environment=str(c.environment))
        ]

    def access_for(self, cell: CellBase) -> list[AccessRule]:
        """Access rules that apply to a cell: its environment's plus its own (order kept, no repeats)."""
        rules = [*self.organization.access.get(cell.environment, []), *cell.access]
        return list(dict.fromkeys(rules))

    def waves(self) -> list[tuple[Wave, list[AwsCell | GcpCell]]]:
        """Waves in rollout order with their cells (sorted by name)."""
        return [
            (wave, sorted((c for c in self.cells if c.wave == wave.name), key=lambda c: c.name))
            for wave in self.organization.waves
        ]


class UnknownCellError(LookupError):
    pass


# Tenants build on the types above; imported last so that `Registry` can hold them.
from cells.tenants import Tenant  # noqa: E402

Registry.model_rebuild()
