import pytest

from pipelines.runtime.atomic import MARKER, DestinationError, atomic_directory, atomic_write_text


def pyramid_folder(path, *files: str):
    """A folder as pyramid leaves one: its files and the marker."""
    path.mkdir()
    (path / MARKER).touch()
    for name in files:
        (path / name).write_text(name)
    return path


def test_success_renames_staging_into_place_with_the_marker(tmp_path):
    with atomic_directory(tmp_path / "out") as staging:
        (staging / "a.txt").write_text("a")
        assert not (tmp_path / "out").exists()  # invisible until done
    assert (tmp_path / "out" / "a.txt").read_text() == "a" and (tmp_path / "out" / MARKER).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_nothing_behind_and_keeps_the_old_version(tmp_path):
    pyramid_folder(tmp_path / "out", "old.txt")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "out", replace=True) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("crash mid-write")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replace_swaps_the_whole_folder(tmp_path):
    pyramid_folder(tmp_path / "out", "old.txt")
    with atomic_directory(tmp_path / "out", replace=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "new.txt"]


def test_a_folder_pyramid_did_not_write_is_kept_unless_overwrite_is_asked(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    with (
        pytest.raises(DestinationError, match="mine: exists and pyramid did not write it; .* --overwrite"),
        atomic_directory(tmp_path / "mine", replace=True),
    ):
        pass
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work"
    with atomic_directory(tmp_path / "mine", replace=True, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert not (tmp_path / "mine" / "thesis.tex").exists()


@pytest.mark.parametrize("destination", [".", "..", "../..", "sub"])
def test_a_destination_overlapping_its_source_is_refused_even_with_overwrite(tmp_path, destination):
    source = tmp_path / "data" / "source"
    source.mkdir(parents=True)
    (source / "episode.parquet").write_text("data")
    with (
        pytest.raises(DestinationError, match="overlaps"),
        atomic_directory(source / destination, replace=True, protect=[source], overwrite=True),
    ):
        pass
    assert (source / "episode.parquet").read_text() == "data"


def test_atomic_write_text_replaces_in_one_step_with_a_unique_temporary(tmp_path):
    atomic_write_text(tmp_path / "a" / "list.yaml", "one")
    atomic_write_text(tmp_path / "a" / "list.yaml", "two")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["list.yaml"] and (
        tmp_path / "a" / "list.yaml"
    ).read_text() == "two"


def test_existing_destination_without_replace_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError), atomic_directory(tmp_path / "out"):
        pass
