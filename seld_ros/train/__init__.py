"""Training of the SELD networks: targets, losses (PIT / ADPIT / focal),
augmentation, feature caching, the trainer and threshold calibration."""
