"""The PT-DiT transformer (Proxy-Tokenized Diffusion Transformer, Qihoo-T2X).

Parameter names follow the official ``PTDiTDiffuser`` so its checkpoints load unchanged. Tokens
travel through the blocks in window-major order (B, N, D) over a grid padded to whole windows;
see :mod:`ptdit.attention` for the geometry and ``docs/architecture.md`` for the maths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MASKED, Attention, AttentionFn, ShapeCache, WindowLayout, gather_rows, scatter_add_rows, sdpa
from .config import PTDiTConfig, WindowSettings
from .embeddings import AdaLayerNormSingle, CaptionProjection, PatchEmbed


@dataclass
class BlockContext:
    """Per-forward inputs shared by every block."""

    layout: WindowLayout
    window_bias: Optional[torch.Tensor]  # (B*Nw, 1, n, n) layout.window_bias(B)
    shift_bias: Optional[torch.Tensor]  # (B*Nw, 1, n, n) layout.shift_bias(B)
    shift_rows: Optional[torch.Tensor]  # (B*N,) layout.shift_rows(B), None without shifted windows
    modulation: torch.Tensor  # (B, 6, D) adaLN-single output T
    text: torch.Tensor  # (B, L, D) projected caption
    text_bias: Optional[torch.Tensor]  # (B, 1, 1, L) additive, or None
    attention_fn: AttentionFn


class FeedForward(nn.Module):
    """Linear(D, 4D) -> tanh-GELU -> Linear(4D, D), named ``net.0.proj`` / ``net.2`` as in diffusers."""

    def __init__(self, dim: int, dtype=None, device=None, operations=nn):
        super().__init__()
        proj = nn.Module()
        proj.proj = operations.Linear(dim, 4 * dim, dtype=dtype, device=device)
        self.net = nn.ModuleList([proj, nn.Identity(), operations.Linear(4 * dim, dim, dtype=dtype, device=device)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, D); the 4D-wide activation is computed in place when no graph is recorded."""
        h = self.net[0].proj(x)
        h = F.gelu(h, approximate="tanh") if torch.is_grad_enabled() else torch.ops.aten.gelu_(h, approximate="tanh")
        return self.net[2](h)


def modulate(normed: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN ``normed * (1 + scale) + shift``: normed (B, N, D), shift/scale (B, 1, D) -> (B, N, D),
    written over ``normed`` when no graph is recorded."""
    return torch.addcmul(shift, normed, 1 + scale, out=None if torch.is_grad_enabled() else normed)


def gated(y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``gate * y``: y (B, N, D), gate (B, 1, D); written over y when no graph is recorded."""
    return y * gate if torch.is_grad_enabled() else y.mul_(gate)


def add(x: torch.Tensor, y: torch.Tensor, gate: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Residual ``x + gate * y`` (gate (B, 1, D) or None for 1), in place on x when no graph is recorded."""
    if torch.is_grad_enabled():
        return x + y if gate is None else torch.addcmul(x, gate, y)
    return x.add_(y) if gate is None else x.addcmul_(gate, y)


def drop_masked_text(context: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Drop the text tokens no sample attends to: context (B, L, C), 0/1 mask (B, L) -> (B, L', C) and
    the mask (B, L'), or None once every kept token is valid in every sample.

    A masked key gets the score bias MASKED, whose exp underflows to exactly 0, so its attention
    weight is 0 and dropping it changes nothing but summation order. Prompts padded to the official
    200 tokens usually keep a few dozen. If some sample has no valid token at all (its softmax then
    spreads over every key), nothing is dropped. Reads the mask back (one device sync).
    """
    keep = mask.bool()
    if not bool(keep.any(1).all()):
        return context, mask
    columns = keep.any(0).nonzero().squeeze(1)
    if columns.numel() < mask.shape[1]:
        context, mask, keep = context[:, columns], mask[:, columns], keep[:, columns]
    return context, (None if bool(keep.all()) else mask)


class PTDiTBlock(nn.Module):
    """One block: GIIM (proxy self-attention + proxy->visual injection), TCM (window and
    shifted-window attention), text cross-attention and FFN with adaLN-single modulation."""

    def __init__(self, config: PTDiTConfig, dtype=None, device=None, operations=nn):
        super().__init__()
        dim, heads = config.hidden_size, config.num_heads
        kw = dict(dtype=dtype, device=device)

        def norm():
            return operations.LayerNorm(dim, eps=config.norm_eps,
                                        elementwise_affine=config.norm_elementwise_affine, **kw)

        def attention():
            return Attention(dim, heads, config.attention_bias, dtype, device, operations)

        self.proxy_norm1, self.proxy_attn1 = norm(), attention()
        self.norm_before, self.proxy_cross_norm = norm(), norm()
        self.pvisual_attn2 = attention()
        self.linear_1_visual = operations.Linear(dim, dim, **kw)
        self.norm1, self.attn1 = norm(), attention()
        self.attn2 = attention()
        self.norm2, self.ff = norm(), FeedForward(dim, dtype, device, operations)
        self.scale_shift_table = nn.Parameter(torch.empty(6, dim, **kw))
        if config.shift_window:
            self.shift_window_norm, self.attn3 = norm(), attention()
            self.linear_2 = operations.Linear(dim, dim, **kw)
            self.proxy_scale_shift_table = nn.Parameter(torch.empty(3, dim, **kw))

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """x (B, N, D) window-major tokens -> (B, N, D); the caller's x is never written."""
        layout, attn, t = ctx.layout, ctx.attention_fn, ctx.modulation
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.table(self.scale_shift_table, t)
        # GIIM: proxies attend to each other, then every token attends to the proxies.
        proxies = layout.proxies(x)
        proxies = proxies + self.proxy_attn1(self.proxy_norm1(proxies), bias=layout.proxy_bias, attention_fn=attn)
        x = x + self.linear_1_visual(self.pvisual_attn2(self.norm_before(x), self.proxy_cross_norm(proxies),
                                                        bias=layout.proxy_bias, attention_fn=attn))
        # TCM: window attention, then shifted-window attention (gathered into shifted order, index-added back).
        if layout.settings.window_attention:
            h = modulate(self.norm1(x), shift_msa, scale_msa)
            x = add(x, self.attn1(h, bias=ctx.window_bias, windows=layout.num_windows, attention_fn=attn), gate_msa)
        if layout.settings.shift_window:
            shift_sw, scale_sw, gate_sw = self.table(self.proxy_scale_shift_table, t[:, :3])
            h = gather_rows(modulate(self.shift_window_norm(x), shift_sw, scale_sw), ctx.shift_rows)
            h = self.attn3(h, bias=ctx.shift_bias, windows=layout.num_windows, attention_fn=attn)
            x = scatter_add_rows(x, ctx.shift_rows, self.linear_2(gated(h, gate_sw)))
        x = add(x, self.attn2(x, ctx.text, bias=ctx.text_bias, attention_fn=attn))
        return add(x, self.ff(modulate(self.norm2(x), shift_mlp, scale_mlp)), gate_mlp)

    @staticmethod
    def table(table: nn.Parameter, modulation: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """A block's learned table (K, D) plus the adaLN-single modulation (B, K, D) -> K tensors (B, 1, D)."""
        return (table.to(modulation)[None] + modulation)[:, :, None].unbind(1)


# (block index, block, x (B, N, D), context) -> (B, N, D): runs one block in place of ``block(x, ctx)``.
BlockHook = Callable[[int, PTDiTBlock, torch.Tensor, BlockContext], torch.Tensor]


class PTDiT(nn.Module):
    """PT-DiT transformer.

    ``forward(x, timestep, context, context_mask=None, window=None)``:
    x (B, C_in, H, W) or (B, C_in, F, H, W) latents; timestep (B,) raw diffusion time in [0, 1000]
    (each sample is modulated with its own); context (B, L, caption_channels); context_mask (B, L)
    with 1 = keep, 0 = ignore; window a :class:`WindowSettings` (default: the checkpoint's).
    Returns (B, out_channels, [F,] H, W) float32.

    Any sampling forward outside torch.compile drops the text tokens that every sample masks
    (:func:`drop_masked_text`): prompts padded to 200 tokens attend to their few dozen real ones.
    """

    def __init__(self, config: PTDiTConfig, dtype=None, device=None, operations=nn,
                 attention_fn: AttentionFn = sdpa, init_weights: bool = True):
        super().__init__()
        self.config = config
        self.dtype = dtype
        self.attention_fn = attention_fn
        dim = config.hidden_size
        kw = dict(dtype=dtype, device=device)
        self.pos_embed = PatchEmbed(config.in_channels, dim, config.patch_size, config.sample_size,
                                    config.frame, dtype, device, operations)
        self.adaln_single = AdaLayerNormSingle(dim, dtype, device, operations)
        self.caption_projection = CaptionProjection(config.caption_channels, dim, dtype, device, operations)
        self.transformer_blocks = nn.ModuleList(
            [PTDiTBlock(config, dtype, device, operations) for _ in range(config.num_layers)])
        self.norm_out = operations.LayerNorm(dim, eps=1e-6, elementwise_affine=False, **kw)
        self.scale_shift_table = nn.Parameter(torch.empty(2, dim, **kw))
        self.proj_out = operations.Linear(dim, config.patch_size ** 2 * config.out_channels, **kw)
        self._layouts = ShapeCache()  # (grid, settings, device, dtype) -> WindowLayout
        self._positions = ShapeCache()  # (grid, settings, device) -> (1, N, D) float32, window-major
        # ``init_weights`` gives plain PyTorch use a usable random init; a host that loads weights
        # right away (ComfyUI) passes False and skips the cost, as its own models do.
        if init_weights and self.scale_shift_table.device.type != "meta":
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random initialisation in the spirit of the official one (for tests and training from scratch)."""
        dim = self.config.hidden_size
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for name, param in self.named_parameters():
            if name.endswith("scale_shift_table"):
                param.copy_(torch.randn_like(param) / dim ** 0.5)

    @property
    def working_dtype(self) -> torch.dtype:
        return self.dtype or self.pos_embed.proj.weight.dtype

    def default_window(self) -> WindowSettings:
        return self.config.default_window()

    def layout(self, grid: tuple[int, int, int], window: Optional[WindowSettings], device, dtype) -> WindowLayout:
        window = window or self.default_window()
        if window.shift_window and not self.config.shift_window:
            raise ValueError("shift_window=True needs a checkpoint with shifted-window weights (attn3); "
                             "this model has none, so it must be False")
        device = torch.device(device)
        return self._layouts.get((grid, window, device, dtype), lambda: WindowLayout(grid, window, device, dtype))

    @torch.compiler.disable
    def geometry(self, grid: tuple[int, int, int], window: Optional[WindowSettings], batch: int, device, dtype
                 ) -> tuple[WindowLayout, torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor],
                            Optional[torch.Tensor]]:
        """Cached per-shape tensors: (layout, positional table (1, N, D) float32 in window-major order and
        zero on padding, window bias, shift bias, shifted-window rows of the batch or None).

        Kept out of torch.compile: the caches are plain Python state, so a traced look-up would turn
        every cache fill into a recompile. The compiled forward has one graph break here instead.
        """
        layout = self.layout(grid, window, device, dtype)

        def window_major_table():
            return layout.to_windows(self.pos_embed.positional_table(grid, device).view(1, *grid, -1))

        positions = self._positions.get((grid, layout.settings, torch.device(device)), window_major_table)
        shift_rows = layout.shift_rows(batch) if layout.settings.shift_window else None
        return layout, positions, layout.window_bias(batch), layout.shift_bias(batch), shift_rows

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                context_mask: Optional[torch.Tensor] = None, window: Optional[WindowSettings] = None,
                attention_fn: Optional[AttentionFn] = None, compute_dtype: Optional[torch.dtype] = None,
                block_hook: Optional[BlockHook] = None) -> torch.Tensor:
        """See the class docstring. ``compute_dtype`` overrides the working dtype (a host that stores
        weights in fp8 and casts them per layer passes its compute dtype here); ``block_hook`` runs
        each block instead of ``block(x, ctx)`` (a host's block patches). Inputs are not checked
        here: a caller handing in user data runs :func:`ptdit.inputs.check_inputs` first."""
        image = x.ndim == 4
        if image:
            x = x[:, :, None]
        b, _, f, hl, wl = x.shape
        p = self.config.patch_size
        grid = (f, hl // p, wl // p)
        dtype = compute_dtype or self.working_dtype
        layout, positions, window_bias, shift_bias, shift_rows = self.geometry(grid, window, b, x.device, dtype)
        timestep = timestep.reshape(-1).expand(b)

        e, modulation = self.adaln_single(timestep, dtype)
        if not torch.is_grad_enabled() and context_mask is not None and not torch.compiler.is_compiling():  # shapes from data
            context, context_mask = drop_masked_text(context, context_mask)
        text_bias = None
        if context_mask is not None:
            text_bias = ((1 - context_mask.to(dtype)) * MASKED)[:, None, None, :]
        ctx = BlockContext(layout, window_bias, shift_bias, shift_rows, modulation,
                           self.caption_projection(context.to(dtype)), text_bias, attention_fn or self.attention_fn)

        h = layout.to_windows(self.pos_embed(x.to(dtype)), positions)  # (B, N, D)
        for i, block in enumerate(self.transformer_blocks):
            h = block(h, ctx) if block_hook is None else block_hook(i, block, h, ctx)

        shift, scale = (self.scale_shift_table.to(device=e.device, dtype=dtype)[None] + e[:, None]).unbind(1)
        h = modulate(self.norm_out(h), shift[:, None], scale[:, None])
        out = layout.to_grid(self.proj_out(h))  # (B, F, H, W, p*p*C)
        c = self.config.out_channels
        out = out.reshape(b, f, grid[1], grid[2], p, p, c).permute(0, 6, 1, 2, 4, 3, 5)
        out = out.reshape(b, c, f, hl, wl).float()
        return out[:, :, 0] if image else out
