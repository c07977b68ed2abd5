"""The PT-DiT transformer (Proxy-Tokenized Diffusion Transformer, Qihoo-T2X).

Parameter names follow the official ``PTDiTDiffuser`` so its checkpoints load unchanged. Tokens
travel through the blocks in window-major order (B, N, D) over a grid padded to whole windows;
see :mod:`ptdit.attention` for the geometry and ``docs/architecture.md`` for the maths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MASKED, Attention, AttentionFn, LayoutCache, WindowLayout, sdpa
from .config import PTDiTConfig, WindowSettings
from .embeddings import AdaLayerNormSingle, CaptionProjection, PatchEmbed


@dataclass
class BlockContext:
    """Per-forward inputs shared by every block."""

    layout: WindowLayout
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
        return self.net[2](F.gelu(self.net[0].proj(x), approximate="tanh"))


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
        self.has_shift_window = config.shift_window
        if config.shift_window:
            self.shift_window_norm, self.attn3 = norm(), attention()
            self.linear_2 = operations.Linear(dim, dim, **kw)
            self.proxy_scale_shift_table = nn.Parameter(torch.empty(3, dim, **kw))

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """x (B, N, D) window-major tokens -> (B, N, D)."""
        layout, attn = ctx.layout, ctx.attention_fn
        table = self.scale_shift_table.to(device=x.device, dtype=x.dtype)[None] + ctx.modulation  # (B, 6, D)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = table[:, :, None].unbind(1)

        # Global Information Interaction Module.
        proxies = layout.proxies(x)
        p = self.proxy_norm1(proxies)
        proxies = proxies + self.proxy_attn1(p, bias=layout.proxy_bias, attention_fn=attn)
        x = x + self.linear_1_visual(self.pvisual_attn2(
            self.norm_before(x), self.proxy_cross_norm(proxies), bias=layout.proxy_bias, attention_fn=attn))

        # Texture Complement Module.
        batch = x.shape[0]
        if layout.settings.window_attention:
            y = torch.addcmul(shift_msa, self.norm1(x), 1 + scale_msa)
            a = self.attn1(y, bias=layout.window_bias(batch), windows=layout.num_windows, attention_fn=attn)
            x = torch.addcmul(x, gate_msa, a)
        if layout.settings.shift_window:
            sw = self.proxy_scale_shift_table.to(device=x.device, dtype=x.dtype)[None] + ctx.modulation[:, :3]
            shift_sw, scale_sw, gate_sw = sw[:, :, None].unbind(1)
            y = torch.addcmul(shift_sw, self.shift_window_norm(x), 1 + scale_sw)[:, layout.shift_index]
            a = self.attn3(y, bias=layout.shift_bias(batch), windows=layout.num_windows, attention_fn=attn)
            x = x + self.linear_2(gate_sw * a[:, layout.unshift_index])

        x = x + self.attn2(x, ctx.text, bias=ctx.text_bias, attention_fn=attn)
        y = torch.addcmul(shift_mlp, self.norm2(x), 1 + scale_mlp)
        return torch.addcmul(x, gate_mlp, self.ff(y))


class PTDiT(nn.Module):
    """PT-DiT transformer.

    ``forward(x, timestep, context, context_mask=None, window=None)``:
    x (B, C_in, H, W) or (B, C_in, F, H, W) latents; timestep (B,) raw diffusion time in [0, 1000]
    (each sample is modulated with its own); context (B, L, caption_channels); context_mask (B, L)
    with 1 = keep, 0 = ignore; window a :class:`WindowSettings` (default: the checkpoint's).
    Returns (B, out_channels, [F,] H, W) float32.
    """

    def __init__(self, config: PTDiTConfig, dtype=None, device=None, operations=nn,
                 attention_fn: AttentionFn = sdpa):
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
        self._layouts = LayoutCache()
        self._positions: dict = {}
        # Plain PyTorch use gets a usable random init; a host passing its own operations (ComfyUI)
        # loads weights right away and skips the cost, as its own models do.
        if operations is nn and self.scale_shift_table.device.type != "meta":
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
        return self._layouts.get(grid, window, device, dtype)

    def _positional(self, grid, device) -> torch.Tensor:
        key = (grid, torch.device(device))
        table = self._positions.get(key)
        if table is None:
            if len(self._positions) >= 8:
                self._positions.pop(next(iter(self._positions)))
            table = self._positions[key] = self.pos_embed.positional_table(grid, device)
        return table

    def validate(self, x, timestep, context, context_mask) -> None:
        """Raise ``ValueError`` / ``TypeError`` with an actionable message for malformed inputs."""
        cfg = self.config
        if not isinstance(x, torch.Tensor) or x.ndim not in (4, 5):
            raise ValueError("latents must be a tensor (B, C, H, W) for images or (B, C, F, H, W) for video, "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
        if not x.is_floating_point():
            raise TypeError(f"latents must be a floating-point tensor, got {x.dtype}")
        if x.shape[1] != cfg.in_channels:
            raise ValueError(f"latents have {x.shape[1]} channels, this model expects {cfg.in_channels}")
        p = cfg.patch_size
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"latent height and width must be multiples of the patch size {p}, "
                             f"got {x.shape[-2]}x{x.shape[-1]}")
        b = x.shape[0]
        if not isinstance(timestep, torch.Tensor) or timestep.shape not in ((b,), (1,), ()):
            raise ValueError(f"timestep must be a tensor of shape ({b},) (one per sample), "
                             f"got {getattr(timestep, 'shape', type(timestep).__name__)}")
        # A NaN check reads the value back; only do it where that costs no device synchronisation.
        if timestep.device.type == "cpu" and not torch.isfinite(timestep.float()).all():
            raise ValueError(f"timestep contains NaN or infinite values: {timestep.tolist()}")
        if not isinstance(context, torch.Tensor) or context.ndim != 3 or context.shape[0] != b \
                or context.shape[2] != cfg.caption_channels:
            raise ValueError(f"text embeddings must be (B={b}, L, {cfg.caption_channels}), "
                             f"got {getattr(context, 'shape', type(context).__name__)}")
        if context_mask is not None and tuple(context_mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"text mask must be (B, L) = {tuple(context.shape[:2])}, got {tuple(context_mask.shape)}")

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                context_mask: Optional[torch.Tensor] = None, window: Optional[WindowSettings] = None,
                attention_fn: Optional[AttentionFn] = None, compute_dtype: Optional[torch.dtype] = None
                ) -> torch.Tensor:
        """See the class docstring. ``compute_dtype`` overrides the working dtype (a host that stores
        weights in fp8 and casts them per layer passes its compute dtype here)."""
        self.validate(x, timestep, context, context_mask)
        image = x.ndim == 4
        if image:
            x = x[:, :, None]
        b, _, f, hl, wl = x.shape
        p = self.config.patch_size
        grid = (f, hl // p, wl // p)
        dtype = compute_dtype or self.working_dtype
        layout = self.layout(grid, window, x.device, dtype)
        timestep = timestep.reshape(-1).expand(b)

        tokens = self.pos_embed(x.to(dtype), self._positional(grid, x.device))  # (B, F, H, W, D)
        e, modulation = self.adaln_single(timestep, dtype)
        text_bias = None
        if context_mask is not None:
            text_bias = ((1 - context_mask.to(dtype)) * MASKED)[:, None, None, :]
        ctx = BlockContext(layout, modulation, self.caption_projection(context.to(dtype)), text_bias,
                           attention_fn or self.attention_fn)

        h = layout.to_windows(tokens)
        for block in self.transformer_blocks:
            h = block(h, ctx)

        shift, scale = (self.scale_shift_table.to(device=e.device, dtype=dtype)[None] + e[:, None]).unbind(1)
        h = torch.addcmul(shift[:, None], self.norm_out(h), 1 + scale[:, None])
        out = layout.to_grid(self.proj_out(h))  # (B, F, H, W, p*p*C)
        c = self.config.out_channels
        out = out.reshape(b, f, grid[1], grid[2], p, p, c).permute(0, 6, 1, 2, 4, 3, 5)
        out = out.reshape(b, c, f, hl, wl).float()
        return out[:, :, 0] if image else out
