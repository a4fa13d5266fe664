"""Random YAML documents never crash the loader: they give models or a RegistryError."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cells import RegistryError, load_registry
from cells.loader import DEFAULT_REGISTRY

SAMPLE = yaml.safe_load((DEFAULT_REGISTRY / "cells" / "alpha.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["aws", "gcp", "prod", "dev", "small", "10.0.0.0/16", "us-east-1", "preprod", "latest"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

# Mutations of a valid cell reach deep validation paths; free-form documents reach the parser's corners.
mutated_cells = st.builds(
    lambda changes, drops: {**{k: v for k, v in SAMPLE.items() if k not in drops}, **changes},
    st.dictionaries(st.sampled_from([*SAMPLE, "extra", "owner", "project_id"]), values, max_size=3),
    st.sets(st.sampled_from(list(SAMPLE)), max_size=2),
)
documents = st.one_of(mutated_cells, values)
raw_text = st.text(alphabet=st.sampled_from(list("abc:-[]{}\n #&*!|>'\"0123456789.")), max_size=80)


def _load_with(cell_text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "registry"
        shutil.copytree(DEFAULT_REGISTRY, root)
        (root / "cells" / "alpha.yaml").write_text(cell_text)
        try:
            registry = load_registry(root)
        except RegistryError as exc:
            assert exc.issues, "a RegistryError always carries at least one issue"
            assert all(issue.file for issue in exc.issues)
        else:
            assert registry.cell("alpha").name == "alpha"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents_give_models_or_registry_errors(document):
    _load_with(yaml.safe_dump(document))


@settings(max_examples=150, deadline=None)
@given(raw_text)
def test_random_text_gives_models_or_registry_errors(text):
    _load_with(text)
