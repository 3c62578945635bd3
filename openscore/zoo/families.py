"""Small LLaMA-, GPT-2- and GPT-NeoX-shaped language models whose parameter names are the Hub's.

Each module tree mirrors the transformers class it imitates, so `state_dict()` yields exactly the
tensor names a real checkpoint of that family carries (`model.layers.N.self_attn.q_proj.weight`,
`transformer.h.N.attn.c_attn.weight` stored [in, out] like GPT-2's Conv1D, NeoX's per-head
interleaved `query_key_value`) and `config()` the real config.json keys. transformers is not a
dependency; the forward passes are written out here so the zoo can train them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Geometry:
    """The hyper-parameters a zoo family is built with (openscore/zoo/cases.yaml `families`)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    context: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def _rope(x: torch.Tensor, rot_dim: int, base: float) -> torch.Tensor:
    """Rotary embedding on the first `rot_dim` channels of each head, HF "rotate_half" layout."""
    seq = x.shape[-2]
    inv = 1.0 / (base ** (torch.arange(0, rot_dim, 2, dtype=torch.float32) / rot_dim))
    angles = torch.outer(torch.arange(seq, dtype=torch.float32), inv)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    rot, rest = x[..., :rot_dim], x[..., rot_dim:]
    half = rot_dim // 2
    rotated = torch.cat([-rot[..., half:], rot[..., :half]], -1)
    return torch.cat([rot * cos + rotated * sin, rest], -1)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention over [batch, heads, seq, head_dim]; kv heads are shared by groups of q heads."""
    if k.shape[1] != q.shape[1]:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return out.transpose(1, 2).flatten(2)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _linear(n_in: int, n_out: int, bias: bool) -> nn.Linear:
    layer = nn.Linear(n_in, n_out, bias=bias)
    nn.init.normal_(layer.weight, std=0.02)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


# ---------------------------------------------------------------- LLaMA
class LlamaAttention(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.g = g
        self.q_proj = _linear(g.hidden, g.heads * g.head_dim, False)
        self.k_proj = _linear(g.hidden, g.kv_heads * g.head_dim, False)
        self.v_proj = _linear(g.hidden, g.kv_heads * g.head_dim, False)
        self.o_proj = _linear(g.heads * g.head_dim, g.hidden, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        hd = self.g.head_dim
        q = self.q_proj(x).view(b, s, -1, hd).transpose(1, 2)
        k = self.k_proj(x).view(b, s, -1, hd).transpose(1, 2)
        v = self.v_proj(x).view(b, s, -1, hd).transpose(1, 2)
        q, k = _rope(q, hd, 10000.0), _rope(k, hd, 10000.0)
        return self.o_proj(_attend(q, k, v))


class LlamaMLP(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.gate_proj = _linear(g.hidden, g.ffn, False)
        self.up_proj = _linear(g.hidden, g.ffn, False)
        self.down_proj = _linear(g.ffn, g.hidden, False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.input_layernorm = RMSNorm(g.hidden)
        self.self_attn = LlamaAttention(g)
        self.post_attention_layernorm = RMSNorm(g.hidden)
        self.mlp = LlamaMLP(g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.embed_tokens = nn.Embedding(g.vocab, g.hidden)
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        self.layers = nn.ModuleList(LlamaLayer(g) for _ in range(g.layers))
        self.norm = RMSNorm(g.hidden)


class LlamaForCausalLM(nn.Module):
    family = "llama"

    def __init__(self, g: Geometry):
        super().__init__()
        self.g = g
        self.model = LlamaBody(g)
        self.lm_head = _linear(g.hidden, g.vocab, False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x)
        return self.lm_head(self.model.norm(x))

    def config(self) -> dict:
        g = self.g
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": g.hidden,
            "intermediate_size": g.ffn, "num_attention_heads": g.heads, "num_key_value_heads": g.kv_heads,
            "num_hidden_layers": g.layers, "vocab_size": g.vocab, "max_position_embeddings": g.context,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
            "attention_bias": False, "bos_token_id": 256, "eos_token_id": 257, "torch_dtype": "float32",
        }


# ---------------------------------------------------------------- GPT-2
class Conv1D(nn.Module):
    """GPT-2's linear layer: weight stored [in, out] (transposed against nn.Linear)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class GPT2Attention(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.g = g
        self.c_attn = Conv1D(g.hidden, 3 * g.hidden)
        self.c_proj = Conv1D(g.hidden, g.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = (t.view(b, s, self.g.heads, -1).transpose(1, 2) for t in self.c_attn(x).split(d, -1))
        return self.c_proj(_attend(q, k, v))


class GPT2MLP(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.c_fc = Conv1D(g.hidden, g.ffn)
        self.c_proj = Conv1D(g.ffn, g.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class GPT2Block(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.ln_1 = nn.LayerNorm(g.hidden)
        self.attn = GPT2Attention(g)
        self.ln_2 = nn.LayerNorm(g.hidden)
        self.mlp = GPT2MLP(g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Body(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.wte = nn.Embedding(g.vocab, g.hidden)
        self.wpe = nn.Embedding(g.context, g.hidden)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.01)
        self.h = nn.ModuleList(GPT2Block(g) for _ in range(g.layers))
        self.ln_f = nn.LayerNorm(g.hidden)


class GPT2LMHeadModel(nn.Module):
    """lm_head is tied to `transformer.wte` and, as in real GPT-2 checkpoints, not stored."""

    family = "gpt2"

    def __init__(self, g: Geometry):
        super().__init__()
        self.g = g
        self.transformer = GPT2Body(g)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = self.transformer
        x = t.wte(ids) + t.wpe(torch.arange(ids.shape[1]))
        for block in t.h:
            x = block(x)
        return t.ln_f(x) @ t.wte.weight.T

    def config(self) -> dict:
        g = self.g
        return {
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": g.hidden, "n_layer": g.layers,
            "n_head": g.heads, "n_inner": g.ffn, "n_positions": g.context, "n_ctx": g.context,
            "vocab_size": g.vocab, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "bos_token_id": 256, "eos_token_id": 257, "tie_word_embeddings": True, "torch_dtype": "float32",
        }


# ---------------------------------------------------------------- GPT-NeoX
class NeoXAttention(nn.Module):
    """`query_key_value` rows are laid out [head, (q|k|v), head_dim], as GPT-NeoX/Pythia store them."""

    def __init__(self, g: Geometry):
        super().__init__()
        self.g = g
        self.query_key_value = _linear(g.hidden, 3 * g.hidden, True)
        self.dense = _linear(g.hidden, g.hidden, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        hd = self.g.head_dim
        qkv = self.query_key_value(x).view(b, s, self.g.heads, 3 * hd).transpose(1, 2)
        q, k, v = qkv.split(hd, -1)
        rot = hd // 4  # rotary_pct 0.25
        q, k = _rope(q, rot, 10000.0), _rope(k, rot, 10000.0)
        return self.dense(_attend(q, k, v))


class NeoXMLP(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.dense_h_to_4h = _linear(g.hidden, g.ffn, True)
        self.dense_4h_to_h = _linear(g.ffn, g.hidden, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x)))


class NeoXLayer(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(g.hidden)
        self.post_attention_layernorm = nn.LayerNorm(g.hidden)
        self.attention = NeoXAttention(g)
        self.mlp = NeoXMLP(g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # parallel residual
        return x + self.attention(self.input_layernorm(x)) + self.mlp(self.post_attention_layernorm(x))


class NeoXBody(nn.Module):
    def __init__(self, g: Geometry):
        super().__init__()
        self.embed_in = nn.Embedding(g.vocab, g.hidden)
        nn.init.normal_(self.embed_in.weight, std=0.02)
        self.layers = nn.ModuleList(NeoXLayer(g) for _ in range(g.layers))
        self.final_layer_norm = nn.LayerNorm(g.hidden)


class GPTNeoXForCausalLM(nn.Module):
    family = "neox"

    def __init__(self, g: Geometry):
        super().__init__()
        self.g = g
        self.gpt_neox = NeoXBody(g)
        self.embed_out = _linear(g.hidden, g.vocab, False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.gpt_neox.embed_in(ids)
        for layer in self.gpt_neox.layers:
            x = layer(x)
        return self.embed_out(self.gpt_neox.final_layer_norm(x))

    def config(self) -> dict:
        g = self.g
        return {
            "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": g.hidden,
            "intermediate_size": g.ffn, "num_attention_heads": g.heads, "num_hidden_layers": g.layers,
            "vocab_size": g.vocab, "max_position_embeddings": g.context, "rotary_pct": 0.25,
            "rotary_emb_base": 10000, "layer_norm_eps": 1e-5, "use_parallel_residual": True,
            "hidden_act": "gelu", "tie_word_embeddings": False, "bos_token_id": 256, "eos_token_id": 257,
            "torch_dtype": "float32",
        }


MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.family: cls for cls in (LlamaForCausalLM, GPT2LMHeadModel, GPTNeoXForCausalLM)
}


def make_model(family: str, g: Geometry, seed: int) -> nn.Module:
    """A fresh model of `family`, initialised from `seed` alone."""
    torch.manual_seed(seed)
    return MODEL_CLASSES[family](g)


def model_from_state(family: str, g: Geometry, state: dict[str, torch.Tensor]) -> nn.Module:
    model = MODEL_CLASSES[family](g)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model


def geometry_of(family: str, state: dict[str, torch.Tensor], base: Geometry) -> Geometry:
    """`base` with width, layer count and vocabulary read back from the tensors (pruned, up-scaled, extended,
    or a base pretrained at another width)."""
    prefix = {"llama": "model.layers.", "gpt2": "transformer.h.", "neox": "gpt_neox.layers."}[family]
    layers = 1 + max(int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix))
    embed = {"llama": "model.embed_tokens.weight", "gpt2": "transformer.wte.weight", "neox": "gpt_neox.embed_in.weight"}
    vocab, hidden = state[embed[family]].shape
    up = f"{prefix}0.mlp.up_proj.weight"  # LLaMA after width pruning
    ffn = state[up].shape[0] if family == "llama" and up in state else base.ffn
    return Geometry(hidden, layers, base.heads, base.kv_heads, ffn, vocab, base.context)


def perplexity_bits(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy in bits per token: the zoo records it to show each base really learned."""
    with torch.no_grad():
        logits = model(ids)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item() / math.log(2)
