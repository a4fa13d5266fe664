"""Where a provider points: the one reading of AWS, GCP and Kubernetes provider settings.

Every rule that asks "which account, project, region or cluster does this land in" asks here,
so typed args, plain dicts (snake_case or camelCase), nested `assumeRoles`/`assumeRole` and
default providers configured from stack config are read the same way (the settings arrive
normalized by `policies.base.provider_settings`). A setting that is present but cannot be read
becomes a problem ("cannot verify ..."), never a pass; a value unknown during a preview makes
the target `unknown`, which rules skip.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from policies.base import UNKNOWN, Provider, arn_account, as_list

_ARN_ROLE = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/.+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_EKS_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d)\.eks\.amazonaws\.com(?::\d+)?$")
_GKE_HOST = re.compile(r"\.([a-z]+-[a-z]+\d)\.gke\.goog(?::\d+)?$")
_GKE_NAME = re.compile(r"^gke_([a-z][a-z0-9-]{4,28}[a-z0-9])_([a-z]+-[a-z]+\d(?:-[a-z])?)_(.+)$")
_GCP_LOCATION = re.compile(r"^([a-z]+-[a-z]+\d)(?:-[a-z])?$")


@dataclass(frozen=True)
class Target:
    """What a provider targets. Empty strings are never used: a field is a value or None."""

    #: AWS: the account the provider acts in (its last assumed role's), and every role it assumes.
    account: str | None = None
    roles: tuple[str, ...] = ()
    #: AWS: `allowedAccountIds`, the accounts the provider refuses to leave.
    allowed_accounts: tuple[str, ...] | None = None
    #: GCP: the project; Kubernetes on GKE: the cluster's project.
    project: str | None = None
    #: The region (AWS, GCP; for a zone, its region; for a cluster, the cluster's).
    region: str | None = None
    #: Kubernetes: the cluster's name and its API server.
    cluster: str | None = None
    server: str | None = None
    #: A deciding value is unknown during a preview: judge on the next run.
    unknown: bool = False
    #: Why a present setting cannot be read ("cannot verify" findings).
    problems: tuple[str, ...] = ()


def _strings(value: Any, what: str, problems: list[str]) -> tuple[list[str], bool]:
    """A list of strings from a setting; problems for other shapes; True when an item is unknown."""
    if value is UNKNOWN:
        return [], True
    if isinstance(value, str):
        problems.append(f"{what} is {value!r}, not a list (invalid JSON?)")
        return [], False
    items, unknown = [], False
    for item in as_list(value):
        if item is UNKNOWN:
            unknown = True
        elif isinstance(item, str | int) and not isinstance(item, bool):
            items.append(str(item))
        else:
            problems.append(f"{what} holds {item!r}, not an id")
    return items, unknown


def aws_target(provider: Provider) -> Target:
    problems: list[str] = []
    unknown = False
    roles: list[str] = []
    for key in ("assumeRoles", "assumeRole"):
        value = provider.props.get(key)
        if value is None:
            continue
        if value is UNKNOWN:
            unknown = True
            continue
        if isinstance(value, str):
            problems.append(f"{key} is {value[:80]!r}, which is not a JSON object or list")
            continue
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if entry is UNKNOWN:
                unknown = True
            elif not isinstance(entry, dict):
                problems.append(f"{key} holds {entry!r}, not an object with a roleArn")
            elif "roleArn" not in entry:
                problems.append(f"{key} entry has no roleArn (it has {', '.join(map(str, entry)) or 'no keys'})")
            elif entry["roleArn"] is UNKNOWN:
                unknown = True
            elif not isinstance(entry["roleArn"], str) or not _ARN_ROLE.match(entry["roleArn"]):
                problems.append(f"{key} roleArn {entry['roleArn']!r} is not an IAM role ARN")
            else:
                roles.append(entry["roleArn"])
    allowed_value = provider.props.get("allowedAccountIds")
    allowed: tuple[str, ...] | None = None
    if allowed_value is not None:
        ids, some_unknown = _strings(allowed_value, "allowedAccountIds", problems)
        unknown = unknown or some_unknown
        bad = [a for a in ids if not _ACCOUNT.match(a)]
        problems.extend(f"allowedAccountIds holds {a!r}, not a 12-digit account id" for a in bad)
        allowed = tuple(a for a in ids if _ACCOUNT.match(a))
    region = provider.props.get("region")
    if region is UNKNOWN:
        unknown = True
        region = None
    elif region is not None and not isinstance(region, str):
        problems.append(f"region is {region!r}, not a region name")
        region = None
    account = arn_account(roles[-1]) if roles else None
    if account is None and allowed is not None and len(allowed) == 1:
        account = allowed[0]
    return Target(
        account=account,
        roles=tuple(roles),
        allowed_accounts=allowed,
        region=region or None,
        unknown=unknown,
        problems=tuple(problems),
    )


def gcp_target(provider: Provider) -> Target:
    problems: list[str] = []
    unknown = False
    values: dict[str, str | None] = {}
    for key in ("project", "region", "zone"):
        value = provider.props.get(key)
        if value is UNKNOWN:
            unknown = True
            value = None
        elif value is not None and not isinstance(value, str):
            problems.append(f"{key} is {value!r}, not a name")
            value = None
        values[key] = value or None
    region = values["region"]
    if region is None and values["zone"] is not None:
        found = _GCP_LOCATION.match(values["zone"])
        region = found.group(1) if found else None
        if found is None:
            problems.append(f"zone {values['zone']!r} is not a GCP zone")
    return Target(project=values["project"], region=region, unknown=unknown, problems=tuple(problems))


@functools.lru_cache(maxsize=64)
def _parse_kubeconfig(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """A kubeconfig's document (JSON or YAML), or why it is not one."""
    try:
        document = json.loads(text) if text.lstrip()[:1] == "{" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        return None, f"the kubeconfig does not parse ({type(exc).__name__})"
    if not isinstance(document, dict) or "clusters" not in document:
        what = "a file path" if isinstance(document, str) and "\n" not in text else "not a kubeconfig document"
        return None, f"kubeconfig is {what}; the pack reads only inline kubeconfig contents"
    return document, None


def _named(document: dict[str, Any], section: str, name: Any) -> dict[str, Any] | None:
    for entry in as_list(document.get(section)):
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(section.rstrip("s"))
            return inner if isinstance(inner, dict) else None
    return None


def _flag(args: list[Any], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        for name in names:
            following = args[i + 1] if i + 1 < len(args) else None
            if arg == name and isinstance(following, str):
                return following
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def kubernetes_target(provider: Provider) -> Target:
    """The cluster a Kubernetes provider talks to, from its inline kubeconfig (and `context`/`cluster`)."""
    kubeconfig = provider.props.get("kubeconfig")
    chosen_context, chosen_cluster = provider.props.get("context"), provider.props.get("cluster")
    if UNKNOWN in (kubeconfig, chosen_context, chosen_cluster):
        return Target(unknown=True)
    if kubeconfig is None:
        return Target(problems=("the provider has no kubeconfig, so it uses the ambient ~/.kube/config or KUBECONFIG",))
    document: dict[str, Any] | None
    if isinstance(kubeconfig, dict):
        document, problem = kubeconfig, None
    elif isinstance(kubeconfig, str):
        document, problem = _parse_kubeconfig(kubeconfig)
    else:
        document, problem = None, f"kubeconfig is a {type(kubeconfig).__name__}"
    if document is None:
        return Target(problems=(problem or "the kubeconfig cannot be read",))
    context_name = chosen_context or document.get("current-context")
    context = _named(document, "contexts", context_name)
    if context is None:
        return Target(problems=(f"the kubeconfig has no context {context_name!r}",))
    cluster_name = chosen_cluster or context.get("cluster")
    cluster = _named(document, "clusters", cluster_name)
    user = _named(document, "users", context.get("user")) or {}
    server = cluster.get("server") if cluster else None
    if not isinstance(server, str):
        return Target(problems=(f"the kubeconfig's cluster {cluster_name!r} has no server",))
    host = server.split("://", 1)[-1].split("/", 1)[0]
    exec_ = user.get("exec")
    args = as_list(exec_.get("args")) if isinstance(exec_, dict) else []
    if eks := _EKS_HOST.search(host):
        name = _flag(args, "--cluster-name", "-i", "--cluster-id")
        region = _flag(args, "--region") or eks.group(1)
        role = _flag(args, "--role-arn", "-r")
        problems = []
        if name is None:
            problems.append(f"the kubeconfig's user for {server} names no EKS cluster (--cluster-name)")
        if region != eks.group(1):
            problems.append(f"the kubeconfig gets a token in {region} for a cluster in {eks.group(1)}")
        if role is None:
            problems.append("the kubeconfig's token comes from ambient AWS credentials (no --role-arn)")
        account = arn_account(role) if role else None
        return Target(
            account=account,
            roles=(role,) if role else (),
            region=eks.group(1),
            cluster=name,
            server=server,
            problems=tuple(problems),
        )
    gke = _GKE_NAME.match(str(cluster_name or "")) or _GKE_NAME.match(str(context_name or ""))
    if gke is not None:
        location = _GCP_LOCATION.match(gke.group(2))
        region = location.group(1) if location else None
        problems = []
        if (dns := _GKE_HOST.search(host)) and dns.group(1) != region:
            problems.append(f"the kubeconfig names a cluster in {region} but its server {host} is in {dns.group(1)}")
        return Target(
            project=gke.group(1), region=region, cluster=gke.group(3), server=server, problems=tuple(problems)
        )
    return Target(
        server=server,
        problems=(
            f"the kubeconfig's server {host} is neither an EKS endpoint nor a GKE cluster named "
            "gke_<project>_<location>_<cluster>, so its cluster cannot be identified",
        ),
    )


def target(provider: Provider) -> Target:
    """The target of an AWS, GCP or Kubernetes provider (others: an empty target)."""
    reader = {"aws": aws_target, "gcp": gcp_target, "kubernetes": kubernetes_target}.get(provider.package)
    return reader(provider) if reader else Target()
