"""AudioSet tags on the pipeline's output frames (issue 26): what the node publishes in ``SoundEvent.tags`` and as
watch-list events. ROS-free; the tagger itself is seld_ros.tagging."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Watch-list events take track ids from here up: the tracker counts from 0 and never gets near (uint32 track_id).
WATCH_TRACK_ID_BASE = 2**31


@dataclass
class WatchEvent:
    """A watched AudioSet label heard where no model track explains it, as published (``SoundEvent`` with
    ``outside_model_classes``): class_id is the label's index in AudioSet's 521 classes."""

    track_id: int
    class_id: int
    class_name: str
    confidence: float  # the tagger's sigmoid score of the label
    doa: np.ndarray  # unit vector (x, y, z)
    first_stamp_ns: int
    tags: tuple = ()  # ((AudioSet name, score), ...) at doa, best first
