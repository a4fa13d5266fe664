"""`stacks.build`: each stack name reaches its program; bad names fail with the valid stacks listed."""

from __future__ import annotations

import pytest

import stacks
from cells import Registry
from stacks import StackNotImplementedError, UnknownStackError, cell_aws, cell_gcp, management, resolve, routing


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Replace the four programs with recorders."""
    seen: list[tuple[str, str | None]] = []
    monkeypatch.setattr(cell_aws, "program", lambda registry, cell: seen.append(("aws", cell.name)))
    monkeypatch.setattr(cell_gcp, "program", lambda registry, cell: seen.append(("gcp", cell.name)))
    monkeypatch.setattr(management, "program", lambda registry: seen.append(("management", None)))
    monkeypatch.setattr(routing, "program", lambda registry: seen.append(("routing", None)))
    return seen


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("cell-alpha", ("aws", "alpha")),
        ("cell-dev-jdoe", ("aws", "dev-jdoe")),
        ("cell-beta", ("gcp", "beta")),
        ("management", ("management", None)),
        ("routing", ("routing", None)),
    ],
)
def test_each_stack_reaches_its_program(registry: Registry, calls: list, stack: str, expected: tuple) -> None:
    stacks.build(stack, registry)
    assert calls == [expected]


def test_every_stack_the_registry_implies_resolves(registry: Registry, calls: list) -> None:
    for stack in registry.stack_names:
        resolve(stack, registry)()
    assert len(calls) == len(registry.cells) + 2


@pytest.mark.parametrize("stack", ["prod", "cell-", "alpha", "cell-nope", "Cell-alpha", "management-2"])
def test_unknown_stack_lists_the_valid_stacks(registry: Registry, stack: str) -> None:
    with pytest.raises(UnknownStackError) as err:
        resolve(stack, registry)
    message = str(err.value)
    assert repr(stack) in message
    for valid in registry.stack_names:
        assert valid in message


def test_unknown_cell_names_the_missing_cell(registry: Registry) -> None:
    with pytest.raises(UnknownStackError, match=r"no cell named 'nope' in the registry"):
        stacks.build("cell-nope", registry)


def test_unwritten_program_says_which_stack_cannot_be_deployed(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unwritten(registry: Registry) -> None:
        raise NotImplementedError("the management stack program is not written yet")

    monkeypatch.setattr(management, "program", unwritten)
    with pytest.raises(StackNotImplementedError) as err:
        stacks.build("management", registry)
    assert str(err.value) == (
        "stack 'management' cannot be deployed yet: the management stack program is not written yet"
    )


def test_other_program_errors_pass_through_unchanged(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(registry: Registry, cell: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(cell_aws, "program", broken)
    with pytest.raises(ValueError, match=r"^boom$"):
        stacks.build("cell-alpha", registry)


def test_build_defaults_to_the_current_pulumi_stack(registry: Registry, calls: list, monkeypatch) -> None:
    import pulumi

    monkeypatch.setattr(pulumi, "get_stack", lambda: "cell-gamma")
    stacks.build(registry=registry)
    assert calls == [("aws", "gamma")]
