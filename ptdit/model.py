"""The PT-DiT transformer (Proxy-Tokenized Diffusion Transformer, Qihoo-T2X).

Parameter names follow the official ``PTDiTDiffuser`` so its checkpoints load unchanged. Tokens
travel through the blocks in window-major order (B, N, D) over a grid padded to whole windows;
see :mod:`ptdit.attention` for the geometry and ``docs/architecture.md`` for the maths.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import (MASKED, Attention, AttentionFn, LinearBuffers, ShapeCache, WindowLayout, accumulate_linear_,
                        gated_add, gather_rows, scatter_add_rows, sdpa)
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
    fold_projections: bool = False  # see attention_then_linear
    through_proxies: bool = False  # see attention_through_proxies
    buffers: Optional[LinearBuffers] = None  # output buffers shared by the blocks (sampling, plain layers)


# Rows of the FFN's 4D-wide activation a CPU computes at a time: 19 MB at 1024 px, which stays in cache
# between the two GEMMs instead of travelling to memory and back for the GELU.
FFN_ROWS = 1024
# Bytes of activation the CPU's tanh-GELU works on per pass (a core's L2 cache).
GELU_BYTES = 1 << 20
GELU_C = math.sqrt(2 / math.pi)


def bias_gelu_tanh_(h: torch.Tensor, bias: torch.Tensor, buffers: LinearBuffers) -> torch.Tensor:
    """h <- tanh-GELU(h + bias) in place, h (R, C) float32 on CPU, bias (C,).

    0.5 h (1 + tanh(c (h + 0.044715 h^3))) as five elementwise passes over row blocks of GELU_BYTES,
    each block kept in cache: about 0.7x the time of PyTorch's fused kernel, whose tanh is slow on
    CPU. Equal to ``F.gelu(h + bias, approximate="tanh")`` to float rounding.
    """
    rows = max(1, GELU_BYTES // (h.shape[1] * h.element_size()))
    scratch = buffers.buffer("gelu", rows, h.shape[1], h)
    c = torch.tensor(GELU_C, dtype=h.dtype)
    for start in range(0, h.shape[0], rows):
        part = h[start:start + rows].add_(bias)
        t = torch.addcmul(c, part, part, value=GELU_C * 0.044715, out=scratch[:part.shape[0]])
        t.mul_(part).tanh_()  # tanh(c h + c 0.044715 h^3)
        part.mul_(0.5).addcmul_(part, t)
    return h


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

    def add_to(self, residual: torch.Tensor, gate: torch.Tensor, x: torch.Tensor,
               buffers: Optional[LinearBuffers] = None) -> torch.Tensor:
        """``residual + gate * self(x)`` -> (B, N, D): residual, x (B, N, D), gate (B, 1, D).

        In place on ``residual`` when no graph is recorded. With ``buffers`` (sampling) both layers write
        into them; on CPU the rows run in blocks of FFN_ROWS, each block's result added to its rows of
        ``residual`` before the next begins, so the 4D-wide activation stays in cache.
        """
        if buffers is None:
            return gated_add(residual, gate, self(x))
        first, second = self.net[0].proj, self.net[2]
        cpu = x.device.type == "cpu"
        step = FFN_ROWS if cpu else x.shape[1]
        own_gelu = cpu and x.dtype == torch.float32
        for i in range(x.shape[0]):
            for start in range(0, x.shape[1], step):
                rows = slice(start, start + step)
                if own_gelu:
                    h = bias_gelu_tanh_(buffers.linear(x[i, rows], first.weight, None, "ffn"), first.bias, buffers)
                else:
                    h = torch.ops.aten.gelu_(buffers.linear(x[i, rows], first.weight, first.bias, "ffn"),
                                             approximate="tanh")
                residual[i, rows].addcmul_(gate[i], buffers.linear(h, second.weight, second.bias, "out"))
        return residual


def modulated_norm(norm: nn.Module, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation ``norm(x) * (1 + scale) + shift``: x (B, N, D), shift/scale (B, 1, D) -> (B, N, D).

    A parameter-free norm on one sample folds the modulation into the layer norm's own affine step
    (one pass over x); otherwise it runs after the norm, in place when no graph is recorded.
    """
    if x.shape[0] == 1 and norm.weight is None:
        return F.layer_norm(x, norm.normalized_shape, (1 + scale).reshape(-1), shift.reshape(-1), norm.eps)
    normed = norm(x)
    if torch.is_grad_enabled():
        return torch.addcmul(shift, normed, 1 + scale)
    return torch.addcmul(shift, normed, 1 + scale, out=normed)


def folded_linears(first_weight: torch.Tensor, first_bias: torch.Tensor, second: nn.Module,
                   gate: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``second(gate * (h first_weight^T + first_bias))`` as one affine map of h: (weight (D2, D0), bias
    (D2,)) without a gate, (weight (B, D2, D0), bias (B, D2)) with per-sample channel gates (B, 1, D1).
    ``second`` a Linear layer; the product is taken in float32 at least and returned in its dtype."""
    dtype = second.weight.dtype
    w2 = second.weight.float() if gate is None else second.weight.float() * gate.float()
    weight, bias = w2 @ first_weight.float(), w2 @ first_bias.float() + second.bias.float()
    return weight.to(dtype), bias.to(dtype)


def apply_affine(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                 residual: Optional[torch.Tensor] = None, buffers: Optional[LinearBuffers] = None) -> torch.Tensor:
    """h (B, N, D0) through :func:`folded_linears`' map -> (B, N, D2), plus ``residual`` (B, N, D2) when
    given: the GEMM then adds into a new tensor that starts as residual + bias. Without a residual the
    result goes into the "out" buffer when ``buffers`` are given."""
    if residual is not None:
        return accumulate_linear_(residual + (bias if bias.ndim == 1 else bias[:, None]), h, weight)
    if weight.ndim == 2 or h.shape[0] == 1:
        weight, bias = weight.reshape(-1, weight.shape[-1]), bias.reshape(-1)
        return F.linear(h, weight, bias) if buffers is None else buffers.linear(h, weight, bias, "out")
    b, n = h.shape[:2]
    out = None if buffers is None else buffers.buffer("out", b * n, weight.shape[1], h).view(b, n, -1)
    return torch.baddbmm(bias[:, None], h, weight.transpose(1, 2), out=out)


def attention_then_linear(attention: Attention, linear: nn.Module, gate: Optional[torch.Tensor], fold: bool,
                          inplace: bool, *args, residual: Optional[torch.Tensor] = None, **kwargs) -> torch.Tensor:
    """``linear(gate * attention(*args, **kwargs))`` -> (B, S, D), plus ``residual`` when given (a new
    tensor); gate (B, 1, D) or None for 1, applied in place on the attention output when ``inplace`` (no
    graph recorded).

    The attention's output projection and ``linear`` are two affine maps in a row. With ``fold`` they
    run as one GEMM of their product (:func:`folded_linears`): one D³ product per call (per sample with
    a gate) instead of an N·D² GEMM per sample, which pays when a sample has more than D tokens. Folding
    reads the weights directly, so only a model whose layers are plain ``Linear`` modules may fold.
    """
    if fold:
        heads, out_bias = attention.attend(*args, **kwargs)
        return apply_affine(heads, *folded_linears(attention.to_out[0].weight, out_bias, linear, gate), residual,
                            kwargs.get("buffers"))
    a = attention(*args, **kwargs)
    if gate is not None:
        a = a.mul_(gate) if inplace else a * gate
    return linear(a) if residual is None else residual + linear(a)


def attention_through_proxies(attention: Attention, linear: nn.Module, x: torch.Tensor, proxies: torch.Tensor,
                              bias: Optional[torch.Tensor], residual: Optional[torch.Tensor] = None,
                              buffers: Optional[LinearBuffers] = None) -> torch.Tensor:
    """``linear(attention(x, proxies, bias))`` -> (B, N, D) for x (B, N, D) queries and few proxy keys
    (B, P, D); bias (1, 1, 1, P) additive or None; plus ``residual`` (B, N, D) when given (a new tensor).
    Reads the weights directly, like folding; the scores go into the "scores" buffer when ``buffers``
    are given.

    Per head h (d channels, scale s = d^-1/2) the scores are (x Wq_h^T + bq_h) K_h^T s
    = x (s K_h Wq_h)^T + s bq_h K_h^T, so the scores of all heads are one (N, D) x (D, H·P) GEMM against
    proxy-side matrices; and ``linear(to_out(concat_h A_h V_h))`` = sum_h A_h V_h (W1 Wo)_h^T + W1 bo + b1
    is one (N, H·P) x (H·P, D) GEMM. That is 2·N·D·H·P multiply-adds in place of 3·N·D² + 2·N·P·D
    (query projection, attention, folded output pair); the proxy-side products cost 3·P·D², and the
    weight product W1 Wo is kept until the weights change. Worth it when H·P < D
    (:meth:`PTDiTConfig.folds_through_proxies`).
    """
    b, n, dim = x.shape
    heads, p = attention.heads, proxies.shape[1]
    head_dim = dim // heads
    to_q, to_out = attention.to_q, attention.to_out[0]
    k = attention.to_k(proxies).view(b, p, heads, head_dim).transpose(1, 2).float()  # (B, H, P, d)
    v = attention.to_v(proxies).view(b, p, heads, head_dim).transpose(1, 2).float()
    scale = head_dim ** -0.5
    keys = (k @ to_q.weight.float().view(heads, head_dim, dim)).mul_(scale)  # (B, H, P, D): s K_h Wq_h
    key_bias = k.new_zeros(b, heads, p)  # (B, H, P): s bq_h K_h^T
    if to_q.bias is not None:
        key_bias = (k * to_q.bias.float().view(1, heads, 1, head_dim)).sum(-1).mul_(scale)
    if bias is not None:
        key_bias = key_bias + bias.float().reshape(1, 1, p)
    sources = (to_out.weight, to_out.bias, linear.weight, linear.bias)
    out_weight = attention.derived.get("then_linear", sources, lambda: (
        linear.weight.float() @ to_out.weight.float()).view(dim, heads, head_dim).permute(1, 2, 0).contiguous())
    out_bias = attention.derived.get("then_linear_bias", sources, lambda: torch.addmv(
        linear.bias.float(), linear.weight.float(), to_out.bias.float()))  # (D,): W1 bo + b1
    values = (v @ out_weight).reshape(b, heads * p, dim)  # (B, H·P, D): V_h (W1 Wo)_h^T
    dtype = x.dtype
    out = None if buffers is None else buffers.buffer("scores", b * n, heads * p, x).view(b, n, heads * p)
    scores = torch.baddbmm(key_bias.to(dtype).reshape(b, 1, heads * p), x,
                           keys.to(dtype).reshape(b, heads * p, dim).transpose(1, 2), out=out)  # (B, N, H·P)
    weights = scores.view(b, n, heads, p).softmax(-1).view(b, n, heads * p)
    if residual is None:
        return torch.baddbmm(out_bias.to(dtype), weights, values.to(dtype))
    return accumulate_linear_(residual + out_bias.to(dtype), weights, values.to(dtype).transpose(1, 2))


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
        self.has_shift_window = config.shift_window
        if config.shift_window:
            self.shift_window_norm, self.attn3 = norm(), attention()
            self.linear_2 = operations.Linear(dim, dim, **kw)
            self.proxy_scale_shift_table = nn.Parameter(torch.empty(3, dim, **kw))

    def forward(self, x: torch.Tensor, ctx: BlockContext) -> torch.Tensor:
        """x (B, N, D) window-major tokens -> (B, N, D).

        The first residual add makes a new tensor (the caller's ``x`` is never written); when no graph
        is recorded, the later ones accumulate into it in place.
        """
        layout, attn = ctx.layout, ctx.attention_fn
        inplace = not torch.is_grad_enabled()
        table = self.scale_shift_table.to(device=x.device, dtype=x.dtype)[None] + ctx.modulation  # (B, 6, D)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = table[:, :, None].unbind(1)

        # Global Information Interaction Module.
        proxies = layout.proxies(x)
        p = self.proxy_norm1(proxies)
        proxies = proxies + self.proxy_attn1(p, bias=layout.proxy_bias, attention_fn=attn)
        if ctx.through_proxies:
            x = attention_through_proxies(self.pvisual_attn2, self.linear_1_visual, self.norm_before(x),
                                          self.proxy_cross_norm(proxies), layout.proxy_bias, residual=x,
                                          buffers=ctx.buffers)
        else:
            x = attention_then_linear(self.pvisual_attn2, self.linear_1_visual, None, ctx.fold_projections,
                                      inplace, self.norm_before(x), self.proxy_cross_norm(proxies),
                                      bias=layout.proxy_bias, attention_fn=attn, buffers=ctx.buffers, residual=x)

        # Texture Complement Module.
        if layout.settings.window_attention:
            x = self.attn1.add_to(x, gate_msa, modulated_norm(self.norm1, x, shift_msa, scale_msa),
                                  bias=ctx.window_bias, windows=layout.num_windows, attention_fn=attn,
                                  buffers=ctx.buffers)
        if layout.settings.shift_window:
            sw = self.proxy_scale_shift_table.to(device=x.device, dtype=x.dtype)[None] + ctx.modulation[:, :3]
            shift_sw, scale_sw, gate_sw = sw[:, :, None].unbind(1)
            y = gather_rows(modulated_norm(self.shift_window_norm, x, shift_sw, scale_sw), ctx.shift_rows, ctx.buffers)
            # Gate and linear_2 act per token, so they run in shifted order; index_add scatters the result
            # back (token shift_index[i] receives row i), which is the unshift and the residual add in one.
            z = attention_then_linear(self.attn3, self.linear_2, gate_sw, ctx.fold_projections, inplace, y,
                                      bias=ctx.shift_bias, windows=layout.num_windows, attention_fn=attn,
                                      buffers=ctx.buffers)
            x = scatter_add_rows(x, ctx.shift_rows, z, inplace)

        x = self.attn2.add_to(x, None, x, ctx.text, bias=ctx.text_bias, attention_fn=attn, buffers=ctx.buffers)
        return self.ff.add_to(x, gate_mlp, modulated_norm(self.norm2, x, shift_mlp, scale_mlp), ctx.buffers)


# (block index, block, x (B, N, D), context) -> (B, N, D): runs one block in place of ``block(x, ctx)``.
BlockHook = Callable[[int, PTDiTBlock, torch.Tensor, BlockContext], torch.Tensor]


class PTDiT(nn.Module):
    """PT-DiT transformer.

    ``forward(x, timestep, context, context_mask=None, window=None)``:
    x (B, C_in, H, W) or (B, C_in, F, H, W) latents; timestep (B,) raw diffusion time in [0, 1000]
    (each sample is modulated with its own); context (B, L, caption_channels); context_mask (B, L)
    with 1 = keep, 0 = ignore; window a :class:`WindowSettings` (default: the checkpoint's).
    Returns (B, out_channels, [F,] H, W) float32.

    ``fold_projections``: when sampling (no autograd) with more tokens per sample than the hidden size,
    run each pair of consecutive linear layers as one GEMM (:func:`attention_then_linear`), and with few
    proxies the proxy-to-token attention through the proxies (:func:`attention_through_proxies`, which
    computes its own softmax instead of calling ``attention_fn``); at any size when sampling, the
    linear layers write their outputs into buffers shared by the blocks (:class:`LinearBuffers`),
    keys and values skip their biases (:meth:`Attention.attend`; ``attention_fn`` must then be
    softmax attention), output projections add straight into the residual and the FFN runs in
    cache-sized row blocks on CPU (:meth:`FeedForward.add_to`).
    It reads the weights directly, so a host whose layers cast or patch weights per call passes False.

    Any sampling forward outside torch.compile drops the text tokens that every sample masks
    (:func:`drop_masked_text`): prompts padded to 200 tokens attend to their few dozen real ones.
    """

    def __init__(self, config: PTDiTConfig, dtype=None, device=None, operations=nn,
                 attention_fn: AttentionFn = sdpa, init_weights: bool = True, fold_projections: bool = True):
        super().__init__()
        self.config = config
        self.dtype = dtype
        self.attention_fn = attention_fn
        self.fold_projections = fold_projections
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
        self._sampling_buffers = ShapeCache(capacity=2)  # (thread, batch, tokens, dtype, device) -> LinearBuffers
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

    def sampling_buffers(self, batch: int, tokens: int, dtype: torch.dtype, device) -> LinearBuffers:
        """The activation buffers of a sampling forward, kept between forwards of the same shape in the
        same thread (the two most recent shapes): steady-state sampling then allocates no large tensor
        for the linear layers. Under torch.compile a fresh set per forward (no Python state in the graph).
        :meth:`release_buffers` frees them."""
        if torch.compiler.is_compiling():
            return LinearBuffers()
        key = (threading.get_ident(), batch, tokens, dtype, torch.device(device))
        return self._sampling_buffers.get(key, LinearBuffers)

    def release_buffers(self) -> None:
        """Frees the activation buffers kept between sampling forwards (the next one makes them again)."""
        self._sampling_buffers.clear()

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
        sampling = not torch.is_grad_enabled()
        direct = self.fold_projections and sampling  # weights may be read directly
        if sampling and context_mask is not None and not torch.compiler.is_compiling():  # shapes from data
            context, context_mask = drop_masked_text(context, context_mask)
        text_bias = None
        if context_mask is not None:
            text_bias = ((1 - context_mask.to(dtype)) * MASKED)[:, None, None, :]
        fold = direct and self.config.folds_projections(layout.tokens)
        through_proxies = fold and self.config.folds_through_proxies(layout.num_proxies)
        buffers = self.sampling_buffers(b, layout.tokens, dtype, x.device) if direct else None
        ctx = BlockContext(layout, window_bias, shift_bias, shift_rows, modulation,
                           self.caption_projection(context.to(dtype)), text_bias, attention_fn or self.attention_fn,
                           fold, through_proxies, buffers)

        h = layout.to_windows(self.pos_embed(x.to(dtype)), positions)  # (B, N, D)
        for i, block in enumerate(self.transformer_blocks):
            h = block(h, ctx) if block_hook is None else block_hook(i, block, h, ctx)

        shift, scale = (self.scale_shift_table.to(device=e.device, dtype=dtype)[None] + e[:, None]).unbind(1)
        h = modulated_norm(self.norm_out, h, shift[:, None], scale[:, None])
        out = layout.to_grid(self.proj_out(h))  # (B, F, H, W, p*p*C)
        c = self.config.out_channels
        out = out.reshape(b, f, grid[1], grid[2], p, p, c).permute(0, 6, 1, 2, 4, 3, 5)
        out = out.reshape(b, c, f, hl, wl).float()
        return out[:, :, 0] if image else out
