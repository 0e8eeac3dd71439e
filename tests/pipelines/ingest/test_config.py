"""Source files: parsing with {home} and relative paths, errors naming the file and field, the three places
sources come from and which one wins, and the home's own list kept by the CLI."""

import pytest
import yaml

from pipelines.ingest.config import (
    SourceConfig,
    SourceFileError,
    add_home_source,
    discover_drop_sources,
    load_sources,
    remove_home_source,
    source_origins,
)
from schemas.errors import InputError
from schemas.home import Home
from schemas.pyramid import SourceKind


def write(path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))


def test_paths_resolve_against_the_file_and_the_home(tmp_path):
    write(
        tmp_path / "conf" / "sources.yaml",
        {
            "teleop": [
                {"name": "a", "path": "../data/a", "format": "lerobot"},
                {"name": "b", "path": "{home}/raw/b.hdf5", "format": "robomimic", "embodiment": "robosuite_panda"},
            ],
        },
    )
    sources = load_sources(tmp_path / "conf" / "sources.yaml", Home(tmp_path / "home"))
    assert [s.path for s in sources.teleop] == [tmp_path / "data" / "a", tmp_path / "home" / "raw" / "b.hdf5"]
    assert sources.get(SourceKind.TELEOP, "b").embodiment == "robosuite_panda"


@pytest.mark.parametrize(
    "document, message",
    [
        ({"teleop": [{"name": "A b", "path": "x", "format": "lerobot"}]}, "field teleop.0.name: String should match"),
        ({"teleop": [{"name": "a", "path": "x", "format": "csv"}]}, "field teleop.0.format: Input should be"),
        ({"robots": []}, "field robots: Extra inputs are not permitted"),
    ],
)
def test_a_bad_sources_file_names_the_file_and_the_field(tmp_path, document, message):
    write(tmp_path / "sources.yaml", document)
    with pytest.raises(SourceFileError, match=message) as raised:
        load_sources(tmp_path / "sources.yaml", Home(tmp_path))
    assert str(raised.value).startswith(str(tmp_path / "sources.yaml"))


def test_the_declared_file_then_the_homes_list_then_the_drop_folder_and_the_first_name_wins(tmp_path):
    home = Home(tmp_path / "home")
    write(tmp_path / "sources.yaml", {"teleop": [{"name": "a", "path": "/data/a", "format": "lerobot"}]})
    add_home_source(home, SourceKind.TELEOP, SourceConfig(name="b", path=tmp_path / "b", format="lerobot"))
    (home.drop / "teleop" / "c" / "meta").mkdir(parents=True)
    (home.drop / "teleop" / "c" / "meta" / "info.json").write_text("{}")
    found = [(kind, s.name, origin) for kind, s, origin in source_origins(tmp_path / "sources.yaml", home)]
    assert found == [
        (SourceKind.TELEOP, "a", str(tmp_path / "sources.yaml")),
        (SourceKind.TELEOP, "b", str(home.sources_file)),
        (SourceKind.TELEOP, "drop_c", str(home.drop)),
    ]
    with pytest.raises(InputError, match="a source named 'b' exists"):
        add_home_source(home, SourceKind.OXE, SourceConfig(name="b", path=tmp_path / "x", format="rlds"))
    assert remove_home_source(home, "b")[1].name == "b"
    assert [s.name for _, s, _ in source_origins(tmp_path / "sources.yaml", home)] == ["a", "drop_c"]
    with pytest.raises(InputError, match="no source named 'b'"):
        remove_home_source(home, "b")


def test_a_dropped_robomimic_file_needs_its_embodiment_beside_it(tmp_path):
    (tmp_path / "teleop").mkdir()
    (tmp_path / "teleop" / "demos.hdf5").write_bytes(b"")
    assert discover_drop_sources(tmp_path).teleop == []  # no demos.yaml: its robot cannot be told
    (tmp_path / "teleop" / "demos.yaml").write_text("embodiment: robosuite_panda\n")
    (dropped,) = discover_drop_sources(tmp_path).teleop
    assert (dropped.name, dropped.format, dropped.embodiment) == ("drop_demos", "robomimic", "robosuite_panda")


def test_human_video_curation_is_set_per_source_and_checked(tmp_path):
    clips = {"name": "clips", "path": "videos", "format": "video_folder"}
    write(tmp_path / "sources.yaml", {"human_video": [{**clips, "curation": {"fps": 10, "size": [48, 64]}}]})
    (source,) = load_sources(tmp_path / "sources.yaml", Home(tmp_path / "home")).human_video
    assert (source.curation.fps, source.curation.size, source.curation.clip_seconds) == (10, (48, 64), 4.0)
    write(tmp_path / "odd.yaml", {"human_video": [{**clips, "curation": {"size": [47, 64]}}]})
    with pytest.raises(SourceFileError, match=r"odd\.yaml: field human_video\.0\.curation\.size: .*must be even"):
        load_sources(tmp_path / "odd.yaml", Home(tmp_path / "home"))
    write(tmp_path / "typo.yaml", {"human_video": [{**clips, "curation": {"fsp": 10}}]})
    with pytest.raises(SourceFileError, match=r"field human_video\.0\.curation\.fsp: Extra inputs"):
        load_sources(tmp_path / "typo.yaml", Home(tmp_path / "home"))


def test_the_curation_defaults_quoted_in_the_docs_are_the_codes():
    import re

    from pipelines.ingest.config import HumanVideoConfig
    from tests.conftest import REPO_ROOT

    text = (REPO_ROOT / "docs" / "ingest.md").read_text().replace("\n", " ")
    quoted = dict(
        re.findall(r"`(\w+)` (\[[\d, ]+\]|[\d.]+)", text.split("Every threshold is")[1].split("by default")[0])
    )
    defaults = HumanVideoConfig().model_dump()
    assert set(quoted) == set(defaults)
    assert {name: yaml.safe_load(value) for name, value in quoted.items()} == {
        name: list(value) if isinstance(value, tuple) else value for name, value in defaults.items()
    }
