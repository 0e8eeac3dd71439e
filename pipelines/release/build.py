"""Build the pyramid: every ingested dataset merged per (source, embodiment), checked, weighted, manifested.

The result, ``<home>/pyramid``, is a complete release candidate: ``datasets/<source>__<embodiment>/``
(LeRobot v3.0), ``manifest.parquet`` (one row per dataset), ``pyramid.png`` (hours per layer) and, last,
``manifest.json`` (``ReleaseManifest``: version, datasets, sha256 of every file). It is built in staging
and swapped in atomically. A group whose input datasets and code are unchanged is carried over from the
previous build by hard links, so a nightly build with no new data does almost no work.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from pipelines.lerobot import layout
from pipelines.lerobot.inventory import DatasetSummary, summarise_home
from pipelines.lerobot.merge import merge_datasets
from pipelines.plots import pyramid_chart_png
from pipelines.release.manifest import CHART, DATASETS_DIR, MANIFEST, MANIFEST_TABLE, file_entries, load_manifest
from pipelines.runtime.atomic import atomic_directory
from pipelines.runtime.fingerprint import code_version, inputs_fingerprint, sha256_file
from schemas.errors import InputError
from schemas.home import LAYER_VALUE_FILE, Home, as_home
from schemas.pyramid import FileEntry, LayerValueSummary, Lineage, ManifestEntry, MixturePolicy, ReleaseManifest

__all__ = ["PyramidBuild", "build_pyramid", "pyramid_groups"]


Validator = Callable[[Path], dict[str, bool]]


@dataclass
class PyramidBuild:
    folder: Path
    manifest: ReleaseManifest
    rebuilt: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def pyramid_groups(home: Home | Path) -> dict[str, list[DatasetSummary]]:
    """Ingested datasets grouped as they merge: ``<source>__<embodiment>`` -> datasets, sorted by name."""
    groups: dict[str, list[DatasetSummary]] = defaultdict(list)
    for summary in summarise_home(home):
        groups[f"{summary.source.value}__{summary.embodiment}"].append(summary)
    return dict(sorted(groups.items()))


def _quality(root: Path) -> dict[str, bool]:
    from pipelines.quality import validate_dataset  # Great Expectations: ~12 s to import, only when building

    return {"quality": validate_dataset(root).success}


def build_pyramid(
    home: Home | Path,
    policy: MixturePolicy | None = None,
    *,
    validate: Validator = _quality,
    log: Callable[[str], None] = lambda message: None,
) -> PyramidBuild:
    """(Re)build ``<home>/pyramid`` from the datasets ingested under ``<home>/datasets``.

    ``validate(root)`` returns check name -> passed for a merged dataset; results go into the manifest,
    and a release with a failed check is refused at publishing.
    """
    home = as_home(home)
    policy = policy or MixturePolicy()
    destination = home.pyramid
    previous = load_manifest(destination)
    previous_entries = {entry.dataset: entry for entry in previous.datasets} if previous else {}
    groups = pyramid_groups(home)
    if not groups:
        raise ValueError(f"{home.datasets}: no ingested datasets to build a pyramid from")
    code = code_version(__name__)
    fingerprints = {name: inputs_fingerprint([m.root for m in members], code=code) for name, members in groups.items()}
    layer_value = measured_layer_value(home)
    unchanged = (
        previous is not None
        and previous.mixture_policy == policy
        and previous.layer_value == layer_value
        and {e.dataset: e.lineage.input_fingerprint for e in previous.datasets} == fingerprints
    )
    if unchanged:
        log("inputs, code and mixture policy unchanged: the previous build stands")
        return PyramidBuild(destination, previous, reused=list(groups))
    rebuilt: list[str] = []
    reused: list[str] = []
    entries: list[ManifestEntry] = []
    files: dict[str, FileEntry] = {}
    with atomic_directory(destination, replace=True) as staging:
        for name, members in groups.items():
            relative = f"{DATASETS_DIR}/{name}"
            old = previous_entries.get(name)
            if old is not None and old.lineage.input_fingerprint == fingerprints[name]:
                _link_tree(destination / relative, staging / relative)
                files.update({p: e for p, e in previous.files.items() if p.startswith(relative + "/")})
                checks, info = old.checks, old
                reused.append(name)
                log(f"{name}: unchanged, carried over")
            else:
                log(f"{name}: merging {', '.join(m.name for m in members)}")
                report = merge_datasets([m.root for m in members], staging / relative)
                checks = validate(staging / relative)
                files.update(file_entries(staging, relative))
                info = report
                rebuilt.append(name)
            first = members[0]
            entries.append(
                ManifestEntry(
                    dataset=name,
                    source=first.source,
                    layer=first.layer,
                    embodiment=first.embodiment,
                    episodes=info.episodes,
                    frames=info.frames,
                    hours=info.hours,
                    mixture_weight=0.0,  # set below, once every dataset's hours are known
                    lineage=Lineage(
                        inputs=[f"{m.source.value}/{m.name}" for m in members],
                        code_version=code,
                        model_checkpoints=_model_checkpoints([m.root for m in members]),
                        input_fingerprint=fingerprints[name],
                    ),
                    path=relative,
                    quarantined=_quarantined(staging / relative),
                    checks=checks,
                )
            )
        weights = policy.weights([(e.dataset, e.layer, e.hours) for e in entries])
        entries = [e.model_copy(update={"mixture_weight": weights[e.dataset]}) for e in entries]
        manifest = _write_manifest(staging, entries, files, policy, layer_value)
    log(f"pyramid {manifest.version}: rebuilt {rebuilt or 'nothing'}, reused {reused or 'nothing'}")
    return PyramidBuild(destination, manifest, rebuilt, reused)


def measured_layer_value(home: Home) -> LayerValueSummary | None:
    """The layer value measured most recently in ``home`` (on any release), for the next manifest; None when
    none was. A file that is not a summary is an error naming it."""
    measured = sorted(home.policies.glob(f"*/{LAYER_VALUE_FILE}"), key=lambda path: path.stat().st_mtime)
    if not measured:
        return None
    try:
        return LayerValueSummary.model_validate_json(measured[-1].read_text())
    except ValidationError as error:
        first = error.errors()[0]
        raise InputError(
            f"{measured[-1]}: field {'.'.join(map(str, first['loc']))}: {first['msg']}; rerun the layer_value asset "
            "or delete the file"
        ) from None


def _write_manifest(
    folder: Path,
    entries: list[ManifestEntry],
    files: dict[str, FileEntry],
    policy: MixturePolicy,
    layer_value: LayerValueSummary | None,
) -> ReleaseManifest:
    """Write the table and the chart, then manifest.json last; the version hashes every file's checksum."""
    rows = [
        {
            **e.model_dump(mode="json", exclude={"lineage", "checks"}),
            "lineage": e.lineage.model_dump_json(),
            "checks": json.dumps(e.checks),
        }
        for e in entries
    ]
    pd.DataFrame(rows).to_parquet(folder / MANIFEST_TABLE, index=False)
    now = datetime.now(UTC)
    draft = ReleaseManifest(
        version=f"{now:%Y%m%d}-{'0' * 12}",
        created=now.isoformat(timespec="microseconds"),  # two builds a second apart still order
        code_version=code_version(),
        mixture_policy=policy,
        datasets=entries,
        files=files,
        layer_value=layer_value,
    )
    (folder / CHART).write_bytes(pyramid_chart_png(draft))
    files = {
        **files,
        **{
            name: FileEntry(sha256=sha256_file(folder / name), size=(folder / name).stat().st_size)
            for name in (MANIFEST_TABLE, CHART)
        },
    }
    hashed = {p: e.sha256 for p, e in sorted(files.items())}
    if layer_value is not None:  # a new measurement makes a new release, so it can be published
        hashed["layer_value"] = hashlib.sha256(layer_value.model_dump_json().encode()).hexdigest()
    content = hashlib.sha256(json.dumps(hashed).encode()).hexdigest()
    manifest = draft.model_copy(update={"version": f"{now:%Y%m%d}-{content[:12]}", "files": files})
    (folder / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def _model_checkpoints(roots: list[Path]) -> dict[str, str]:
    """model -> checkpoint hash of every model that labelled or generated one of ``roots``."""
    checkpoints: dict[str, str] = {}
    for root in roots:
        provenance = json.loads((root / layout.PYRAMID_META_PATH).read_text()).get("provenance", {})
        checkpoints.update(provenance.get("model_checkpoints", {}))
    return checkpoints


def _quarantined(root: Path) -> int:
    return len(json.loads((root / "meta" / "pyramid.json").read_text()).get("rejected", []))


def _link_tree(source: Path, destination: Path) -> None:
    """Hard-link every file of ``source`` under ``destination`` (copying only across filesystems)."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                target.write_bytes(path.read_bytes())
