"""The tiny demo models' tooling: procedural data (``data``), its detectors (``detect``), loading and
sampling (``runtime``), training (``train``), measuring (``evaluate``) and the README picture
(``picture``); each command runs as ``python -m scripts.demo.<module>``."""
