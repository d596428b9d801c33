"""Segment sums over atoms or structures (the one reduction every model uses)."""

from __future__ import annotations

import torch


def scatter_sum(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """out[k] = sum of src[e] over e with index[e] == k, along the first dimension."""
    out = src.new_zeros((dim_size, *src.shape[1:]))
    return out.index_add_(0, index, src)
