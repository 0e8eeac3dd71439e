"""Our path templates and limits are lerobot's, so a lerobot upgrade that changes them fails here first."""

from lerobot.datasets import utils as lerobot_utils

from pipelines.lerobot import layout


def test_v3_paths_and_limits_equal_lerobots():
    assert layout.DATA_PATH == lerobot_utils.DEFAULT_DATA_PATH
    assert layout.VIDEO_PATH == lerobot_utils.DEFAULT_VIDEO_PATH
    assert layout.EPISODES_PATH == lerobot_utils.DEFAULT_EPISODES_PATH
    assert layout.TASKS_PATH == lerobot_utils.DEFAULT_TASKS_PATH
    assert (layout.INFO_PATH, layout.STATS_PATH) == (lerobot_utils.INFO_PATH, lerobot_utils.STATS_PATH)
    assert layout.CHUNKS_SIZE == lerobot_utils.DEFAULT_CHUNK_SIZE
    assert layout.DATA_FILE_SIZE_MB == lerobot_utils.DEFAULT_DATA_FILE_SIZE_IN_MB
    assert layout.VIDEO_FILE_SIZE_MB == lerobot_utils.DEFAULT_VIDEO_FILE_SIZE_IN_MB


def test_v2_paths_equal_lerobots_legacy_names():
    assert layout.V2_EPISODES_PATH == lerobot_utils.LEGACY_EPISODES_PATH
    assert layout.V2_TASKS_PATH == lerobot_utils.LEGACY_TASKS_PATH


def test_next_chunk_file_opens_a_new_chunk_every_thousand_files():
    assert layout.next_chunk_file(0, 5) == (0, 6)
    assert layout.next_chunk_file(0, 999) == (1, 0)
