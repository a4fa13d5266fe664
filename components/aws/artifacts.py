"""ECR repositories for the application's components, pullable from every cell account.

One repository per application component (`<organization>/<component>`, the path the images
have upstream) in the management account. The pull policy admits principals of accounts in the
cell OUs (`aws:PrincipalOrgPaths`) rather than a list of accounts: a repository policy is
limited to 10,240 characters, which a list of a few hundred accounts would exceed, and a new
cell's account can pull as soon as it exists in its OU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.aws.iam import document

PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def repository_name(organization: str, component: str) -> str:
    """The repository of a component's images: `<registry>/<organization>/<component>:<tag>`."""
    return f"{organization}/{component}"


def ou_path(organization_id: str, root_id: str, ou_id: str) -> str:
    """The `aws:PrincipalOrgPaths` pattern matching every account directly in the OU."""
    return f"{organization_id}/{root_id}/{ou_id}/*"


def pull_policy(org_paths: Sequence[str]) -> str:
    """Principals of accounts under these organization paths may pull, and do nothing else."""
    if not org_paths:
        raise ValueError("a pull policy needs at least one organization path")
    return document(
        {
            "Sid": "CellAccountsPull",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": list(PULL_ACTIONS),
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": sorted(set(org_paths))}},
        }
    )


class ImageRepositoriesArgs(TypedDict):
    organization: str
    """The organization's name: the repositories' namespace."""
    components: Sequence[str]
    """Application component names: one repository each."""
    org_paths: Sequence[pulumi.Input[str]]
    """`aws:PrincipalOrgPaths` patterns of the cell OUs."""
    tags: Mapping[str, str]


class ImageRepositories(pulumi.ComponentResource):
    repository_urls: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: ImageRepositoriesArgs,
        *,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("honeycomb:aws:ImageRepositories", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        policy = pulumi.Output.all(*args["org_paths"]).apply(pull_policy)
        self.repository_urls = {}
        for component in sorted(args["components"]):
            repo = aws.ecr.Repository(
                f"{name}-{component}",
                name=repository_name(args["organization"], component),
                # Cells pin images by tag: a tag must always mean the same image.
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "AES256"}],
                tags=dict(args["tags"]),
                opts=child,
            )
            aws.ecr.RepositoryPolicy(f"{name}-{component}-pull", repository=repo.name, policy=policy, opts=child)
            self.repository_urls[component] = repo.repository_url
        self.register_outputs({"repository_urls": self.repository_urls})
