"""The GitHub workflows: actionlint and zizmor (offline) find nothing, and the shape CI relies on holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cellctl.affected import affected_stacks
from cells import Environment, Registry

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[Any, Any]:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def workflow(name: str) -> dict[Any, Any]:
    return load(ROOT / ".github" / "workflows" / name)


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    return env | {"ZIZMOR_OFFLINE": "1", "NO_COLOR": "1"}


def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "rollout.yml", "rollout-wave.yml"}


def test_actionlint_finds_nothing():
    done = subprocess.run(
        [str(BIN / "actionlint"), "-no-color", "-oneline", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=offline_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_offline_pedantic_finds_nothing():
    done = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", "--persona=pedantic", ".github/workflows"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=offline_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def steps_and_uses(doc: dict[Any, Any]) -> list[tuple[str, str]]:
    found = []
    for name, job in doc["jobs"].items():
        if "uses" in job:
            found.append((name, job["uses"]))
        for step in job.get("steps", []):
            if "uses" in step:
                found.append((name, step["uses"]))
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_with_a_version_comment_and_no_secrets(path):
    text = path.read_text()
    doc = load(path)
    assert not re.search(r"\$\{\{[^}]*\bsecrets\b", text), "no secret is read: credentials come through OIDC"
    assert all("secrets" not in job for job in doc["jobs"].values())
    for job, uses in steps_and_uses(doc):
        if uses.startswith("$/"):
            continue  # this repository's own reusable workflow
        assert PINNED.match(uses), f"{path.name} job {job}: {uses} is not pinned to a full commit SHA"
        assert re.search(rf"{re.escape(uses)} # v\d", text), f"{uses} has no version comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_permissions(path):
    doc = load(path)
    assert doc["permissions"] == {}, "the workflow grants nothing by default"
    for name, job in doc["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"job {name} declares its permissions"
        assert set(permissions.values()) <= {"read", "write"}
        assert "write-all" not in str(permissions)
        writes = {k for k, v in permissions.items() if v == "write"}
        assert writes <= {"id-token", "security-events"}, f"job {name} writes {writes}"


def test_pull_request_runs_tests_plan_sarif_and_previews_with_the_pack():
    doc = workflow("pull-request.yml")
    assert doc["on"] == {"pull_request": {"branches": ["main"]}}
    jobs = doc["jobs"]
    assert any(s.get("run") == "make test" for s in jobs["test"]["steps"])
    plan = jobs["plan"]
    assert any("cellctl plan --all --sarif plan.sarif" in s.get("run", "") for s in plan["steps"])
    upload = next(s for s in plan["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "plan.sarif"
    assert plan["permissions"]["security-events"] == "write"
    # upload-sarif reads the workflow run (GET /repos/{owner}/{repo}/actions/runs/{id}) for the analysis key;
    # in a private repository that needs actions: read.
    assert plan["permissions"]["actions"] == "read"
    preview = jobs["preview"]
    assert preview["needs"] == "affected"
    assert preview["permissions"] == {"contents": "read", "id-token": "write"}
    uses = {s["uses"].split("@")[0]: s for s in preview["steps"] if "uses" in s}
    pulumi = uses["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["policyPacks"] == "policies"
    assert "matrix.stack" in pulumi["stack-name"]
    assert uses["pulumi/auth-actions"]["with"]["requested-token-type"].startswith("urn:pulumi:token-type:")
    assert "role-to-assume" in uses["aws-actions/configure-aws-credentials"]["with"]
    assert "workload_identity_provider" in uses["google-github-actions/auth"]["with"]


def test_rollout_follows_the_registrys_waves_with_prod_behind_the_prod_environment(registry: Registry):
    doc = workflow("rollout.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    jobs = doc["jobs"]
    waves = [w.name for w in registry.organization.waves]
    by_wave = {job["with"]["wave"]: (name, job) for name, job in jobs.items()}
    assert list(by_wave) == [*waves, "routing"], "one job per registry wave, in the registry's order, then routing"
    previous = None
    for wave in [*waves, "routing"]:
        name, job = by_wave[wave]
        # The routing stack holds prod tenants' names: it runs behind prod's reviewers.
        prod = wave == "routing" or any(c.wave == wave and c.environment == Environment.prod for c in registry.cells)
        assert job["with"]["environment"] == ("prod" if prod else "preprod"), wave
        assert job.get("needs") == previous
        previous = name
    called = workflow("rollout-wave.yml")
    (job,) = called["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"
    assert any('cellctl rollout --wave "${WAVE}"' in s.get("run", "") for s in job["steps"])


def test_affected_stacks(registry: Registry):
    every = registry.stack_names
    assert affected_stacks(["README.md", "tests/test_x.py", "cellctl/plan.py"], registry) == []
    assert affected_stacks(["cells/registry/cells/alpha.yaml"], registry) == ["management", "cell-alpha", "routing"]
    assert affected_stacks(["cells/registry/tenants/alpha.yaml"], registry) == ["management", "routing"]
    assert affected_stacks(["stacks/routing.py"], registry) == ["routing"]
    assert affected_stacks(["stacks/Pulumi.cell-beta.yaml"], registry) == ["cell-beta"]
    gcp = [c.stack_name for c in registry.gcp_cells]
    assert affected_stacks(["stacks/cell_gcp.py"], registry) == [s for s in every if s in gcp]
    assert affected_stacks(["stacks/management.py"], registry) == ["management"]
    assert affected_stacks(["components/aws/network.py"], registry) == every
    assert affected_stacks(["cells/registry/organization.yaml"], registry) == every
    assert affected_stacks(["cells/registry/cells/new.yaml"], registry) == ["management", "routing"]


def test_preview_skips_pull_requests_from_forks():
    # A pull request from a fork gets no OIDC token (id-token: write is not granted), so the credential steps
    # would fail every fork's run; the offline plan and the tests still run for it.
    condition = workflow("pull-request.yml")["jobs"]["preview"]["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "needs.affected.outputs.stacks != '[]'" in condition


def test_the_ci_role_trusts_the_environments_the_rollout_runs_in(registry: Registry):
    # A job that names an environment gets the OIDC subject `repo:<owner>/<name>:environment:<env>`, not its
    # branch's ref, so the CI role must trust each environment a wave runs in or the rollout cannot assume it.
    github = registry.organization.aws.github_actions
    assert github is not None
    environments = {job["with"]["environment"] for job in workflow("rollout.yml")["jobs"].values()}
    assert environments == {"preprod", "prod"}
    assert {f"environment:{env}" for env in environments} <= set(github.subjects)


def test_the_affected_stacks_step_fails_when_cellctl_does():
    # Unspecified, a run step's shell is `bash -e {0}`: `x=$(cellctl ... | jq -c .)` then takes jq's status and
    # writes an empty list of stacks, and the preview matrix fails later on fromJSON(''). `shell: bash` adds
    # pipefail, so the step itself fails with cellctl's message.
    (step,) = [s for s in workflow("pull-request.yml")["jobs"]["affected"]["steps"] if s.get("id") == "affected"]
    # The command GitHub runs the step with (workflow syntax, `jobs.<job_id>.steps[*].shell`).
    shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail"] if step.get("shell") == "bash" else ["bash", "-e"]
    ran = subprocess.run(
        [*shell, "-c", step["run"].replace(".venv/bin/cellctl", "false")],
        env={**offline_env(), "GITHUB_OUTPUT": os.devnull, "BASE_REF": "main"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0, "a failing `cellctl stacks affected` must fail the step"


def test_jobs_that_reach_the_clusters_run_on_the_deploy_runner(registry: Registry):
    # The EKS endpoints admit only the registry's deploy runner egress CIDRs; GitHub-hosted runners have no fixed
    # egress, so the jobs that talk to the clusters (preview and rollout) run where the variable DEPLOY_RUNNER says.
    assert registry.organization.deploy.runner.kind == "ci" and registry.organization.deploy.runner.egress_cidrs
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    (wave,) = workflow("rollout-wave.yml")["jobs"].values()
    for job in (preview, wave):
        assert "vars.DEPLOY_RUNNER" in job["runs-on"]
    offline = workflow("pull-request.yml")["jobs"]["plan"]
    assert offline["runs-on"] == "ubuntu-24.04"  # the offline jobs need no network path to a cluster
