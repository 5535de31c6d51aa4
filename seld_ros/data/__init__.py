"""Data: DCASE label formats, the in-memory label representation, sound banks and the synthetic scene generator.

Kept import-light: import the submodule you need (``seld_ros.data.labels``, ``seld_ros.data.dcase``, ...).
"""
