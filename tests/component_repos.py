"""Small component repositories made by the tests: a git repository with a Makefile, and a registry using them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from cells.models import Lifecycle, Registry

#: Each target writes the HONEYCOMB_* variables it sees to $(OUT)/<component>-<target>.env (sorted, one a line).
DUMP_ENV = "\t@env | grep '^HONEYCOMB_' | sort > $(OUT)/$(HONEYCOMB_COMPONENT)-$@.env\n"

#: Every target dumps its environment; tenant-mirror exits 75 ("still copying") twice, then 0.
MAKEFILE = (
    "cell-bootstrap:\n" + DUMP_ENV + "\t@echo bootstrapped $(HONEYCOMB_CELL)\n"
    "tenant-mirror:\n" + DUMP_ENV + "\t@n=$$(cat $(OUT)/$(HONEYCOMB_COMPONENT)-rounds 2>/dev/null || echo 0); "
    "n=$$((n+1)); echo $$n > $(OUT)/$(HONEYCOMB_COMPONENT)-rounds; echo copying, round $$n; "
    "test $$n -ge 3 || exit 75\n"
    "tenant-verify:\n" + DUMP_ENV + "\t@echo verified $(HONEYCOMB_TENANT) in $(HONEYCOMB_CELL)\n"
    "tenant-cleanup:\n" + DUMP_ENV + "\t@echo released $(HONEYCOMB_TENANT) in $(HONEYCOMB_CELL)\n"
)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.email=dev@example.com", "-c", "user.name=dev", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def component_repo(path: Path, makefile: str = MAKEFILE, *, directory: str = ".") -> Path:
    """A git repository (branch main) with `makefile` in `directory`, committed."""
    (path / directory).mkdir(parents=True, exist_ok=True)
    (path / directory / "Makefile").write_text(makefile)
    git(path, "init", "-q", "-b", "main")
    commit(path, "component")
    return path


def with_lifecycles(registry: Registry, lifecycles: dict[str, Lifecycle | dict[str, Any] | None]) -> Registry:
    """The registry with only the named components, each with the given lifecycle (None: none declared)."""
    components = [
        component.model_copy(update={"lifecycle": _lifecycle(lifecycles[component.name])})
        for component in registry.organization.components
        if component.name in lifecycles
    ]
    organization = registry.organization.model_copy(update={"components": components})
    return registry.model_copy(update={"organization": organization})


def without_lifecycles(registry: Registry) -> Registry:
    """The registry with every component but no lifecycle declared anywhere (nothing to check out or call)."""
    return with_lifecycles(registry, dict.fromkeys(c.name for c in registry.organization.components))


def _lifecycle(value: Lifecycle | dict[str, Any] | None) -> Lifecycle | None:
    return Lifecycle.model_validate(value) if isinstance(value, dict) else value
