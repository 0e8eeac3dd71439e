import pytest
from pydantic import ValidationError

from schemas.pyramid import Layer, Lineage, ManifestEntry, SourceKind, layer_of


def entry(**overrides) -> ManifestEntry:
    fields = {
        "dataset": "bridge",
        "source": SourceKind.OXE,
        "layer": Layer.REAL_ROBOT,
        "embodiment": "widowx",
        "episodes": 25,
        "frames": 250,
        "hours": 250 / 5 / 3600,
        "mixture_weight": 0.3,
        "lineage": Lineage(
            inputs=["rlds/bridge_dataset/1.0.0"], code_version="0.1.0", model_checkpoints={"idm": "ab12"}
        ),
    }
    return ManifestEntry(**{**fields, **overrides})


def test_every_source_kind_has_its_layer():
    assert {k: layer_of(k) for k in SourceKind} == {
        SourceKind.TELEOP: Layer.REAL_ROBOT,
        SourceKind.OXE: Layer.REAL_ROBOT,
        SourceKind.HUMAN_VIDEO: Layer.HUMAN_WEB,
        SourceKind.NEURAL: Layer.SYNTHETIC,
        SourceKind.SIM: Layer.SYNTHETIC,
    }


def test_manifest_entry_round_trips_through_json():
    original = entry()
    assert ManifestEntry.model_validate_json(original.model_dump_json()) == original


def test_manifest_entry_refuses_a_source_in_the_wrong_layer():
    with pytest.raises(ValidationError, match="belongs to layer 'synthetic'"):
        entry(source=SourceKind.SIM, layer=Layer.REAL_ROBOT)


def test_manifest_entry_refuses_negative_counts_and_unknown_fields():
    with pytest.raises(ValidationError):
        entry(frames=-1)
    with pytest.raises(ValidationError):
        ManifestEntry.model_validate({**entry().model_dump(), "colour": "red"})


HOSTILE = [
    "../../../X",
    "..",
    ".",
    "",
    "/etc/passwd",
    "a/../../b",
    "a\\..\\b",
    "~/x",
    "C:\\x",
    "a//b",
    "a/./b",
    "datasets/../../x",
    "\x00",
    " ",
    "-rf",
]


def strings(count: int, seed: int = 0) -> list[str]:
    """The hostile names above and ``count`` random ones from the characters that build paths."""
    import random

    rng = random.Random(seed)
    alphabet = [".", "/", "\\", "a", "~", " ", "-", "_", "\x00", ":", "..", "b"]
    return [*HOSTILE, *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(count))]


@pytest.mark.parametrize("field", ["dataset", "path"])
def test_no_manifest_name_or_path_resolves_outside_the_release_or_destination(field, tmp_path):
    """Property: whatever a manifest says, a dataset's name under an export destination and its path under the
    release folder either fail validation or resolve inside."""
    root = (tmp_path / "root").resolve()
    accepted = 0
    for value in strings(3000):
        try:
            validated = entry(**{field: value})
        except ValidationError:
            continue
        accepted += 1
        resolved = (root / getattr(validated, field)).resolve()
        assert resolved == root or root in resolved.parents, (field, value)
    assert accepted > 10  # the property was exercised on names that pass, not only on refusals
