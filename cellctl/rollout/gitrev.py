"""Source revisions: which commit a run deploys, and clean checkouts of earlier ones for rollbacks."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DIRTY = "+dirty"


class RevisionError(RuntimeError):
    pass


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RevisionError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def current_revision(project_dir: Path) -> str:
    """HEAD's commit, with `+dirty` when tracked files differ from it (such a run cannot be re-checked-out)."""
    try:
        head = _git(project_dir, "rev-parse", "HEAD")
    except (RevisionError, OSError):
        return "unknown"
    try:
        dirty = bool(_git(project_dir, "status", "--porcelain", "--untracked-files=no"))
    except RevisionError:
        dirty = False
    return head + (DIRTY if dirty else "")


def is_checkoutable(revision: str | None) -> bool:
    return bool(revision) and revision != "unknown" and not str(revision).endswith(DIRTY)


class GitWorktrees:
    """Temporary `git worktree`s of the project at a given commit."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)

    @contextmanager
    def checkout(self, revision: str) -> Iterator[Path]:
        if not is_checkoutable(revision):
            raise RevisionError(f"revision {revision!r} has no clean commit to check out")
        parent = Path(tempfile.mkdtemp(prefix="honeycomb-rollback-"))
        path = parent / revision[:12]
        _git(self.project_dir, "worktree", "add", "--detach", str(path), revision)
        try:
            yield path
        finally:
            try:
                _git(self.project_dir, "worktree", "remove", "--force", str(path))
            finally:
                subprocess.run(["git", "worktree", "prune"], cwd=self.project_dir, capture_output=True, check=False)
                if parent.exists():
                    import shutil

                    shutil.rmtree(parent, ignore_errors=True)


def rollback_command(revision: str, stacks: list[str]) -> str:
    """The shell commands that re-deploy `stacks` from a clean checkout of `revision`."""
    where = f".honeycomb/worktrees/{revision[:12]}"
    ups = " && ".join(f"pulumi up --yes --stack {shlex.quote(s)}" for s in stacks)
    return (
        f"git worktree add --detach {where} {shlex.quote(revision)} && (cd {where} && {ups}); "
        f"git worktree remove --force {where}"
    )
