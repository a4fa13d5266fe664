"""Mock outputs of gcp resources and calls (registered in `cellctl.mocks.HANDLERS`)."""

from __future__ import annotations

from cellctl.mocks import HANDLERS  # noqa: F401
