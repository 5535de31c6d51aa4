"""Console entry points (seld-synth, seld-train, ...)."""
