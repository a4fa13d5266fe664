"""The management stack's outputs: the one contract between it and the cell stacks.

The management program exports these names; cell programs read them through a
`StackReference`; the offline mocks synthesize them. Keys of every map are stable ids
(cell name, region), never list positions.
"""

ACCOUNT_IDS = "accountIds"  # {cell name: AWS account id}
PROJECT_NUMBERS = "projectNumbers"  # {cell name: GCP project number}
#: {GCP cell name: email of its GKE nodes' service account}, created by management in the cell's project
#: so that grants to it (image pulls) can be made before the cell stack first runs.
NODE_SERVICE_ACCOUNTS = "nodeServiceAccounts"
OAM_SINK_ARNS = "oamSinkArns"  # {AWS region: ARN of the central observability sink there}
DNS_DELEGATION_ROLE_ARN = "dnsDelegationRoleArn"  # role in the DNS account cells assume for NS records
ACME_DNS_ROLE_ARNS = "acmeDnsRoleArns"  # {cell name: its DNS-01 role in the DNS account (components.aws.acme_dns)}
CI_ROLE_ARN = "ciRoleArn"  # the identity CI deploys as; cell deployer roles trust it
ECR_REGISTRY = "ecrRegistry"  # <account>.dkr.ecr.<region>.amazonaws.com holding the app images
REGISTRY_URL = "registryUrl"  # s3://bucket/key of the published registry
#: region -> its local copy: s3://<bucket>-<region>/key (AWS regions), gs://<bucket>-<region>/key (GCP regions).
REGISTRY_REPLICA_URLS = "registryReplicaUrls"
#: {cell name: its Pulumi Deployments agent pool's token} (secret), for cells whose agents run in their network.
AGENT_POOL_TOKENS = "agentPoolTokens"

#: Stack config key (project namespace) naming the management stack to reference.
MANAGEMENT_STACK_CONFIG = "managementStack"
DEFAULT_MANAGEMENT_STACK = "management"
