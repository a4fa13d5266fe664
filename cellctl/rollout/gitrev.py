"""Source revisions: which commit a run deploys, and disposable checkouts to run the program from.

Every run deploys from a temporary `git worktree`, never from the operator's checkout: a
rollout from one of HEAD with the checkout's uncommitted changes copied over (`snapshot`), a
rollback from one of the earlier revision (`GitWorktrees.checkout`). Whatever the CLI writes
there (an encryption salt in a stack file, a rewritten Pulumi.yaml) goes away with it.
"""

from __future__ import annotations

import shlex
import shutil
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
    """HEAD's commit, with `+dirty` when the checkout differs from it (such a run cannot be re-checked-out).

    Untracked files that are not ignored count: `snapshot` deploys them, and the CLI's own
    `git.dirty` (`git status --porcelain`) counts them too.
    """
    try:
        head = _git(project_dir, "rev-parse", "HEAD")
    except (RevisionError, OSError):
        return "unknown"
    try:
        dirty = bool(_git(project_dir, "status", "--porcelain", "--untracked-files=normal"))
    except RevisionError:
        dirty = False
    return head + (DIRTY if dirty else "")


def is_checkoutable(revision: str | None) -> bool:
    return bool(revision) and revision != "unknown" and not str(revision).endswith(DIRTY)


#: What a plain copy of a project that is not a git checkout leaves out.
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".honeycomb", "__pycache__", ".*_cache")


class GitWorktrees:
    """Temporary `git worktree`s of the project at a given commit."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)

    @contextmanager
    def checkout(self, revision: str) -> Iterator[Path]:
        """The project's directory in a worktree of `revision` (a subdirectory of it, for a project in one)."""
        if not is_checkoutable(revision):
            raise RevisionError(f"revision {revision!r} has no clean commit to check out")
        parent = Path(tempfile.mkdtemp(prefix="honeycomb-run-"))
        path = parent / revision[:12]
        try:
            prefix = _git(self.project_dir, "rev-parse", "--show-prefix")
            _git(self.project_dir, "worktree", "add", "--detach", str(path), revision)
            yield path / prefix
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)],
                cwd=self.project_dir,
                capture_output=True,
                check=False,
            )
            subprocess.run(["git", "worktree", "prune"], cwd=self.project_dir, capture_output=True, check=False)
            shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def snapshot(project_dir: Path) -> Iterator[Path]:
    """A disposable copy of the checkout as it is: HEAD's worktree plus its uncommitted changes."""
    project_dir = Path(project_dir)
    if current_revision(project_dir) == "unknown":
        parent = Path(tempfile.mkdtemp(prefix="honeycomb-run-"))
        try:
            shutil.copytree(project_dir, parent / "project", ignore=_NOT_COPIED, symlinks=True)
            yield parent / "project"
        finally:
            shutil.rmtree(parent, ignore_errors=True)
        return
    with GitWorktrees(project_dir).checkout(_git(project_dir, "rev-parse", "HEAD")) as path:
        # --no-renames: a rename is listed as a deletion and an addition, so the old path goes too.
        # --relative: paths under the project directory, relative to it, as `ls-files` gives them.
        changed = _git(project_dir, "diff", "--name-only", "--no-renames", "--relative", "-z", "HEAD").split("\0")
        untracked = _git(project_dir, "ls-files", "-z", "--others", "--exclude-standard").split("\0")
        for name in filter(None, [*changed, *untracked]):
            source, target = project_dir / name, path / name
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            else:
                target.unlink(missing_ok=True)
        yield path


def rollback_command(revision: str, stacks: list[str], venv: Path | None = None) -> str:
    """The shell commands that re-deploy `stacks` from a clean checkout of `revision`.

    A fresh worktree has no `.venv`: it gets a link to `venv` (one with the project's
    dependencies), which is what its Pulumi.yaml names. The link is an untracked file to git
    (`.venv/` ignores directories only), so the CLI records the update as `git.dirty`: the
    update message names the revision, as a rollout's do, so a later rollback still finds it.
    """
    where = f".honeycomb/worktrees/{revision[:12]}"
    message = shlex.quote(f"honeycomb: revision {revision}")
    ups = " && ".join(f"pulumi up --yes --stack {shlex.quote(s)} --message {message}" for s in stacks)
    link = f" && ln -s {shlex.quote(str(venv))} {where}/.venv" if venv is not None else ""
    return (
        f"git worktree add --detach {where} {shlex.quote(revision)}{link} && (cd {where} && {ups}); "
        f"git worktree remove --force {where}"
    )


def uncommitted_files(project_dir: Path, path: str) -> list[str]:
    """Files under `path` that differ from HEAD or are not tracked ([] outside a git checkout)."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", path],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return []
    return [line[3:] for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []
