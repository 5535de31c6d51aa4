"""Class vocabularies. A model bundle carries its own class list; this is the default."""

# STARSS23 / DCASE 2023-2025 SELD task: 13 classes, in the official index order.
STARSS23_CLASSES = (
    "femaleSpeech",
    "maleSpeech",
    "clapping",
    "telephone",
    "laughter",
    "domesticSounds",
    "footsteps",
    "doorCupboard",
    "music",
    "musicInstrument",
    "waterTap",
    "bell",
    "knock",
)

NUM_STARSS23_CLASSES = len(STARSS23_CLASSES)
