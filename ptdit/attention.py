"""Multi-head attention and the window geometry it runs on.

All attentions in a block go through :class:`Attention`; window attention is the same call with
``windows > 1``: the (B, Nw*n, D) window-major token sequence is viewed as ``Nw`` independent
groups, so one batched ``scaled_dot_product_attention`` covers every window at once.

:class:`WindowLayout` precomputes, once per (grid, window settings, device, dtype), everything
the blocks need: the padded grid, token permutations to/from shifted windows, and the additive
attention biases (shifted-window regions, padding). Everything built per shape lives in a
:class:`ShapeCache`, the one cache policy of the package.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .config import WindowSettings

# Additive bias for a masked score. exp(-10000) underflows to exactly 0 in every float type, as in
# the official model, and the value is finite in fp16 (no NaN for a row that is fully masked).
MASKED = -10000.0

# How many shapes a per-shape cache keeps (a workflow rarely alternates between more sizes).
SHAPE_CACHE_SIZE = 8

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """Default attention: q (G, H, S, d), k/v (G, H, S2, d), bias broadcastable to (G, H, S, S2).

    q/k/v may be strided views; the CPU and CUDA kernels take them without copies.
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


class ShapeCache:
    """Least-recently-used store of tensors built for one shape, at most ``capacity`` entries.

    ``get(key, build)`` returns the entry for ``key`` (any hashable: grid, settings, device, dtype,
    batch size), calling ``build()`` once when it is missing and dropping the least recently used
    entry when full.
    """

    def __init__(self, capacity: int = SHAPE_CACHE_SIZE):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()

    def get(self, key, build: Callable[[], object]):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = build()
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value


def gather_rows(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(B, N, D) -> (B, N, D) whose flat row i is flat row ``rows[i]`` of x (rows index the B*N rows)."""
    return x.reshape(-1, x.shape[-1]).index_select(0, rows).view(x.shape)


def scatter_add_rows(x: torch.Tensor, rows: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """x (B, N, D) with z's flat row i added to x's flat row ``rows[i]``; in place when no graph is recorded."""
    flat, rows_z = x.view(-1, x.shape[-1]), z.reshape(-1, z.shape[-1])
    added = flat.index_add(0, rows, rows_z) if torch.is_grad_enabled() else flat.index_add_(0, rows, rows_z)
    return added.view(x.shape)


class Attention(nn.Module):
    """Multi-head attention with the official parameter names (to_q, to_k, to_v, to_out.0)."""

    def __init__(self, dim: int, heads: int, bias: bool, dtype=None, device=None, operations=nn):
        super().__init__()
        self.heads = heads
        self.to_q = operations.Linear(dim, dim, bias=bias, dtype=dtype, device=device)
        self.to_k = operations.Linear(dim, dim, bias=bias, dtype=dtype, device=device)
        self.to_v = operations.Linear(dim, dim, bias=bias, dtype=dtype, device=device)
        self.to_out = nn.ModuleList([operations.Linear(dim, dim, bias=True, dtype=dtype, device=device)])

    def _split(self, x: torch.Tensor, groups: int) -> torch.Tensor:
        """(B, G*S, D) -> (B*G, heads, S, d) as a view (no copy)."""
        b, n, d = x.shape
        return x.view(b * groups, n // groups, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: Optional[torch.Tensor] = None,
                bias: Optional[torch.Tensor] = None, windows: int = 1,
                attention_fn: AttentionFn = sdpa) -> torch.Tensor:
        """x (B, S, D) queries; context (B, S2, D) keys/values (default: x) -> (B, S, D).

        ``windows`` > 1 (self-attention only): x holds ``windows`` equal contiguous groups that attend
        separately; ``bias`` is then broadcastable to (B*windows, heads, S/windows, S/windows).
        """
        context = x if context is None else context
        q, k, v = (self._split(t, windows) for t in (self.to_q(x), self.to_k(context), self.to_v(context)))
        out = attention_fn(q, k, v, bias)  # (B*windows, heads, s, d)
        return self.to_out[0](out.transpose(1, 2).reshape(x.shape))


def _window_view(grid: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """(B, F, H, W, *rest) -> (B, F/cf, H/ch, W/cw, cf, ch, cw, *rest), a view: windows in (frame, row,
    column) order, then the positions inside a window."""
    b, f, h, w = grid.shape[:4]
    cf, ch, cw = window
    rest = grid.shape[4:]
    g = grid.view(b, f // cf, cf, h // ch, ch, w // cw, cw, *rest)
    return g.permute(0, 1, 3, 5, 2, 4, 6, *range(7, 7 + len(rest)))


def _windowize(grid: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """(B, F, H, W, *rest) -> (B, Nw, n, *rest), windows in (frame, row, column) order."""
    b = grid.shape[0]
    return _window_view(grid, window).reshape(b, -1, window[0] * window[1] * window[2], *grid.shape[4:])


class WindowLayout:
    """Window geometry for one token grid and one :class:`WindowSettings`.

    Tokens live in window-major order (B, N, D) with N = Nw*n over the *padded* grid. Attributes:
    ``grid`` (F, H, W) real, ``padded`` (F', H', W') multiples of the window, ``tokens`` N, ``shift_index``
    (N,) the permutation into shifted-window order (shifted position -> token), ``num_proxies`` P
    (proxy tokens per sample), ``proxy_bias``
    (1, 1, 1, Nw*np) or None, ``proxy_count`` (1, Nw, sh, sw, 1) valid tokens per proxy (None
    without padding) and ``valid`` (N,) bool real-token mask (None without padding). Window biases
    come from :meth:`window_bias` / :meth:`shift_bias` for a given batch size.
    """

    def __init__(self, grid: tuple[int, int, int], settings: WindowSettings,
                 device: torch.device, dtype: torch.dtype):
        settings.check_grid(grid)
        self.grid, self.settings = grid, settings
        self._biases = ShapeCache()  # (name, batch) -> (B*Nw, 1, n, n)
        self.window = settings.window
        self.padded = settings.padded(grid)
        self.needs_padding = self.padded != grid
        self.num_windows = (self.padded[0] // self.window[0]) * (self.padded[1] // self.window[1]) \
            * (self.padded[2] // self.window[2])
        f, h, w = self.padded
        self.tokens = f * h * w
        sh, sw = settings.proxies_per_window
        self.num_proxies = self.num_windows * sh * sw

        valid = torch.zeros(f, h, w, dtype=torch.bool)
        valid[: grid[0], : grid[1], : grid[2]] = True
        valid_windows = _windowize(valid[None], self.window)[0]  # (Nw, n)

        self._window_bias = self._shift_bias = None  # (Nw, 1, n, n), shared by heads and samples
        self.proxy_bias = self.proxy_count = self.valid = None
        if self.needs_padding:
            self.valid = valid_windows.reshape(-1).to(device)
            self._window_bias = self._key_bias(valid_windows)[:, None].to(device, dtype)
            self._init_proxy_masks(valid_windows, device, dtype)

        self.shift = tuple(c // 2 for c in self.window)
        self.shift_index = None
        if settings.shift_window:
            self._init_shift(valid, device, dtype)

    def _batched(self, name: str, bias: Optional[torch.Tensor], batch: int) -> Optional[torch.Tensor]:
        """(Nw, 1, n, n) -> (B*Nw, 1, n, n), built once per batch size (a view when B = 1)."""
        if bias is None or batch == 1:
            return bias
        return self._biases.get((name, batch), lambda: bias.repeat(batch, 1, 1, 1))

    def window_bias(self, batch: int) -> Optional[torch.Tensor]:
        """Additive bias of the window attention (padding keys), or None."""
        return self._batched("window", self._window_bias, batch)

    def shift_bias(self, batch: int) -> Optional[torch.Tensor]:
        """Additive bias of the shifted-window attention (regions and padding keys)."""
        return self._batched("shift", self._shift_bias, batch)

    def shift_rows(self, batch: int) -> torch.Tensor:
        """(B*N,) :attr:`shift_index` over the rows of a flattened (B*N, D) batch: row i of the shifted
        batch is row ``shift_rows[i]`` of the unshifted one (built once per batch size)."""
        if batch == 1:
            return self.shift_index
        return self._biases.get(("shift_rows", batch), lambda: (
            self.shift_index[None] + self.tokens * torch.arange(batch, device=self.shift_index.device)[:, None]
        ).reshape(-1))

    @staticmethod
    def _key_bias(valid_windows: torch.Tensor) -> torch.Tensor:
        """(Nw, n) bool -> (Nw, n, n) float: MASKED where the key token is padding."""
        n = valid_windows.shape[1]
        return torch.where(valid_windows, 0.0, MASKED)[:, None, :].expand(-1, n, n)

    def _init_proxy_masks(self, valid_windows: torch.Tensor, device, dtype) -> None:
        cf, ch, cw = self.window
        _, ph, pw = self.settings.proxy
        sh, sw = self.settings.proxies_per_window
        per_class = valid_windows.view(-1, cf, ph, sh, pw, sw).to(torch.float32)
        count = per_class.sum(dim=(1, 2, 4))  # (Nw, sh, sw)
        self.proxy_count = count.clamp(min=1)[None, ..., None].to(device, dtype)
        self.proxy_weight = per_class[None, ..., None].to(device, dtype)  # (1, Nw, cf, ph, sh, pw, sw, 1)
        self.proxy_bias = torch.where(count.reshape(1, 1, 1, -1) > 0, 0.0, MASKED).to(device, dtype)

    def _init_shift(self, valid: torch.Tensor, device, dtype) -> None:
        f, h, w = self.padded
        raster = torch.arange(f * h * w).view(1, f, h, w)
        window_order = _windowize(raster, self.window).reshape(-1)  # position -> raster index
        position_of = torch.empty_like(window_order)
        position_of[window_order] = torch.arange(window_order.numel())
        rolled = torch.roll(raster, shifts=tuple(-s for s in self.shift), dims=(1, 2, 3))
        shifted_raster = _windowize(rolled, self.window).reshape(-1)
        shift_index = position_of[shifted_raster]  # shifted position -> unshifted position
        self.shift_index = shift_index.to(device)

        labels = torch.zeros(f, h, w, dtype=torch.long)
        for axis, (size, c, s) in enumerate(zip(self.padded, self.window, self.shift)):
            coord = torch.arange(size)
            region = torch.full((size,), 2) if s == 0 else (coord >= size - c).long() + (coord >= size - s).long()
            shape = [1, 1, 1]
            shape[axis] = size
            labels = labels * 3 + region.view(shape)
        lab = _windowize(labels[None], self.window)[0]  # (Nw, n)
        bias = torch.where(lab[:, :, None] == lab[:, None, :], 0.0, MASKED)
        if self.needs_padding:
            rolled_valid = torch.roll(valid, shifts=tuple(-s for s in self.shift), dims=(0, 1, 2))
            bias = bias + self._key_bias(_windowize(rolled_valid[None], self.window)[0])
        self._shift_bias = bias[:, None].to(device, dtype)

    def proxies(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) window-major tokens -> (B, Nw*np, D) proxy tokens (strided means, README §5.4)."""
        b, _, d = x.shape
        cf, ch, cw = self.window
        _, ph, pw = self.settings.proxy
        sh, sw = self.settings.proxies_per_window
        classes = x.view(b, self.num_windows, cf, ph, sh, pw, sw, d)
        if self.proxy_count is None:
            return classes.mean(dim=(2, 3, 5)).reshape(b, -1, d)
        summed = (classes * self.proxy_weight).sum(dim=(2, 3, 5))
        return (summed / self.proxy_count).reshape(b, -1, d)

    def to_windows(self, grid: torch.Tensor, addend: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, F, H, W, D) real grid (any strides) -> (B, N, D) window-major over the zero-padded grid.

        ``addend`` (1, N, D) window-major (e.g. the positional table, zero on padding) is added in the
        same pass over the tokens, in its dtype; the result is cast back to the grid's dtype.
        """
        if self.needs_padding:
            f, h, w = self.grid
            pf, ph, pw = self.padded
            grid = F.pad(grid, (0, 0, 0, pw - w, 0, ph - h, 0, pf - f))
        b, d = grid.shape[0], grid.shape[-1]
        if addend is None:
            return _windowize(grid, self.window).reshape(b, self.tokens, d)
        windows = _window_view(grid, self.window)
        # The contiguous addend goes first: the sum takes its (window-major) layout, so the reshape is a view.
        return torch.add(addend.view(1, *windows.shape[1:]), windows).reshape(b, self.tokens, d).to(grid.dtype)

    def to_grid(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, C) window-major -> (B, F, H, W, C) real grid (padding cropped)."""
        b, _, c = tokens.shape
        cf, ch, cw = self.window
        f, h, w = self.padded
        g = tokens.view(b, f // cf, h // ch, w // cw, cf, ch, cw, c).permute(0, 1, 4, 2, 5, 3, 6, 7)
        g = g.reshape(b, f, h, w, c)
        return g[:, : self.grid[0], : self.grid[1], : self.grid[2]]
