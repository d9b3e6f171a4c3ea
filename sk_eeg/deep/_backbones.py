"""Backbones: any timm 2D model by name, and a parallel grouped 1D CNN."""

import os

import torch
from torch import nn

RAW_BACKBONES = ("parallel_cnn1d",)


def build_timm_backbone(name, in_chans=1, checkpoint=None, drop_rate=0.0):
    """Build a timm model without its head or pooling.

    Parameters
    ----------
    name : str
        A timm model name (``timm.list_models()``), e.g. ``'mixnet_s'``.
    in_chans : int
        Input image channels.
    checkpoint : path-like | None
        A local weights file (timm / torch state dict); never downloaded.
    drop_rate : float
        Dropout rate inside the model, where it has one.

    Returns
    -------
    model : torch.nn.Module
        Maps ``(batch, in_chans, H, W)`` to feature maps
        ``(batch, num_features, h, w)``.
    num_features : int
        Number of output feature maps.
    """
    import timm

    if not timm.is_model(name):
        raise ValueError(
            f"backbone={name!r} is not a timm model nor one of {RAW_BACKBONES}; "
            "see timm.list_models() for the names."
        )
    kwargs = dict(pretrained=False, num_classes=0, global_pool="", in_chans=in_chans)
    if drop_rate:
        kwargs["drop_rate"] = drop_rate
    model = timm.create_model(name, **kwargs)
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(
                f"checkpoint={checkpoint!r} does not exist; give a local weights "
                "file (nothing is downloaded)."
            )
        from timm.models import load_checkpoint

        load_checkpoint(model, os.fspath(checkpoint), strict=False)
    return model, int(model.num_features)


class _GroupedBlock(nn.Module):
    """1x1 conv -> grouped temporal conv -> 1x1 conv -> BN -> GELU -> pool.

    The 1x1 convolutions around the grouped one mix information between the
    groups, which a grouped convolution alone would keep isolated.
    """

    def __init__(self, in_ch, out_ch, kernel_size, groups, pool):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(in_ch, out_ch, 1, bias=False),
            nn.Conv1d(
                out_ch,
                out_ch,
                kernel_size,
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            nn.Conv1d(out_ch, out_ch, 1, bias=False),
            nn.BatchNorm1d(out_ch),
            nn.GELU(),
        )
        self.pool = nn.MaxPool1d(pool, ceil_mode=True) if pool > 1 else nn.Identity()

    def forward(self, x):
        return self.pool(self.body(x))


class ParallelGroupedCNN1d(nn.Module):
    """Parallel spatial and temporal 1D CNN on the raw derivations.

    The spatial branch first filters each time step across neighbouring
    derivations (a ``(3, 1)`` convolution over the chain axis), the temporal
    branch works on the derivations directly; both then stack grouped temporal
    convolutions wrapped in 1x1 convolutions, downsampling by ``pool`` per
    block. Their feature maps are concatenated along the feature axis.

    Parameters
    ----------
    n_chans : int
        Number of derivations.
    width : int
        Feature maps per branch.
    n_blocks : int
        Grouped blocks per branch.
    groups : int
        Groups of the grouped convolutions (must divide ``width``).
    kernel_size : int
        Temporal kernel size.
    pool : int
        Downsampling per block.
    """

    def __init__(self, n_chans, width=32, n_blocks=4, groups=4, kernel_size=7, pool=4):
        super().__init__()
        if width % groups:
            raise ValueError(f"groups={groups} must divide width={width}.")
        self.spatial_filter = nn.Conv2d(1, 4, (3, 1), padding=(1, 0), bias=False)
        spatial, temporal = [], []
        for k in range(n_blocks):
            spatial.append(
                _GroupedBlock(
                    4 * n_chans if k == 0 else width, width, kernel_size, groups, pool
                )
            )
            temporal.append(
                _GroupedBlock(
                    n_chans if k == 0 else width, width, kernel_size, groups, pool
                )
            )
        self.spatial = nn.Sequential(*spatial)
        self.temporal = nn.Sequential(*temporal)
        self.num_features = 2 * width

    def forward(self, x):
        """Map ``(batch, n_chans, n_times)`` to ``(batch, 2 * width, n_steps)``."""
        return torch.cat([self._spatial(x), self.temporal(x)], dim=1)

    def _spatial(self, x):
        # The (3, 1) spatial filter and the first 1x1 convolution of the
        # spatial branch are both linear: apply their product as one 1x1
        # convolution over the derivations (the same function, computed on
        # n_chans instead of 4 * n_chans input maps).
        first = self.spatial[0].body[0]
        n_chans = x.shape[1]
        # spatial_filter as a (4 * n_chans, n_chans) matrix; row f * n_chans + c
        # holds taps at channels c - 1, c, c + 1 (zero padded)
        taps = self.spatial_filter.weight[:, 0, :, 0]  # (4, 3)
        eye = torch.eye(n_chans, dtype=x.dtype, device=x.device)
        shifts = torch.stack(
            [
                nn.functional.pad(eye, (0, 0, 1, 0))[:n_chans],  # channel c - 1
                eye,
                nn.functional.pad(eye, (0, 0, 0, 1))[1:],  # channel c + 1
            ]
        )  # (3, n_chans, n_chans): shifts[k, c, c'] = 1 if c' = c + k - 1
        spatial = torch.einsum("fk,kcd->fcd", taps, shifts).reshape(-1, n_chans)
        weight = first.weight[:, :, 0] @ spatial  # (width, n_chans)
        out = nn.functional.conv1d(x, weight[:, :, None])
        block = self.spatial[0]
        out = block.pool(block.body[1:](out))
        return self.spatial[1:](out)
