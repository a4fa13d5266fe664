"""The application components' lifecycle targets: the Makefile targets Honeycomb calls with registry data.

`LifecycleRunner` (runner.py) is the API: `cell_bootstrap(cell)` for `cellctl bootstrap`,
`mirror(...)`, `verify(...)`, `cleanup(...)` for a tenant move; `checkout.py` keeps each
component's repository at its ref under `.honeycomb/components/`; `bootstrap.py` ties
`cell-bootstrap` into the rollout orchestrator and its journal. The contract (targets,
environment, exit codes, logs) is in runner.py's docstring and the README.
"""

from cellctl.lifecycle.checkout import Checkout, LifecycleError
from cellctl.lifecycle.runner import EXIT_AGAIN, ComponentResult, LifecycleRunner, Status, TargetResult, declared
from cells.models import LifecycleTarget

__all__ = [
    "EXIT_AGAIN",
    "Checkout",
    "ComponentResult",
    "LifecycleError",
    "LifecycleRunner",
    "LifecycleTarget",
    "Status",
    "TargetResult",
    "declared",
]
