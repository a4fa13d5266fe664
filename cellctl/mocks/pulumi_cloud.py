"""Pulumi Cloud (`pulumiservice`) under the mocks: what the service adds to an agent pool.

An agent pool gets an id and an access token (shown once by the service; a secret output). The
management stack's `agentPoolTokens` export and the StackReference mock agree through
`agent_pool_token`. Deployment settings and OIDC issuers add nothing beyond their inputs.
"""

from __future__ import annotations

from typing import Any

from cellctl.mocks import HANDLERS, MockContext, digest


def agent_pool_id(cell: str) -> str:
    d = digest("agent-pool", cell, length=32)
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}"


def agent_pool_token(cell: str) -> str:
    return "pul-" + digest("agent-pool-token", cell, length=40)


@HANDLERS.resource("pulumiservice:index:AgentPool")
def agent_pool(ctx: MockContext) -> dict[str, Any]:
    cell = str(ctx.inputs.get("name", ctx.name)).removeprefix("honeycomb-")
    return {"agentPoolId": agent_pool_id(cell), "tokenValue": agent_pool_token(cell)}
