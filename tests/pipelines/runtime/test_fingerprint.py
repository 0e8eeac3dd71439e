"""Fingerprints of inputs and code: a change of what a step reads or runs is seen, anything else is not."""

import os

from pipelines.runtime.fingerprint import _module_files, code_version, inputs_fingerprint, sha256_file
from tests.conftest import REPO_ROOT


def relative(paths) -> set[str]:
    return {str(p.relative_to(REPO_ROOT)) for p in paths}


def test_a_code_version_covers_what_its_modules_import_and_nothing_else():
    ingest = relative(_module_files(("pipelines.ingest.sources",)))
    assert {"pipelines/lerobot/reader.py", "pipelines/ingest/oxe.py", "schemas/embodiment.py"} <= ingest
    assert "pipelines/lerobot/__init__.py" in ingest  # a package's __init__ runs before its modules
    assert not {"assets/cli.py", "pipelines/release/store.py", "policy/train.py"} & ingest
    policy = relative(_module_files(("policy.train",)))
    assert "policy/model.py" in policy and "pipelines/ingest/oxe.py" not in policy
    assert code_version("pipelines.ingest.sources") != code_version("policy.train")
    assert code_version("pipelines.ingest.sources").startswith("0.1.0+")


def test_an_inputs_fingerprint_changes_with_a_file_the_settings_or_the_code(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.bin").write_bytes(b"one")
    base = inputs_fingerprint([tmp_path / "data"], settings={"fps": 20}, code="x")
    assert inputs_fingerprint([tmp_path / "data"], settings={"fps": 20}, code="x") == base
    assert inputs_fingerprint([tmp_path / "data"], settings={"fps": 30}, code="x") != base
    assert inputs_fingerprint([tmp_path / "data"], settings={"fps": 20}, code="y") != base
    os.utime(tmp_path / "data" / "a.bin", ns=(1, 1))  # touched: its modification time changed
    assert inputs_fingerprint([tmp_path / "data"], settings={"fps": 20}, code="x") != base
    (tmp_path / "data" / "b.bin").write_bytes(b"")
    assert len({inputs_fingerprint([tmp_path / "data"], code="x"), base}) == 2


def test_sha256_file_is_the_files_digest(tmp_path):
    (tmp_path / "f").write_bytes(b"abc" * 1_000_000)
    import hashlib

    assert sha256_file(tmp_path / "f", chunk_bytes=4096) == hashlib.sha256(b"abc" * 1_000_000).hexdigest()
