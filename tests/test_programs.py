"""`cellctl plan STACK --program DIR`: a team's own Pulumi program planned as a cell's stack, judged by the pack."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cellctl.main import app
from cellctl.mocks import CloudMocks, MockContext, generic
from cellctl.programs import ProgramError, load_program, run_program_dir, stack_config

runner = CliRunner()
PROGRAMS = Path(__file__).parent / "fixtures" / "programs"


def plan(directory: Path, stack: str = "cell-alpha", *extra: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["plan", stack, "--program", str(directory), "--json", *extra])
    doc = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, doc.get("stacks", [{}])[0], result.stderr


def findings(stack: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(f["policy"], f["name"]) for f in stack["findings"]}


def one(stack: dict[str, Any], type_: str) -> dict[str, Any]:
    found = [r for r in stack["resources"] if r["type"] == type_]
    assert len(found) == 1, [r["name"] for r in found]
    return found[0]


def test_web_server_open_ssh_is_found_and_its_provider_is_the_cells():
    before_path, before_cwd = list(sys.path), os.getcwd()
    code, stack, _ = plan(PROGRAMS / "web-server")
    assert code == 1  # a mandatory rule fired
    assert findings(stack) == {("security-group-ingress", "web")}
    (finding,) = stack["findings"]
    assert "tcp port 22 to 0.0.0.0/0" in finding["message"]
    provider = one(stack, "pulumi:providers:aws")
    assert "arn:aws:iam::210987654321:role/app-deployer" in provider["inputs"]["assumeRoles"]
    instance = one(stack, "aws:ec2/instance:Instance")
    assert "dnf install -y nginx" in instance["inputs"]["userData"]  # from the program's own module boot.py
    assert instance["inputs"]["ami"].startswith("ami-")  # the AMI lookup has a realistic answer
    assert re.fullmatch(r"i-[0-9a-f]{17}", stack["outputs"]["instanceId"])
    assert re.fullmatch(r"http://ec2-54(-\d+){3}\.compute-1\.amazonaws\.com", stack["outputs"]["url"])
    assert instance["source"]["file"] == str(PROGRAMS.resolve() / "web-server" / "__main__.py")
    # The program's directory and modules are gone again: ours are untouched.
    assert sys.path == before_path and os.getcwd() == before_cwd
    assert "boot" not in sys.modules


def test_static_site_public_bucket_and_missing_tag_are_found():
    code, stack, _ = plan(PROGRAMS / "static-site")
    assert code == 1
    found = findings(stack)
    assert ("s3-bucket-security", "site") in found
    messages = " ".join(f["message"] for f in stack["findings"] if f["policy"] == "s3-bucket-security")
    assert "public access block does not set all of" in messages
    assert "is not encrypted" in messages
    tags = [f for f in stack["findings"] if f["policy"] == "required-tags" and f["type"] == "aws:s3/bucket:Bucket"]
    assert tags and "lacks the tags environment" in tags[0]["message"]
    # The default provider, configured from Pulumi.cell-alpha.yaml as the engine would configure it.
    default = one(stack, "pulumi:providers:aws")
    assert default["name"].startswith("default_")
    assert default["inputs"]["region"] == "us-east-1"
    assert "210987654321" in default["inputs"]["assumeRoles"]
    assert one(stack, "aws:s3/bucket:Bucket")["provider"] == default["urn"]
    # The program read www/ relative to its own directory, and reads back a real website endpoint.
    assert one(stack, "aws:s3/bucketObjectv2:BucketObjectv2")["inputs"]["key"] == "index.html"
    assert re.fullmatch(r"http://site-[0-9a-f]{7}\.s3-website-us-east-1\.amazonaws\.com", stack["outputs"]["url"])


def test_cluster_app_reaches_the_cells_own_cluster_and_its_workload_findings_fire(registry):
    from cellctl.offline import run_stack

    code, stack, _ = plan(PROGRAMS / "cluster-app")
    assert code == 1
    messages = {f["message"] for f in stack["findings"] if f["policy"] == "k8s-workload-hygiene"}
    assert any("'nginx:latest' uses the :latest tag" in m for m in messages)
    assert any("no limits for cpu and memory" in m for m in messages)
    # The mocks know the cell: the StackReference to cell-alpha returns that stack's own kubeconfig.
    provider = one(stack, "pulumi:providers:kubernetes")
    own = run_stack("cell-alpha", registry).outputs["kubeconfig"]
    kubeconfig = provider["inputs"]["kubeconfig"]
    assert (kubeconfig.get("value") if isinstance(kubeconfig, dict) else kubeconfig) == own
    # A LoadBalancer Service reports the address an EKS load balancer gets.
    assert re.fullmatch(r"http://a[0-9a-f]{31}-[0-9a-f]{16}\.elb\.us-east-1\.amazonaws\.com", stack["outputs"]["url"])
    # The platform's own obligations (telemetry link, health alarm) are not the team program's.
    assert not any(f["policy"] == "cell-observability" for f in stack["findings"])


def test_broken_program_names_the_program_file_and_line():
    code, stack, stderr = plan(PROGRAMS / "broken")
    assert code == 2
    assert "the program broken" in stack["error"]
    assert "failed at settings.py:5: KeyError: 'replicas'" in stack["error"]
    assert "Traceback" not in stderr


def write_program(root: Path, main: str, *, name: str = "team", extra: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    (root / "__main__.py").write_text(main)
    for file, text in (extra or {}).items():
        (root / file).write_text(text)
    return root


def test_syntax_error_names_file_and_line(tmp_path):
    program = write_program(tmp_path / "p", "import pulumi\n\nx = (\n")
    code, stack, _ = plan(program)
    assert code == 2
    assert re.search(r"failed at __main__\.py:3: SyntaxError", stack["error"])


def test_a_program_module_named_like_ours_is_its_own_and_ours_comes_back(tmp_path):
    import stacks

    program = write_program(
        tmp_path / "p",
        "import pulumi\nimport stacks\n\npulumi.export('which', stacks.WHICH)\n",
        extra={"stacks.py": "WHICH = 'the program'\n"},
    )
    code, stack, _ = plan(program)
    assert code == 0, stack
    assert stack["outputs"] == {"which": "the program"}
    assert sys.modules["stacks"] is stacks


def test_disabled_default_providers_fail_as_under_the_engine(tmp_path):
    program = write_program(tmp_path / "p", "import pulumi_aws as aws\n\naws.s3.Bucket('b')\n")
    (program / "Pulumi.cell-alpha.yaml").write_text("config:\n  pulumi:disable-default-providers: ['*']\n")
    code, stack, _ = plan(program)
    assert code == 2
    expected = "failed at __main__.py:3: DefaultProviderDisabledError: Default provider for 'aws' disabled"
    assert expected in stack["error"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "has no Pulumi.yaml"),
        ({"Pulumi.yaml": "name: x\nruntime: nodejs\n"}, "runtime is 'nodejs'"),
        ({"Pulumi.yaml": "runtime: python\n"}, "`name` (the project's name) is missing"),
        ({"Pulumi.yaml": "name: x\nruntime: python\nmain: app.py\n"}, "entry point"),
    ],
)
def test_bad_program_directories_are_one_clear_error(tmp_path, files, message):
    for file, text in files.items():
        (tmp_path / file).write_text(text)
    result = runner.invoke(app, ["plan", "cell-alpha", "--program", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_program_needs_exactly_one_cell_stack():
    result = runner.invoke(app, ["plan", "management", "--program", str(PROGRAMS / "web-server")])
    assert result.exit_code == 2
    assert "name exactly one of" in result.stderr and "cell-alpha" in result.stderr


def test_config_layers_and_secure_values(tmp_path):
    program = write_program(tmp_path / "p", "")
    (program / "Pulumi.yaml").write_text(
        "name: team\nruntime: python\nconfig:\n  size: small\n  aws:region: us-west-2\n  typed:\n    type: string\n"
    )
    (program / "Pulumi.cell-alpha.yaml").write_text(
        "config:\n  team:size: large\n  team:password:\n    secure: AAABAJ3x\n  team:list: [1, 2]\n"
    )
    config = stack_config(load_program(program), "cell-alpha", {"extra": "yes"})
    assert config.values["team:size"] == "large"
    assert config.values["aws:region"] == "us-west-2"
    assert config.values["team:list"] == "[1,2]"
    assert config.values["team:password"] == "[secret]"  # secure values cannot be decrypted offline
    assert config.secret_keys == {"team:password"}
    assert config.values["team:extra"] == "yes"  # a bare override key is the program's project's
    assert "team:typed" not in config.values  # a declaration without a value


def test_config_overrides_reach_the_program_and_bad_ones_are_one_error(tmp_path):
    main = "import pulumi\n\npulumi.export('size', pulumi.Config().get('size'))\n"
    program = write_program(tmp_path / "p", main)
    code, stack, _ = plan(program, "cell-alpha", "--config", "size=xl")
    assert code == 0 and stack["outputs"] == {"size": "xl"}
    result = runner.invoke(app, ["plan", "cell-alpha", "--program", str(program), "--config", "size"])
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.stderr


def test_ambient_credentials_are_the_cells(tmp_path, registry):
    main = "import pulumi\nimport pulumi_aws as aws\n\npulumi.export('account', aws.get_caller_identity().account_id)\n"
    program = load_program(write_program(tmp_path / "p", main))
    planned = run_program_dir(program, "cell-alpha", registry)
    assert planned.outputs["account"] == "210987654321"


def test_run_program_dir_raises_program_error_with_the_line(registry):
    with pytest.raises(ProgramError, match=r"settings\.py:5"):
        run_program_dir(load_program(PROGRAMS / "broken"), "cell-alpha", registry)


def test_unknown_types_get_name_and_arn_only_when_the_schema_has_them(registry):
    mocks = CloudMocks(registry)

    def new(token: str) -> dict[str, Any]:
        return mocks.new_resource(
            __import__("pulumi").runtime.MockResourceArgs(typ=token, name="app", inputs={}, custom=True)
        )[1]

    queue, rule, topic = (
        new("aws:sqs/queue:Queue"),
        new("aws:ec2/securityGroupRule:SecurityGroupRule"),
        new("gcp:pubsub/topic:Topic"),
    )
    assert queue["name"].startswith("app-") and queue["arn"].startswith("arn:aws:sqs:")
    assert "arn" not in rule and "name" not in rule
    assert topic["name"].startswith("app-") and "arn" not in topic
    assert generic.has_output("aws:nope/x:X", "arn") is None


def test_load_balancer_service_created_by_a_program_has_an_address(registry):
    from cellctl.mocks import k8s

    ctx = MockContext(
        "kubernetes:core/v1:Service",
        "web",
        {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        {},
        registry,
        CloudMocks(registry),
    )
    outputs = k8s.kubernetes_object(ctx)
    (entry,) = outputs["status"]["loadBalancer"]["ingress"]
    assert set(entry) <= {"hostname", "ip"} and entry


def _ctx(registry, token: str, inputs: dict[str, Any], provider: dict[str, Any] | None = None) -> MockContext:
    return MockContext(token, "web", inputs, provider or {"region": "eu-central-1"}, registry, CloudMocks(registry))


def test_application_defaults_have_aws_shapes(registry):
    from cellctl.mocks import apps

    alb = apps.load_balancer(_ctx(registry, "aws:lb/loadBalancer:LoadBalancer", {"name": "shop"}))
    assert re.fullmatch(r"shop-\d+\.eu-central-1\.elb\.amazonaws\.com", alb["dnsName"])
    assert (
        alb["arn"].startswith("arn:aws:elasticloadbalancing:eu-central-1:") and ":loadbalancer/app/shop/" in alb["arn"]
    )
    internal = apps.load_balancer(
        _ctx(registry, "aws:lb/loadBalancer:LoadBalancer", {"name": "shop", "internal": True})
    )
    assert internal["dnsName"].startswith("internal-shop-")
    nlb = apps.load_balancer(
        _ctx(registry, "aws:lb/loadBalancer:LoadBalancer", {"loadBalancerType": "network"}, {"region": "us-east-1"})
    )
    assert nlb["zoneId"] == "Z26RNL4JYFTOTI" and ":loadbalancer/net/" in nlb["arn"]
    # Older regions serve websites at s3-website-<region>, newer ones at s3-website.<region>.
    newer = apps.bucket_website(
        _ctx(registry, "aws:s3/bucketWebsiteConfiguration:BucketWebsiteConfiguration", {"bucket": "b"})
    )
    assert newer["websiteEndpoint"] == "b.s3-website.eu-central-1.amazonaws.com"
    older = apps.bucket_website(_ctx(registry, "x", {"bucket": "b"}, {"region": "us-west-2"}))
    assert older["websiteEndpoint"] == "b.s3-website-us-west-2.amazonaws.com"
    # A chosen subnet maps no public IP unless asked; the default VPC's subnets do.
    private = apps.ec2_instance(_ctx(registry, "aws:ec2/instance:Instance", {"subnetId": "subnet-1"}))
    assert private["publicIp"] == "" and private["privateDns"].endswith(".eu-central-1.compute.internal")
    public = apps.ec2_instance(_ctx(registry, "aws:ec2/instance:Instance", {}))
    assert public["publicDns"].endswith(".eu-central-1.compute.amazonaws.com")


def test_the_cell_stack_rules_judge_a_program_in_the_wrong_account_and_region(tmp_path):
    import shutil

    program = shutil.copytree(PROGRAMS / "web-server", tmp_path / "web-server")
    (program / "Pulumi.cell-alpha.yaml").write_text(
        'config:\n  aws:region: ap-south-1\n  web-server:accountId: "100000000001"\n'
    )
    code, stack, _ = plan(program)
    assert code == 1
    messages = {f["policy"]: f["message"] for f in stack["findings"] if f["name"] == "web"}
    assert "100000000001" in messages["cell-isolation"] and "the management account" in messages["cell-isolation"]
    regions = [f["message"] for f in stack["findings"] if f["policy"] == "allowed-regions"]
    assert any("ap-south-1" in m for m in regions)


def test_a_program_leaves_the_process_as_it_found_it_and_our_stack_plans_the_same(tmp_path, monkeypatch):
    monkeypatch.delenv("TEAM_LEAK", raising=False)
    before_env, before_path, before_cwd = dict(os.environ), list(sys.path), os.getcwd()
    ours = runner.invoke(app, ["plan", "cell-alpha", "--json"])
    program = write_program(
        tmp_path / "p",
        "import os\nimport pulumi\nimport helper\n\nos.environ['TEAM_LEAK'] = '1'\n"
        "os.environ['AWS_REGION'] = 'ap-south-1'\nos.chdir('/')\npulumi.export('x', helper.X)\n",
        extra={"helper.py": "X = 1\n"},
    )
    (program / "Pulumi.cell-alpha.yaml").write_text("config:\n  aws:region: ap-south-1\n  team:x: '1'\n")
    code, stack, _ = plan(program)
    assert code == 0, stack
    assert stack["outputs"] == {"x": 1}, stack
    assert dict(os.environ) == before_env
    assert (list(sys.path), os.getcwd()) == (before_path, before_cwd)
    assert "helper" not in sys.modules
    again = runner.invoke(app, ["plan", "cell-alpha", "--json"])
    assert again.exit_code == ours.exit_code
    assert json.loads(again.stdout)["stacks"][0]["resources"] == json.loads(ours.stdout)["stacks"][0]["resources"]
    assert json.loads(again.stdout)["stacks"][0]["findings"] == json.loads(ours.stdout)["stacks"][0]["findings"]


def test_a_default_provider_configured_from_the_stack_config_is_judged_for_its_region(tmp_path):
    program = write_program(tmp_path / "p", "import pulumi_aws as aws\n\naws.s3.Bucket('b', tags={'x': 'y'})\n")
    (program / "Pulumi.cell-alpha.yaml").write_text("config:\n  aws:region: ap-south-1\n")
    code, stack, _ = plan(program)
    assert code == 1
    provider = one(stack, "pulumi:providers:aws")
    assert provider["inputs"]["region"] == "ap-south-1"
    assert ("allowed-regions", provider["name"]) in findings(stack)
    assert ("cell-isolation", "b") in findings(stack)


def test_a_programs_kubernetes_objects_are_checked_at_the_cells_cluster_version(tmp_path, registry):
    """A team's objects land on the cell's cluster, so they are held to the version it runs (EKS 1.33 here)."""
    from policies import cloud
    from policies.cloud import kubernetes

    planned = run_program_dir(load_program(PROGRAMS / "cluster-app"), "cell-alpha", registry)
    assert [r.type for r in planned.context] == ["aws:eks/cluster:Cluster"]
    assert kubernetes.cluster_minors(planned.resources, planned.context)[0] == ((1, 33),)
    main = (
        "import pulumi_kubernetes as k8s\n"
        "container = {'name': 'web', 'image': 'nginx:1.27', 'resource': {}}\n"
        "k8s.core.v1.Pod('web', metadata={'name': 'web'}, spec={'containers': [container]})\n"
    )
    planned = run_program_dir(load_program(write_program(tmp_path / "p", main)), "cell-alpha", registry)
    [message] = [f.message for f in cloud.check(planned.resources, planned.context) if f.level == "error"]
    assert "on Kubernetes 1.33 (the EKS cluster's version 1.33)" in message and "'resource' was unexpected" in message
