"""Bootstrap order across stacks: nothing in a stack may name what only a later stack creates.

`cellctl bootstrap` runs the management stack, then the cells wave by wave
(`cellctl.rollout.plan.bootstrap_plan`). A first `pulumi up` fails when a stack names an
identity or resource that does not exist yet: GCP rejects an IAM grant to a service account
that does not exist ("Service account ... does not exist"), IAM rejects a trust or resource
policy whose principal is an unknown role ("Invalid principal in policy"), and a provider cannot
assume a role nobody has made. So, per planned stack, this module collects what the stack
creates (ARNs; GCP service account and service agent emails; the access role an
`aws.organizations.Account` gets) and every such identity its inputs name (members of grants,
principals in policy documents, roles providers assume, Helm values...), then compares them
with the bootstrap order (in IAM policy documents only principals count: `Resource` and
`Condition` may name what does not exist yet):

- named, and created only by a later stack (or another stack of the same wave, which runs at
  the same time): a finding on the naming resource, naming both stacks and the identity;
- named and created in the same stack, but the naming resource does not wait for the creator
  (through an input or `depends_on`): the engine may create them in either order;
- a GCP service agent (`service-<number>@…`), or a service account in a cell's project, that
  no stack creates, when every stack is planned: GCP makes service agents lazily, so they are
  created explicitly (`gcp.projects.ServiceIdentity`) before anything is granted to them.

Identities outside what the stacks own (accounts' root principals, pre-existing roles in the
organization's own accounts, groups, users) are not judged. Findings have the plan's shape
(`policy`, `level`, `urn`, `name`, `type`, `message`), level mandatory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from cells import Registry

POLICY = "stack-order"
LEVEL = "mandatory"
LAYER = "order"

#: An ARN with an account id; possessive, so an ARN pattern (`role/honeycomb-*`, `${aws:...}`) never matches a prefix.
_ARN = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[A-Za-z0-9_+=,.@:/-]++(?![*?$])")
#: A Google service account or service agent email.
_GSA = re.compile(r"(?<![\w.@-])[a-z0-9][a-z0-9.-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.gserviceaccount\.com(?![\w.-])")
_SERVICE_AGENT = re.compile(r"^service-\d+@")
_USER_MANAGED = re.compile(r"^[a-z0-9-]+@(?P<project>[a-z0-9-]+)\.iam\.gserviceaccount\.com$")
_NOT_NAMING = ("pulumi:pulumi:StackReference",)


class Planned(Protocol):
    """What the check reads of a planned resource (`cellctl.offline.PlannedResource`)."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urn(self) -> str: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def outputs(self) -> dict[str, Any]: ...
    @property
    def custom(self) -> bool: ...
    @property
    def depends_on(self) -> tuple[str, ...]: ...


def _policy_document(value: Any) -> Mapping[str, Any] | None:
    """An IAM policy document (a mapping, or JSON text, with `Statement`), else None."""
    if isinstance(value, str) and value.lstrip()[:1] == "{" and "Statement" in value:
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, Mapping) and "Statement" in value else None


def _strings(value: Any) -> Iterator[str]:
    """The strings of an input that name things that must exist. In a policy document only the
    principals must (IAM validates them); `Resource` and `Condition` may name what is yet to come."""
    document = _policy_document(value)
    if document is not None:
        statements = document.get("Statement")
        for statement in statements if isinstance(statements, list) else [statements]:
            if isinstance(statement, Mapping):
                for key in ("Principal", "NotPrincipal"):
                    yield from _strings(statement.get(key))
    elif isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def named_identities(inputs: Mapping[str, Any]) -> set[str]:
    """Every ARN and Google service account email a resource's inputs need to exist (policy
    documents: their principals)."""
    found: set[str] = set()
    for text in _strings(inputs):
        if "arn:" in text:
            found.update(_ARN.findall(text))
        if "gserviceaccount.com" in text:
            found.update(_GSA.findall(text))
    return found


def created_identities(resource: Planned) -> set[str]:
    """What a resource brings into being that others may name."""
    if not resource.custom:
        return set()
    outputs, made = resource.outputs, set()
    arn = outputs.get("arn")
    if isinstance(arn, str) and _ARN.fullmatch(arn):
        made.add(arn)
    email = outputs.get("email")
    if isinstance(email, str) and _GSA.fullmatch(email):
        made.add(email)
    if resource.type == "aws:organizations/account:Account":
        # Organizations creates the access role in a new account (`roleName`) with the account.
        role, account = resource.inputs.get("roleName"), outputs.get("id")
        if isinstance(role, str) and isinstance(account, str) and account.isdigit():
            made.add(f"arn:aws:iam::{account}:role/{role}")
    return made


def stack_identities(resources: Sequence[Planned]) -> dict[str, Any]:
    """One stack's facts, JSON-ready: `creates` (identity -> URN), `names` (what its resources name,
    not created here), and `unordered` (named and created here, without waiting for the creator)."""
    creates: dict[str, str] = {}
    for resource in resources:
        for identity in created_identities(resource):
            creates.setdefault(identity, resource.urn)
    by_urn = {r.urn: r for r in resources}
    closure: dict[str, set[str]] = {}

    def waits_for(urn: str) -> set[str]:
        if urn not in closure:
            closure[urn] = set()  # cycles (impossible in a plan) end here
            seen: set[str] = set()
            for dep in by_urn[urn].depends_on if urn in by_urn else ():
                seen.add(dep)
                seen |= waits_for(dep)
            closure[urn] = seen
        return closure[urn]

    names: list[dict[str, str]] = []
    unordered: list[dict[str, str]] = []
    for resource in resources:
        if resource.type in _NOT_NAMING:
            continue
        for identity in sorted(named_identities(resource.inputs)):
            ref = {"identity": identity, "urn": resource.urn, "name": resource.name, "type": resource.type}
            creator = creates.get(identity)
            if creator is None:
                names.append(ref)
            elif creator != resource.urn and creator not in waits_for(resource.urn):
                unordered.append({**ref, "creator": creator, "creator_name": by_urn[creator].name})
    return {"creates": creates, "names": names, "unordered": unordered}


def bootstrap_waves(registry: Registry) -> list[tuple[str, list[str]]]:
    """The order `cellctl bootstrap --all` runs stacks in: (wave, stacks), management first."""
    from cellctl.rollout.plan import bootstrap_plan

    plan = bootstrap_plan(registry, [c.name for c in registry.cells], revision="offline")
    return [(w.name, [t.stack for t in w.targets]) for w in plan.waves]


class StackFacts(Protocol):
    @property
    def stack(self) -> str: ...
    @property
    def identities(self) -> dict[str, Any]: ...


def violations(
    stacks: Iterable[StackFacts],
    registry: Registry,
    waves: Sequence[tuple[str, Sequence[str]]] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """(stack, finding) for every order problem among the planned `stacks`, judged against `waves`
    (default: `bootstrap_waves(registry)`)."""
    planned = [s for s in stacks if s.identities]
    waves = bootstrap_waves(registry) if waves is None else waves
    position = {stack: (i, wave) for i, (wave, members) in enumerate(waves) for stack in members}
    order = " → ".join(wave for wave, _ in waves)
    creators: dict[str, list[str]] = {}
    for facts in planned:
        for identity in facts.identities.get("creates", {}):
            creators.setdefault(identity, []).append(facts.stack)
    complete = set(registry.stack_names) <= {s.stack for s in planned}
    cell_projects = {c.project_id for c in registry.gcp_cells}
    found: list[tuple[str, dict[str, Any]]] = []

    def finding(stack: str, ref: Mapping[str, str], message: str) -> None:
        found.append(
            (
                stack,
                {
                    "policy": POLICY,
                    "level": LEVEL,
                    "layer": LAYER,
                    "urn": ref["urn"],
                    "name": ref["name"],
                    "type": ref["type"],
                    "message": message,
                },
            )
        )

    for facts in planned:
        stack = facts.stack
        for ref in facts.identities.get("unordered", []):
            finding(
                stack,
                ref,
                f"{ref['type']} {ref['name']} names {ref['identity']}, which {ref['creator_name']} creates in the "
                f"same stack, but does not wait for it: the engine may create {ref['name']} first and the cloud "
                f"reject it; take the value from {ref['creator_name']}'s output or add it to depends_on",
            )
        if stack not in position:
            continue
        here, wave = position[stack]
        for ref in facts.identities.get("names", []):
            identity = ref["identity"]
            makers = creators.get(identity, [])
            earlier = [m for m in makers if m in position and position[m][0] < here]
            if makers and not earlier:
                other = makers[0]
                if other not in position:
                    when = "outside the bootstrap order, so never before"
                else:
                    when = "in the same wave as" if position[other][0] == here else "after"
                finding(
                    stack,
                    ref,
                    f"{stack} (bootstrap wave {wave}) names {identity} in {ref['type']} {ref['name']}, but only "
                    f"stack {other} creates it, and {other} runs {when} {stack} in bootstrap order ({order}): the "
                    f"first `pulumi up` of {stack} fails. Create it in {stack} or a stack before it, or move "
                    f"{ref['name']} to {other}",
                )
            elif not makers and complete and _must_be_created(identity, cell_projects):
                finding(
                    stack,
                    ref,
                    f"{stack} names {identity} in {ref['type']} {ref['name']}, but no stack creates it, and GCP "
                    "refuses grants to service accounts that do not exist: create it in this stack or one before "
                    "it (gcp.projects.ServiceIdentity for a service agent, gcp.serviceaccount.Account for an "
                    "account) and take the value from its output",
                )
    return found


def _must_be_created(identity: str, cell_projects: set[str]) -> bool:
    """A Google service agent, or an account in a cell's project: only our stacks can have made it."""
    if _SERVICE_AGENT.match(identity):
        return True
    match = _USER_MANAGED.match(identity)
    return bool(match and match["project"] in cell_projects)


class Result(StackFacts, Protocol):
    @property
    def findings(self) -> list[dict[str, Any]]: ...


def add_findings(results: Sequence[Result], registry: Registry) -> None:
    """Append the order findings to the planned stacks' results (after every stack was planned)."""
    by_stack = {r.stack: r for r in results}
    for stack, found in violations(results, registry):
        by_stack[stack].findings.append(found)
