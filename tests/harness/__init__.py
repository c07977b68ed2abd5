"""Run the pack inside a real ComfyUI server and talk to it, for the host and browser tests, the
benchmarks and the one-command demo.

``hosts`` finds the ComfyUI installs, ``base_dir`` lays out the private base directory a server runs
in (the pack linked into its ``custom_nodes/``), ``server`` starts and stops the server,
``client`` speaks its HTTP API, ``events`` listens to its websocket and ``results`` holds what the
API answers.
"""
