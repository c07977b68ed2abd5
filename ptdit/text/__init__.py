"""Text conditioning as the Qihoo-T2X reference prepares it, ComfyUI-free.

* :mod:`.captions` cleans a prompt the way the reference pipeline does before T5.
* :mod:`.tokens` holds the 200-token rules: the cut with ``</s>``, padding and the 0/1 mask.
* :mod:`.t5_files` reads and checks T5 encoder files and folders (it encodes nothing: the host's
  own T5 runs them).
"""
