"""A stack's config as `pulumi preview` would hand it to the program, for the offline plan.

Reads the `config:` map of `stacks/Pulumi.<stack>.yaml` (Pulumi's stack settings file) and applies
`--config KEY=VALUE` overrides on top, like `pulumi preview --config`. Values reach the program
the way the engine passes them: strings as they are, numbers and booleans as their text,
structured values (lists, maps) as JSON, which `pulumi.Config.get_object` parses back.

Secure values (`{secure: <ciphertext>}`) cannot be decrypted offline (no secrets provider, no
passphrase): they become `[secret]`, the placeholder Pulumi itself shows for a secret it does not
reveal, and their keys are marked secret, so the program sees a secret string it can read but not
a real credential. A key without a namespace gets the project's (`honeycomb:`), as the CLI does.
A missing stack file is an empty config (the engine would create the stack with none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import stacks

PROJECT = "honeycomb"
STACKS_DIR = Path(stacks.__file__).parent
#: What Pulumi shows for a secret it does not decrypt.
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a placeholder, not a credential
#: `namespace:name` with at most one namespace; names may hold letters, digits, `_`, `-`, `.`, `/`.
_KEY = re.compile(r"^(?:[A-Za-z0-9_.-]+:)?[A-Za-z_][\w./-]*$")


class StackConfigError(ValueError):
    """A stack file or a `--config` override cannot be read; the message names it."""


@dataclass(frozen=True)
class StackConfig:
    values: dict[str, str] = field(default_factory=dict)
    """Fully qualified key -> the string the program reads."""
    secret_keys: frozenset[str] = frozenset()
    """Keys whose values are secrets (secure in the file)."""


def stack_file(stack: str, directory: Path | None = None) -> Path:
    return (directory or STACKS_DIR) / f"Pulumi.{stack}.yaml"


def qualify(key: str, where: str) -> str:
    """`key` with the project namespace when it has none; a malformed key is an error naming `where`."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise StackConfigError(
            f"{where}: {key!r} is not a config key: use <namespace>:<name> (e.g. honeycomb:managementStack) or a "
            "bare name for this project's namespace"
        )
    return key if ":" in key else f"{PROJECT}:{key}"


def _as_text(value: Any, secrets: list[bool]) -> Any:
    """A file value as the engine encodes it; secure values become the placeholder (and mark the key secret)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            secrets.append(True)
            return SECRET_PLACEHOLDER
        return {str(k): _as_text(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v, secrets) for v in value]
    return value


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def read_file(path: Path) -> StackConfig:
    """The `config:` map of one stack settings file."""
    if not path.exists():
        return StackConfig()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise StackConfigError(f"cannot read the stack config {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise StackConfigError(f"the stack config {path} is not valid YAML{where}: {problem}") from None
    if doc is None:
        return StackConfig()
    if not isinstance(doc, dict):
        raise StackConfigError(f"the stack config {path} must be a mapping with a `config:` map")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise StackConfigError(f"{path}: `config:` must be a map of <namespace>:<name> keys to values")
    values: dict[str, str] = {}
    secret: set[str] = set()
    for key, raw in config.items():
        name = qualify(key, str(path))
        if ":" not in str(key):
            raise StackConfigError(f"{path}: config key {key!r} has no namespace; stack files name it in full ({name})")
        marks: list[bool] = []
        values[name] = _encode(_as_text(raw, marks))
        if marks:
            secret.add(name)
    return StackConfig(values, frozenset(secret))


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """`--config KEY=VALUE` items as qualified keys; the value is passed as the string it is."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StackConfigError(f"--config {item!r}: expected KEY=VALUE (e.g. honeycomb:managementStack=management)")
        out[qualify(key, f"--config {item!r}")] = value
    return out


def load(stack: str, overrides: Mapping[str, str] | None = None, directory: Path | None = None) -> StackConfig:
    """The config `stack`'s program sees: its file, then the (already qualified) overrides."""
    base = read_file(stack_file(stack, directory))
    values = {**base.values, **(overrides or {})}
    return StackConfig(values, frozenset(k for k in base.secret_keys if k not in (overrides or {})))


def load_configs(stacks: Iterable[str], override_items: Iterable[str]) -> dict[str, StackConfig]:
    """Every stack's config with the same `--config` overrides, read up front so bad input stops the run."""
    overrides = parse_overrides(override_items)
    return {stack: load(stack, overrides) for stack in stacks}
