"""Human video: resampled, split, trimmed and curated into action-less clips that lerobot loads."""

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.ingest.config import HumanVideoConfig, SourceConfig
from pipelines.ingest.human_video import human_video_clips, read_video
from pipelines.ingest.sources import ingest_source
from schemas.episode import RejectedEpisode

CONFIG = HumanVideoConfig(fps=10, size=(48, 48), clip_seconds=3.0, min_clip_frames=8)


def test_read_video_resamples_and_resizes(video_folder):
    frames = read_video(video_folder / "pour_water_again.mp4", fps=10, size=(48, 32))
    assert frames.shape == (30, 48, 32, 3) and frames.dtype == np.uint8  # 3 s at 30 fps -> 10 fps


def test_clips_are_curated_with_a_reason_for_every_drop(video_folder):
    items = list(human_video_clips(video_folder, CONFIG))
    kept = {e.episode_id: e for e in items if not isinstance(e, RejectedEpisode)}
    dropped = {r.episode_id: r.reason for r in items if isinstance(r, RejectedEpisode)}
    assert set(kept) == {"pour_water/clip_000", "wipe-table/clip_000", "stack_cups/clip_000"}
    pour = kept["pour_water/clip_000"]
    assert pour.instruction == "pour water into the glass" and pour.notes["instruction_source"] == "sidecar_txt"
    assert pour.notes["trimmed_static"]["lead"] >= 8  # the 1 s static lead-in at 10 fps
    assert pour.state is None and pour.action is None and pour.frames["primary"].shape[1:] == (48, 48, 3)
    assert kept["wipe-table/clip_000"].instruction == "wipe the table"
    assert (
        kept["stack_cups/clip_000"].instruction == "stack cups"
        and kept["stack_cups/clip_000"].notes["instruction_source"] == "file_name"
    )
    assert dropped["pour_water_again/clip_000"] == "near-duplicate of pour_water/clip_000"
    assert dropped["night/clip_000"].startswith("too dark")
    assert dropped["still/clip_000"].startswith("frozen")
    assert dropped["blink/clip_000"].startswith("too short")
    assert dropped["broken/*"].startswith("unreadable video")


def test_ingested_clips_load_in_lerobot_without_state_or_action(video_folder, tmp_path):
    source = SourceConfig(name="people", path=video_folder, format="video_folder")
    report = ingest_source(source, tmp_path / "out")
    assert report.episodes == 3 and len(report.rejected) == 5
    dataset = LeRobotDataset("local/people", root=tmp_path / "out")
    item = dataset[0]
    assert "action" not in item and "observation.state" not in item
    assert item["observation.images.primary"].shape == (3, 96, 96) and item["task"]
