"""Mock outputs of the management stack's AWS resources and calls (organizations, SSO, OAM sinks)."""

from __future__ import annotations

from cellctl.mocks import HANDLERS  # noqa: F401
