"""The demo's scales are presets of the assets' own run config: every field they set exists, the steps they
leave out are assets, and a bad scale name is refused with the ones there are."""

import pytest
import yaml

from assets.definitions import defs
from assets.demo import SCALES_FILE, Scale
from generators.sim.config import SimRun
from idm.config import IDM_TRAINING


def run_config_fields() -> dict[str, set[str]]:
    fields = {}
    for asset in defs.resolve_asset_graph().assets_defs:
        schema = asset.op.config_schema
        fields[asset.op.name] = set(getattr(schema.config_type, "fields", None) or {}) if schema else set()
    return fields


@pytest.mark.parametrize("name", sorted(yaml.safe_load(SCALES_FILE.read_text())))
def test_a_scale_sets_only_fields_the_assets_have(name):
    scale, fields = Scale.load(name), run_config_fields()
    for asset, values in scale.run_config.items():
        assert asset in fields and set(values) <= fields[asset], (asset, set(values) - fields.get(asset, set()))
    assert set(scale.skip) <= set(fields)


def test_quick_shrinks_the_long_steps_and_full_is_every_default():
    quick, full = Scale.load("quick"), Scale.load("full")
    assert full.run_config == {} and full.skip == ()
    assert quick.run_config["idm_model"]["steps"] < IDM_TRAINING.steps
    assert quick.run_config["sim_datasets"]["demos_per_task"] < SimRun().demos_per_task


def test_an_unknown_scale_names_the_scales_there_are():
    with pytest.raises(SystemExit, match="no scale 'huge'; the scales are full, quick"):
        Scale.load("huge")
