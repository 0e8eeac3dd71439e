"""Every path and size limit of the LeRobot v2.x / v3.0 layouts, named once.

Values mirror lerobot 0.6 (``lerobot.datasets.utils``) and the GR00T LeRobot flavour; tests pin them
against lerobot's own constants.
"""

CODEBASE_VERSION_V3 = "v3.0"
CODEBASE_VERSION_V21 = "v2.1"

CHUNKS_SIZE = 1000  # files per chunk folder
DATA_FILE_SIZE_MB = 100
VIDEO_FILE_SIZE_MB = 200

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
MODALITY_PATH = "meta/modality.json"
PYRAMID_META_PATH = "meta/pyramid.json"  # our own metadata: lerobot drops unknown info.json keys

CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"

# LeRobot v2.x (one file per episode), as written by GR00T's tooling.
V2_EPISODES_PATH = "meta/episodes.jsonl"
V2_TASKS_PATH = "meta/tasks.jsonl"
V2_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V2_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"

STATE_KEY = "observation.state"
ACTION_KEY = "action"
CAMERA_PREFIX = "observation.images."
TASK_ANNOTATION_KEY = "annotation.human.action.task_description"
INDEX_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")

TIMESTAMP_TOLERANCE_S = 1e-4  # lerobot's default tolerance when matching frames to timestamps


def camera_key(camera: str) -> str:
    return CAMERA_PREFIX + camera


def next_chunk_file(chunk_index: int, file_index: int) -> tuple[int, int]:
    """The file after (chunk, file): a new chunk folder every CHUNKS_SIZE files."""
    file_index += 1
    if file_index == CHUNKS_SIZE:
        return chunk_index + 1, 0
    return chunk_index, file_index
