"""The layout of a pyramid home, named once: every command and asset finds its folders here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.pyramid import SourceKind

__all__ = ["LAYER_VALUE_FILE", "Home", "as_home"]

LAYER_VALUE_FILE = "layer_value.json"  # in a release's policy folder


@dataclass(frozen=True)
class Home:
    """A pyramid home (``PYRAMID_HOME``) and the folders in it."""

    root: Path

    @property
    def raw(self) -> Path:
        """Recorded and generated source files (embedded teleop HDF5, stand-in video, simulated rollouts)."""
        return self.root / "raw"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    def dataset(self, kind: SourceKind, name: str) -> Path:
        """Where the source ``name`` of ``kind`` is materialised as a LeRobot dataset."""
        return self.datasets / kind.value / name

    def latent_action_model(self) -> Path:
        """The latent-action model, shared by every embodiment's video."""
        return self.root / "models" / "latent_actions"

    def idm(self, embodiment: str) -> Path:
        """The inverse-dynamics model that labels ``embodiment``'s action-less clips."""
        return self.root / "models" / "idm" / embodiment

    def video_model(self, embodiment: str) -> Path:
        """The image-to-video pipeline trained on ``embodiment``'s teleop (a diffusers folder)."""
        return self.root / "models" / "video" / embodiment

    def instruction_matcher(self, embodiment: str) -> Path:
        """The video-text matcher that checks ``embodiment``'s generated clips against their instruction."""
        return self.root / "models" / "instruction_matcher" / embodiment

    def generated_clips(self, embodiment: str) -> Path:
        """Clips the video model generated, before labelling: outside ``datasets/``, since unlabelled clips are
        not part of the pyramid, their labelled copy is."""
        return self.root / "generated" / "video" / embodiment

    @property
    def pyramid(self) -> Path:
        """The release candidate ``pyramid build`` writes."""
        return self.root / "pyramid"

    @property
    def store(self) -> Path:
        """The default release store."""
        return self.root / "store"

    @property
    def pulled(self) -> Path:
        """Releases pulled for training."""
        return self.root / "pulled"

    @property
    def policies(self) -> Path:
        """Reference-policy runs, per release."""
        return self.root / "policies"

    def layer_value(self, release: str) -> Path:
        """What the ``layer_value`` asset measured on ``release`` (a ``LayerValueSummary`` as JSON)."""
        return self.policies / release / LAYER_VALUE_FILE

    @property
    def embodiments(self) -> Path:
        """The home's own embodiment files."""
        return self.root / "embodiments"

    @property
    def sources_file(self) -> Path:
        """The home's own source list (kept by ``pyramid ingest`` and ``pyramid sources``)."""
        return self.root / "sources.yaml"

    @property
    def drop(self) -> Path:
        """Files dropped here become sources without a config edit."""
        return self.root / "drop"

    @property
    def dagster(self) -> Path:
        """The Dagster instance's folder (``DAGSTER_HOME`` by default)."""
        return self.root / "dagster"


def as_home(home: Home | Path | str) -> Home:
    """``home`` as a ``Home``: functions take a home folder in either form."""
    return home if isinstance(home, Home) else Home(Path(home))
