"""Tenant file edits, the next free cell name and network, and the proposed cell."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cellctl.tenants.files import Edits, TenantFileError, edit_file, entry_lines, render_entry, write_all
from cellctl.tenants.model import Tenant
from cellctl.tenants.newcell import ProposalError, next_name, propose_cell
from cells.tenants import TenantEntry
from components.cidr import first_free

ENTRY = TenantEntry.model_validate(
    {"id": "bravo", "display_name": "Bravo", "environment": "prod", "daily_requests": 5, "pinned": True}
)
FILE = """# header comment
cell: alpha
tenants:
# about alpha-one
- id: alpha-one
  display_name: One   # inline
  environment: prod
  daily_requests: 1

- id: charlie
  display_name: Charlie
  environment: prod
  daily_requests: 3
# trailing comment
"""


def test_insert_keeps_everything_else_and_follows_the_file_indent(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_text(FILE)
    edits = Edits()
    edit_file(path, "alpha", (), [(ENTRY, None)], edits)
    text = edits.texts[path]
    assert edits.rewritten == []
    assert "- id: bravo\n  display_name: Bravo\n  environment: prod\n  daily_requests: 5\n  pinned: true\n" in text
    assert text.index("alpha-one") < text.index("bravo") < text.index("charlie")
    for kept in ("# header comment", "# about alpha-one", "One   # inline", "# trailing comment"):
        assert kept in text


def test_remove_takes_the_comment_above_the_entry_with_it(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_text(FILE)
    lines = entry_lines(path, "alpha-one")
    assert lines is not None and lines[0] == "# about alpha-one\n"
    edits = Edits()
    edit_file(path, "alpha", ["alpha-one"], [], edits)
    text = edits.texts[path]
    assert "about alpha-one" not in text and "alpha-one" not in text
    assert "# header comment" in text and "# trailing comment" in text
    assert [t["id"] for t in yaml.safe_load(text)["tenants"]] == ["charlie"]


def test_a_moved_entry_is_reindented_to_its_new_file(tmp_path: Path) -> None:
    source, dest = tmp_path / "alpha.yaml", tmp_path / "beta.yaml"
    source.write_text(FILE)
    dest.write_text(
        "cell: beta\ntenants:\n  - id: delta\n    display_name: D\n    environment: prod\n    daily_requests: 1\n"
    )
    moved = next(e for e in yaml_entries(FILE) if e.id == "alpha-one")
    edits = Edits()
    edit_file(dest, "beta", (), [(moved, entry_lines(source, "alpha-one"))], edits)
    assert "  # about alpha-one\n  - id: alpha-one\n    display_name: One   # inline\n" in edits.texts[dest]


def yaml_entries(text: str) -> list[TenantEntry]:
    return [TenantEntry.model_validate(t) for t in yaml.safe_load(text)["tenants"]]


def test_a_flow_style_file_is_written_afresh_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_text("# kept: leading comments\ncell: alpha\ntenants: []\n")
    edits = Edits()
    edit_file(path, "alpha", (), [(ENTRY, None)], edits)
    assert edits.rewritten == [path]
    assert edits.texts[path].startswith("# kept: leading comments\ncell: alpha\n")
    assert [e.id for e in yaml_entries(edits.texts[path])] == ["bravo"]


def test_removing_a_tenant_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_text(FILE)
    with pytest.raises(TenantFileError, match="has no tenant ghost"):
        edit_file(path, "alpha", ["ghost"], [], Edits())


def test_a_new_file_gets_the_schema_line(tmp_path: Path) -> None:
    path = tmp_path / "tenants" / "gamma.yaml"
    edits = Edits()
    edit_file(path, "gamma", (), [(ENTRY, None)], edits)
    write_all(edits.texts)
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../../schema/tenants.schema.json\ncell: gamma\n"
    )


def test_next_name_follows_the_scheme() -> None:
    assert next_name({"alpha", "beta", "gamma", "staging", "dev-jdoe"}) == "delta"
    assert next_name({"alpha", "gamma"}) == "beta"
    assert next_name({"c0000", "c0001", "c0999", "alpha"}) == "c1000"
    assert next_name(set()) == "alpha"


def test_first_free_skips_used_blocks_and_aligns() -> None:
    used = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/16", "10.1.0.0/20", "10.2.0.0/16")]
    ranges = [ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("172.16.0.0/12")]
    assert str(first_free(used, 16, ranges)) == "10.3.0.0/16"
    assert str(first_free(used, 20, ranges)) == "10.1.16.0/20"
    full = [ipaddress.IPv4Network("10.0.0.0/8")]
    assert str(first_free(full, 16, ranges)) == "172.16.0.0/16"
    assert first_free([*full, ranges[1]], 16, ranges) is None


def test_proposal_respects_residency_and_the_environment(registry) -> None:
    sandbox = Tenant("sbx", 10, environments=frozenset({"preprod", "dev"}))
    proposal = propose_cell(registry, sandbox)
    assert proposal.document["environment"] == "preprod" and proposal.document["wave"] == "preprod"
    eu_gcp = Tenant("eu", 10, regions=frozenset({"europe-west1"}), environments=frozenset({"prod"}))
    document = propose_cell(registry, eu_gcp).document
    assert (document["cloud"], document["region"]) == ("gcp", "europe-west1")
    assert document["project_id"] == "acme-cell-delta"  # beta's project id with the new name
    used = [c.network.cidr for c in registry.cells]
    assert not any(ipaddress.IPv4Network(document["network"]["cidr"]).overlaps(n) for n in used)
    with pytest.raises(ProposalError, match="no region the organization allows"):
        propose_cell(registry, Tenant("x", 1, regions=frozenset({"ap-south-1"})))


NAMES = st.text(alphabet="abc-: #'\"é", min_size=1, max_size=12).filter(lambda s: s.strip() == s and s.strip())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["a1", "b2", "c3", "d4", "e5", "f6"]), unique=True, min_size=1),
    st.data(),
)
def test_edits_of_any_block_file_parse_back_to_the_expected_tenants(ids: list[str], data: st.DataObject) -> None:
    entries = [
        TenantEntry.model_validate(
            {"id": i, "display_name": data.draw(NAMES), "environment": "prod", "daily_requests": n}
        )
        for n, i in enumerate(ids)
    ]
    indent = data.draw(st.sampled_from([0, 2, 4]))
    text = "cell: alpha\ntenants:\n" + "".join(
        ("  # note\n" if k % 2 else "") + "".join(render_entry(e, indent)) for k, e in enumerate(entries)
    )
    remove = data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids) - 1))
    new = TenantEntry.model_validate(
        {"id": "z9", "display_name": data.draw(NAMES), "environment": "prod", "daily_requests": 7}
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alpha.yaml"
        path.write_text(text)
        edits = Edits()
        edit_file(path, "alpha", remove, [(new, None)], edits)
    assert edits.rewritten == []
    result = yaml_entries(edits.texts[path])
    assert sorted(e.id for e in result) == sorted([*(i for i in ids if i not in remove), "z9"])
    assert next(e for e in result if e.id == "z9") == new


def test_write_all_puts_every_file_back_when_one_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, third = tmp_path / "alpha.yaml", tmp_path / "new.yaml", tmp_path / "gamma.yaml"
    first.write_text("before\n")
    real = os.replace
    calls: list[object] = []

    def flaky(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(TenantFileError, match=r"cannot write .*gamma\.yaml: No space left"):
        write_all({first: "after\n", second: "new\n", third: "x\n"})
    assert first.read_text() == "before\n"
    assert not second.exists() and not third.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.yaml"]  # no temporary file left behind


def test_write_all_refuses_a_directory_before_writing_anything(tmp_path: Path) -> None:
    first, blocked = tmp_path / "alpha.yaml", tmp_path / "beta.yaml"
    first.write_text("before\n")
    blocked.mkdir()
    with pytest.raises(TenantFileError, match="it is not a file"):
        write_all({first: "after\n", blocked: "x\n"})
    assert first.read_text() == "before\n"
