"""Export of a cell's metrics, logs and traces to the central monitoring account.

A CloudWatch cross-account observability link to the sink of the cell's own region: a link
must be in the same region as its sink, and the monitoring account has one sink per region
(created by the management stack). `$AccountName` labels the cell's data in the central view.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

#: What a cell shares with the monitoring account.
RESOURCE_TYPES = ("AWS::CloudWatch::Metric", "AWS::Logs::LogGroup", "AWS::XRay::Trace")
LABEL_TEMPLATE = "$AccountName"


@dataclass(frozen=True)
class MetricsExportArgs:
    sink_arn: pulumi.Input[str]
    """ARN of the monitoring account's sink in the cell's region."""


class MetricsExport(pulumi.ComponentResource):
    link_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: MetricsExportArgs, *, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("honeycomb:aws:MetricsExport", name, None, opts)
        link = aws.oam.Link(
            f"{name}-monitoring",
            sink_identifier=args.sink_arn,
            resource_types=list(RESOURCE_TYPES),
            label_template=LABEL_TEMPLATE,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.link_arn = link.arn
        self.register_outputs({"link_arn": self.link_arn})
