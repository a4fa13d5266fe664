"""The CrossGuard entry point: `pulumi preview --stack cell-alpha --policy-pack policies`.

Builds the pack from `policies.POLICIES` and nothing else. Each rule's enforcement level can be
changed without code through the pack's config, e.g. `--policy-pack-config levels.json` with
`{"prod-protection": "mandatory", "sso-session-duration": "disabled"}`.
"""

from pulumi_policy import PolicyPack

from policies import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES)
