"""A component's repository checked out at its ref, in `.honeycomb/components/<component>/<ref>`.

One working tree per (component, ref), cloned once and fetched again once per `Checkouts`
(one per cellctl run): a branch follows its remote, a tag or commit stays where it is, and a
commit already present is not fetched at all (a resume works offline). A clone goes to a
temporary directory first and is renamed into place when its ref is checked out, so a failed
clone leaves nothing behind that a later run could mistake for a checkout. A file lock per
working tree keeps parallel cellctl runs (and threads) from fetching into the same one at once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from cells.models import Lifecycle

#: A URL git understands (scheme://… or the scp-like user@host:path); anything else is a path.
_URL = re.compile(r"^([a-z][a-z0-9+.-]*://|[A-Za-z0-9_.~-]+@[A-Za-z0-9.-]+:)")
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
#: A fetch moves every remote branch (a ref that is a branch follows it), tags included.
_BRANCHES = "+refs/heads/*:refs/remotes/origin/*"


class LifecycleError(RuntimeError):
    """Bad input or a repository that cannot be used: one paragraph naming the component and what to fix."""


@dataclass(frozen=True)
class Checkout:
    path: Path
    #: The commit checked out (a branch's tip at fetch time).
    commit: str


def quote_ref(ref: str) -> str:
    """A ref as one directory name (`feature/x` → `feature%2Fx`)."""
    return ref.replace("%", "%25").replace("/", "%2F")


class Checkouts:
    """Working trees of components' repositories under `root`; relative repository paths are from `base`."""

    def __init__(self, root: Path, base: Path, *, timeout: float = 600.0, git: str = "git") -> None:
        self.root = root
        self.base = base
        self.timeout = timeout
        self.git = git
        self._lock = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._done: dict[tuple[str, str, str], Checkout] = {}

    def url(self, lifecycle: Lifecycle) -> str:
        """What git clones: the URL as written, or the path made absolute."""
        if _URL.match(lifecycle.repository):
            return lifecycle.repository
        return str((self.base / lifecycle.repository).resolve())

    def get(self, component: str, lifecycle: Lifecycle) -> Checkout:
        """The component's repository at its ref (cloned or fetched once per `Checkouts`); raises LifecycleError."""
        url = self.url(lifecycle)
        key = (component, url, lifecycle.ref)
        with self._lock:
            if key in self._done:
                return self._done[key]
            guard = self._locks.setdefault((component, lifecycle.ref), threading.Lock())
        with guard:
            if key not in self._done:
                self._done[key] = self._checkout(component, url, lifecycle.ref)
            return self._done[key]

    def _checkout(self, component: str, url: str, ref: str) -> Checkout:
        where = f"component {component}: cannot check out {ref!r} of its repository {url}"
        if not _URL.match(url) and not Path(url).exists():
            raise LifecycleError(
                f"{where}: there is no such directory. Fix `lifecycle.repository` of component {component} in "
                "organization.yaml (a relative path is read from the Honeycomb project directory)"
            )
        parent = self.root / component
        tree = parent / quote_ref(ref)
        parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(parent / f"{quote_ref(ref)}.lock"), timeout=self.timeout):
            if (tree / ".git").is_dir() and self._origin(tree) == url:
                if not (_SHA.match(ref) and self._resolve(tree, ref, where, quiet=True)):
                    self._run(tree, where, "fetch", "--quiet", "--prune", "--tags", "--force", "origin", _BRANCHES)
            else:
                shutil.rmtree(tree, ignore_errors=True)
                self._clone(url, parent, tree, where)
            commit = self._resolve(tree, ref, where)
            assert commit is not None
            self._run(tree, where, "checkout", "--quiet", "--force", "--detach", commit)
        return Checkout(tree, commit)

    def _clone(self, url: str, parent: Path, tree: Path, where: str) -> None:
        staging = Path(tempfile.mkdtemp(prefix=".clone-", dir=parent))
        try:
            self._run(parent, where, "clone", "--quiet", "--no-checkout", "--", url, str(staging))
            staging.rename(tree)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _origin(self, tree: Path) -> str | None:
        done = subprocess.run(
            [self.git, "-C", str(tree), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            env=_git_env(),
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else None

    def _resolve(self, tree: Path, ref: str, where: str, *, quiet: bool = False) -> str | None:
        """The commit `ref` names: a branch of the remote, a tag, or a commit (full or abbreviated)."""
        for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
            done = subprocess.run(
                [self.git, "-C", str(tree), "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
                capture_output=True,
                text=True,
                env=_git_env(),
                check=False,
            )
            if done.returncode == 0:
                return done.stdout.strip()
        if quiet:
            return None
        raise LifecycleError(
            f"{where}: the repository has no branch, tag or commit {ref!r}. Fix `lifecycle.ref` in organization.yaml "
            "or push the ref"
        )

    def _run(self, cwd: Path, where: str, *args: str) -> None:
        try:
            done = subprocess.run(
                [self.git, *args],
                cwd=cwd,
                capture_output=True,
                text=True,
                env=_git_env(),
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LifecycleError(f"{where}: `git {args[0]}` took more than {self.timeout:.0f}s") from None
        except OSError as exc:
            raise LifecycleError(f"{where}: cannot run {self.git} ({exc.strerror or exc})") from None
        if done.returncode != 0:
            said = " ".join(done.stderr.split())[-600:] or f"exit {done.returncode}"
            raise LifecycleError(
                f"{where}: `git {args[0]}` failed: {said}. Check `lifecycle.repository` and `lifecycle.ref` in "
                "organization.yaml and that this machine can read the repository"
            )


def _git_env() -> dict[str, str]:
    """Git never waits for a password nobody will type: it fails, and the error says why."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env
