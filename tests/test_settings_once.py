"""Each setting is declared once, in its domain dataclass: the command line's flags and the Dagster run
config expose exactly its fields, with its defaults."""

from dataclasses import dataclass

import pytest

from assets.cli import build_parser
from assets.config import run_config
from assets.definitions import defs
from assets.policy import PolicyRunConfig
from generators.sim.config import EmbeddedDemos, EmbeddedStandIns, MimicGenConfig, SimRun
from generators.video.config import (
    INSTRUCTION_MATCHER_TRAINING,
    VIDEO_TRAINING,
    GenerationConfig,
    GenerationSource,
    InstructionMatcherConfig,
    InstructionMatcherScoring,
    NeuralFilters,
    NeuralLabelling,
    VideoModelConfig,
    VideoModelScoring,
)
from idm.config import IDM_TRAINING, IDMConfig, IDMLabelling, IDMScoring
from latent_actions.config import LATENT_ACTION_TRAINING, LatentActionConfig, LatentActionScoring
from policy.config import ClosedLoopSettings, LayerValueSettings, PolicyConfig, ServerLimits, TrainingRecipe
from schemas.options import from_values, option, options_of


def flags(command: str) -> dict[str, object]:
    """dest -> default of every flag of a ``pyramid`` subcommand."""
    (subcommands,) = [action for action in build_parser()._actions if action.dest == "command"]
    return {action.dest: action.default for action in subcommands.choices[command]._actions}


def declared(*configs: type) -> dict[str, object]:
    return {option.name: option.default for option in options_of(*configs)}


@pytest.mark.parametrize(
    ("command", "configs"),
    [
        ("train", (TrainingRecipe, PolicyConfig)),
        ("eval", (ClosedLoopSettings,)),
        ("serve", (ServerLimits,)),
    ],
)
def test_cli_flags_are_the_domain_fields_with_their_defaults(command, configs):
    offered = flags(command)
    assert {name: offered[name] for name in declared(*configs)} == declared(*configs)


ASSET_SETTINGS = {  # asset -> the domain configs its run config is made of
    "embedded_teleop_demos": (EmbeddedDemos,),
    "embedded_human_videos": (EmbeddedStandIns,),
    "sim_datasets": (SimRun, MimicGenConfig),
    "latent_action_model": (LatentActionConfig, LATENT_ACTION_TRAINING, LatentActionScoring),
    "idm_model": (IDMConfig, IDM_TRAINING, IDMScoring),
    "idm_labels": (IDMLabelling,),
    "video_model": (VideoModelConfig, VIDEO_TRAINING, VideoModelScoring),
    "generated_clips": (GenerationSource, GenerationConfig),
    "instruction_matcher": (
        NeuralLabelling,
        InstructionMatcherConfig,
        INSTRUCTION_MATCHER_TRAINING,
        InstructionMatcherScoring,
    ),
    "neural_trajectories": (NeuralLabelling, NeuralFilters),
    "reference_policy": (TrainingRecipe, PolicyConfig, ClosedLoopSettings),
    "layer_value": (TrainingRecipe, PolicyConfig, ClosedLoopSettings, LayerValueSettings),
}


def test_every_configurable_asset_takes_its_domain_settings_with_their_defaults_and_help():
    configurable = {}
    for asset in defs.resolve_asset_graph().assets_defs:
        schema = asset.op.config_schema
        fields = getattr(schema.config_type, "fields", None) if schema is not None else None
        if fields:
            configurable[asset.op.name] = fields
    assert set(configurable) == set(ASSET_SETTINGS)
    for name, fields in configurable.items():
        options = options_of(*ASSET_SETTINGS[name])
        assert {option.name: option.default for option in options} == {
            key: field.default_value for key, field in fields.items()
        }, name
        assert {option.name: option.help for option in options} == {
            key: field.description for key, field in fields.items()
        }, name
    assert configurable["idm_model"]["steps"].default_value == IDM_TRAINING.steps == 8000  # the model's own


def test_parsed_flags_and_run_config_give_the_same_domain_config():
    parsed = build_parser().parse_args(["train", "--pretrain-steps", "7", "--target", "a", "b", "--hidden", "64"])
    from_flags = from_values(TrainingRecipe, parsed)
    from_dagster = from_values(TrainingRecipe, PolicyRunConfig(pretrain_steps=7, target=["a", "b"], hidden=64))
    assert from_flags == from_dagster == TrainingRecipe(pretrain_steps=7, target=["a", "b"])
    assert from_values(PolicyConfig, parsed).hidden == 64


def test_two_configs_that_disagree_on_a_shared_field_are_refused():
    @dataclass(frozen=True)
    class Other:
        seed: int = option(1, "another default for the same name")

    with pytest.raises(TypeError, match="Other.seed differs"):
        run_config("Clash", TrainingRecipe, Other)
