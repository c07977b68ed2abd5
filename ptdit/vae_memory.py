"""Memory-based choice between untiled and tiled processing (for now: always untiled)."""


def choose_tiling(config, shape, dtype, device, memory_budget, encode):
    return None
