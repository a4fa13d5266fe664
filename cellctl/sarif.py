"""`cellctl plan --sarif FILE`: every finding as SARIF 2.1.0, for GitHub code scanning.

One run; the tool's rules are the policy pack's (id, description, help, default level) plus the
cloud-rule checkers that reported (`policy` of a `"layer": "cloud"` finding). Each result is at the
line that created its resource (the SDK's source position, recorded by the offline engine), else at
its nearest parent's, else at the stack's config file or program; paths relative to the repository
root (`%SRCROOT%`), the stack as the logical location. Levels: `mandatory` and `error` are SARIF
`error`, `advisory` is `warning`. A stack that could not be planned is a tool execution notification.

Each result carries a fingerprint of its rule, stack, resource and message: code scanning merges results
whose rule and fingerprints agree, and the line hash the upload action adds is the same for every stack
built from one component line, so without it one stack's alert would hide the others'. It also keeps an
alert (and its dismissal) when the line moves.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cellctl.plan import StackResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
ROOT_ID = "%SRCROOT%"
LEVELS = {"mandatory": "error", "error": "error", "advisory": "warning"}
FINGERPRINT = "honeycombFinding/v1"


def repository_root(start: Path | None = None) -> Path:
    """The nearest directory holding `.git` above `start` (default: the working directory), else `start`."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / ".git").exists()), here)


def _rules(results: Sequence[StackResult]) -> list[dict[str, Any]]:
    from policies import POLICIES

    rules: dict[str, dict[str, Any]] = {}
    for policy in POLICIES:
        level = getattr(policy.enforcement_level, "value", "advisory")
        doc = inspect.getdoc(getattr(policy, "validate", None))
        rules[policy.name] = {
            "id": policy.name,
            "name": policy.name,
            "shortDescription": {"text": policy.description},
            "fullDescription": {"text": policy.description},
            "help": {
                "text": f"{doc or policy.description}\n\nA rule of the Honeycomb policy pack; "
                "its level can be changed with --policy-config (cellctl plan) or --policy-pack-config (pulumi)."
            },
            "defaultConfiguration": {"level": LEVELS.get(level, "note")},
            "properties": {"layer": "policy"},
        }
    for result in results:
        for finding in result.findings:
            name = finding["policy"]
            if name not in rules:
                layer = finding.get("layer", "policy")
                what = "cloud rule checker" if layer == "cloud" else "check"
                rules[name] = {
                    "id": name,
                    "name": name,
                    "shortDescription": {"text": f"The {what} {name}: what the real API would reject or warn of."},
                    "help": {"text": f"Findings of the {what} {name} in the offline plan (layer {layer})."},
                    "properties": {"layer": layer},
                }
    return list(rules.values())


def _artifact(path: str | Path, root: Path) -> dict[str, Any]:
    file = Path(path).resolve()
    if file.is_relative_to(root):
        return {"uri": file.relative_to(root).as_posix(), "uriBaseId": ROOT_ID}
    return {"uri": file.as_uri()}


def _position(result: StackResult, urn: str | None, fallback: Path | None) -> tuple[str, int] | None:
    """The source line of the resource, else of its nearest parent with one, else the stack's fallback file."""
    by_urn = {r["urn"]: r for r in result.resources}
    seen: set[str] = set()
    while urn and urn in by_urn and urn not in seen:
        seen.add(urn)
        source = by_urn[urn].get("source")
        if isinstance(source, dict) and source.get("file") and source.get("line"):
            return str(source["file"]), int(source["line"])
        urn = by_urn[urn].get("parent")
    return (str(fallback), 1) if fallback is not None and fallback.is_file() else None


def default_fallback(stack: str) -> Path | None:
    """Where a finding without a source line of its own lands: the stack's config file, else the entry point."""
    import stacks

    project = Path(stacks.__file__).resolve().parent.parent
    config = project / "stacks" / f"Pulumi.{stack}.yaml"
    return config if config.is_file() else project / "__main__.py"


def sarif_log(
    results: Sequence[StackResult],
    *,
    root: Path | None = None,
    fallback: Callable[[str], Path | None] = default_fallback,
) -> dict[str, Any]:
    """The SARIF document for `results` (one run of the `honeycomb-guardrails` tool)."""
    from policies import PACK_NAME

    root = (root or repository_root()).resolve()
    rules = _rules(results)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    sarif_results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for result in results:
        if result.error:
            notifications.append({"level": "error", "message": {"text": f"{result.stack}: {result.error}"}})
        for finding in result.findings:
            location: dict[str, Any] = {
                "logicalLocations": [{"name": result.stack, "fullyQualifiedName": result.stack, "kind": "module"}]
            }
            position = _position(result, finding.get("urn"), fallback(result.stack))
            if position is not None:
                location["physicalLocation"] = {
                    "artifactLocation": _artifact(position[0], root),
                    "region": {"startLine": position[1]},
                }
            resource = f"{finding['name']} ({finding['type']})" if finding.get("name") else "the stack"
            sarif_results.append(
                {
                    "ruleId": finding["policy"],
                    "ruleIndex": index[finding["policy"]],
                    "level": LEVELS.get(finding["level"], "note"),
                    "message": {"text": f"{result.stack}: {finding['message']}"},
                    "locations": [location],
                    "partialFingerprints": {FINGERPRINT: _fingerprint(result.stack, finding)},
                    "properties": {
                        "stack": result.stack,
                        "resource": resource,
                        "urn": finding.get("urn"),
                        "enforcementLevel": finding["level"],
                        "layer": finding.get("layer", "policy"),
                    },
                }
            )
    return {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": PACK_NAME, "semanticVersion": _version(), "rules": rules}},
                "originalUriBaseIds": {ROOT_ID: {"uri": root.as_uri() + "/"}},
                "invocations": [
                    {"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}
                ],
                "results": sarif_results,
            }
        ],
    }


def _fingerprint(stack: str, finding: dict[str, Any]) -> str:
    """Stable across runs and line moves; distinct per stack, resource and problem."""
    key = "\0".join((finding["policy"], stack, str(finding.get("urn") or ""), str(finding["message"])))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("honeycomb")
    except PackageNotFoundError:
        return "0.0.0"


def write_sarif(results: Sequence[StackResult], path: Path, **options: Any) -> None:
    """Write the SARIF document; a path that cannot be written is one clear error."""
    from cellctl.common import fail

    try:
        path.write_text(json.dumps(sarif_log(results, **options), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the SARIF file {path}: {exc.strerror}")
