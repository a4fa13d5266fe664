"""Editing tenant files (`tenants/<cell>.yaml`) the way a person would, for review in a pull request.

PyYAML cannot write comments back, so a file is not loaded and dumped again. Instead its text is
edited: PyYAML's parser gives the line span of every entry of `tenants:` (with the comment lines
just above it, which describe it), an entry that leaves is cut out, and an entry that arrives is
pasted in at its place in id order (at the end when the file is not in id order), re-indented to
the file's own indentation. A moved tenant's lines move with it, comments included; a new tenant
is written as the model dumps it, with the file's indentation. Everything else in the file stays
byte for byte. Each edited text is parsed again and must hold exactly the expected tenants; when
a file's shape defeats this (a flow-style list, an empty list) the file is written afresh from its
tenants, keeping only its leading comments, and the caller is told which files those were.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from cells.loader import parse_yaml
from cells.tenants import TENANTS_DIR, TenantEntry, TenantFile, tenant_file_document

SCHEMA_LINE = "# yaml-language-server: $schema=../../schema/tenants.schema.json\n"


class TenantFileError(RuntimeError):
    """A tenant file cannot be edited or written; the message names it."""


@dataclass
class _Block:
    id: str
    lines: list[str]
    indent: int


@dataclass
class _Parsed:
    head: list[str]
    blocks: list[_Block]
    tail: list[str]


@dataclass
class Edits:
    """What changes in one registry: new file texts, and the files written afresh (their comments are lost)."""

    texts: dict[Path, str] = field(default_factory=dict)
    rewritten: list[Path] = field(default_factory=list)


def tenant_path(registry: Path, cell: str) -> Path:
    return registry / TENANTS_DIR / f"{cell}.yaml"


def render_entry(entry: TenantEntry, indent: int = 2) -> list[str]:
    """A new entry as list-item lines at `indent` (defaults left out, like the model's own writer)."""
    data = entry.model_dump(mode="json", exclude_defaults=True)
    # One key a line, a nested value (residency) in flow style on its line, as the sample files write it.
    body = [
        f"{key}: {yaml.safe_dump([value], default_flow_style=True, width=10**6).strip()[1:-1]}\n"
        for key, value in data.items()
    ]
    return [" " * indent + ("- " if i == 0 else "  ") + line for i, line in enumerate(body)]


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _parse(text: str) -> _Parsed | None:
    """The entries of a block-style `tenants:` list with their line spans, or `None` for other shapes."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    seq = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "tenants"), None)
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    starts: list[tuple[int, int, str]] = []
    for item in seq.value:
        if not isinstance(item, yaml.MappingNode) or item.flow_style:
            return None
        ids = [v.value for k, v in item.value if isinstance(k, yaml.ScalarNode) and k.value == "id"]
        line = item.start_mark.line
        dash = lines[line].rfind("-", 0, item.start_mark.column)
        if len(ids) != 1 or dash < 0 or lines[line][:dash].strip():
            return None
        starts.append((line, dash, str(ids[0])))
    last_line = max(seq.end_mark.line, starts[-1][0] + 1)
    blocks: list[_Block] = []
    bounds: list[tuple[int, int]] = []
    for i, (line, dash, tenant) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else min(last_line + 1, len(lines))
        while end - 1 > line and _is_filler(lines[end - 1]):
            end -= 1
        lead = line
        floor = bounds[-1][1] if bounds else 0
        while lead - 1 >= floor and lines[lead - 1].strip().startswith("#"):
            lead -= 1
        bounds.append((lead, end))
        blocks.append(_Block(tenant, lines[lead:end], dash))
    between = [lines[bounds[i][1] : bounds[i + 1][0]] for i in range(len(bounds) - 1)]
    if any(any(not _is_filler(line) for line in gap) for gap in between):
        return None
    # Blank lines between entries go with the entry after them.
    for i, gap in enumerate(between):
        blocks[i + 1].lines = gap + blocks[i + 1].lines
    return _Parsed(lines[: bounds[0][0]], blocks, lines[bounds[-1][1] :])


def _reindent(block: _Block, indent: int) -> list[str]:
    shift = indent - block.indent
    if shift >= 0:
        return [(" " * shift + line) if line.strip() else line for line in block.lines]
    if any(line.strip() and len(line) - len(line.lstrip(" ")) < -shift for line in block.lines):
        return block.lines
    return [line[-shift:] if line.strip() else line for line in block.lines]


def _fresh(cell: str, original: str | None, entries: Sequence[TenantEntry]) -> str:
    comments = []
    for line in (original or SCHEMA_LINE).splitlines(keepends=True):
        if not line.startswith("#"):
            break
        comments.append(line)
    body = yaml.safe_dump(tenant_file_document(cell, entries), sort_keys=False, width=120)
    return "".join(comments or [SCHEMA_LINE]) + body


def _entries_of(text: str, path: Path) -> list[TenantEntry]:
    try:
        return TenantFile.model_validate(parse_yaml(text)).tenants
    except (yaml.YAMLError, ValidationError) as exc:
        raise TenantFileError(f"{path}: cannot read its tenants to edit them: {exc}") from None


def edit_file(
    path: Path, cell: str, remove: Iterable[str], add: Sequence[tuple[TenantEntry, list[str] | None]], edits: Edits
) -> None:
    """Record the new text of one cell's tenant file in `edits`.

    `add` holds each arriving entry with its lines from the file it leaves (`None` for a new tenant).
    """
    original = path.read_text(encoding="utf-8") if path.exists() else None
    current = _entries_of(original, path) if original is not None else []
    gone = set(remove)
    missing = gone - {e.id for e in current}
    if missing:
        raise TenantFileError(f"{path}: has no tenant {', '.join(sorted(missing))} to move out")
    expected = [e for e in current if e.id not in gone] + [entry for entry, _ in add]
    text = _edited(original, gone, add) if original is not None else None
    if text is None or not _holds(text, expected, cell):
        text = _fresh(cell, original, expected)
        if original is not None:
            edits.rewritten.append(path)
    edits.texts[path] = text


def _edited(original: str, gone: set[str], add: Sequence[tuple[TenantEntry, list[str] | None]]) -> str | None:
    parsed = _parse(original)
    if parsed is None:
        return None
    indent = parsed.blocks[0].indent
    kept = [b for b in parsed.blocks if b.id not in gone]
    ordered = [b.id for b in parsed.blocks] == sorted(b.id for b in parsed.blocks)
    for entry, lines in add:
        block = _Block(entry.id, lines or render_entry(entry, indent), indent)
        if lines is not None:
            dash = next(line for line in lines if line.lstrip().startswith("-"))
            source = _Block(entry.id, lines, len(dash) - len(dash.lstrip(" ")))
            block = _Block(entry.id, _reindent(source, indent), indent)
        at = next((i for i, b in enumerate(kept) if b.id > entry.id), len(kept)) if ordered else len(kept)
        kept.insert(at, block)
    if not kept:
        return None
    return "".join(parsed.head + [line for b in kept for line in b.lines] + parsed.tail)


def _holds(text: str, expected: Sequence[TenantEntry], cell: str) -> bool:
    try:
        parsed = TenantFile.model_validate(parse_yaml(text))
    except (yaml.YAMLError, ValidationError):
        return False
    want = {e.id: e for e in expected}
    return parsed.cell == cell and len(parsed.tenants) == len(want) and all(want.get(e.id) == e for e in parsed.tenants)


def entry_lines(path: Path, tenant: str) -> list[str] | None:
    """The lines of one tenant's entry in its file (with the comments above it), to move it elsewhere."""
    parsed = _parse(path.read_text(encoding="utf-8"))
    if parsed is None:
        return None
    block = next((b for b in parsed.blocks if b.id == tenant), None)
    if block is None:
        return None
    # Leading blank lines belong to the gap, not the entry.
    lines = list(block.lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def write_all(texts: Mapping[Path, str]) -> None:
    """Write every file or none: each goes through a temporary file, and a failure restores the others."""
    originals = snapshot(texts)
    written: list[Path] = []
    temporary: Path | None = None
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
            written.append(path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        restore(originals, written)
        raise TenantFileError(f"cannot write {exc.filename or 'a tenant file'}: {exc.strerror or exc}") from None


def restore(originals: Mapping[Path, str | None], paths: Iterable[Path]) -> None:
    """Put files back as they were (`None`: the file did not exist)."""
    for path in paths:
        before = originals.get(path)
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(before, encoding="utf-8")


def snapshot(paths: Iterable[Path]) -> dict[Path, str | None]:
    """Each file's text (`None`: it does not exist yet), to put back if a write fails."""
    texts: dict[Path, str | None] = {}
    for path in paths:
        if path.exists() and not path.is_file():
            raise TenantFileError(f"cannot write {path}: it is not a file")
        texts[path] = path.read_text(encoding="utf-8") if path.exists() else None
    return texts


def move_edits(root: Path, moves: Sequence[tuple[TenantEntry, str, str]]) -> Edits:
    """The edits that move each `(entry, source, destination)`: its lines, comments too, change files."""
    removals: dict[str, list[str]] = {}
    arrivals: dict[str, list[tuple[TenantEntry, list[str] | None]]] = {}
    for entry, source, destination in moves:
        lines = entry_lines(tenant_path(root, source), entry.id)
        removals.setdefault(source, []).append(entry.id)
        arrivals.setdefault(destination, []).append((entry, lines))
    edits = Edits()
    for cell in sorted({*removals, *arrivals}):
        edit_file(tenant_path(root, cell), cell, removals.get(cell, []), arrivals.get(cell, []), edits)
    return edits


def write_checked(edits: Edits, registry: Path | None) -> None:
    """Write the edited files, then validate the whole registry; on any failure put every file back.

    Raises `TenantFileError` with the reason (the registry's own report when it no longer validates).
    """
    from cells import RegistryError, load_registry

    before = snapshot(edits.texts)
    write_all(edits.texts)
    try:
        load_registry(registry)
    except RegistryError as exc:
        restore(before, edits.texts)
        message = f"the edited tenant files would not validate, so nothing was changed:\n{exc.report()}"
        raise TenantFileError(message) from None
