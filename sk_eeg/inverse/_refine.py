"""Sub-grid refinement: the active sources as free dipoles in continuous space.

After the sparse solver has found a support on the source grid, each active
source is moved off the grid: the positions of all active sources are fitted
jointly (one dipole at a time, in sweeps, inside the inner skull) by
minimizing the whitened residual of the data window, their moments (orientation and
amplitude at every time sample) being the least-squares solution for given
positions. The gain at a position is computed as :func:`mne.fit_dipole`
computes it, with MNE's forward machinery on the BEM or sphere model.
"""

import numpy as np
from scipy.optimize import minimize


class _FieldComputer:
    """Whitened gain of free dipoles at arbitrary positions (head frame).

    Set up once per (info, bem, trans) the way :func:`mne.fit_dipole` does,
    then ``gain(rr)`` returns ``(n_channels, 3 * n_dipoles)`` for the channels
    of ``info`` (its projectors applied), whitened with ``whitener``.
    """

    def __init__(self, info, bem, trans, whitener, min_dist=0.005):
        from mne import pick_types
        from mne.bem import _bem_find_surface, _fit_sphere
        from mne.dipole import _sphere_constraint, _surface_constraint
        from mne.forward._compute_forward import _prep_field_computation
        from mne.forward._make_forward import (
            _get_trans,
            _prep_eeg_channels,
            _prep_meg_channels,
            _setup_bem,
        )
        from mne.surface import transform_surface_to
        from mne.transforms import apply_trans

        n_eeg = len(pick_types(info, meg=False, eeg=True, exclude=[]))
        mri_head_t, _ = _get_trans(trans)
        bem = _setup_bem(bem, repr(bem), n_eeg, mri_head_t, verbose=False)
        sensors = {}
        if len(pick_types(info, meg=True, eeg=False, exclude=[])):
            sensors["meg"] = _prep_meg_channels(info, exclude="bads", verbose=False)
        if n_eeg:
            sensors["eeg"] = _prep_eeg_channels(info, exclude="bads", verbose=False)
        self.sensors = sensors
        self.fwd_data = _prep_field_computation(
            sensors=sensors, bem=bem, n_jobs=1, verbose=False
        )
        if bem["is_sphere"]:
            r0 = np.asarray(bem["r0"], float)
            radius = bem["layers"][0]["rad"] - min_dist
            self.inside = lambda rd: _sphere_constraint(rd, r0, radius)
            self.center = r0
        else:
            surf = _bem_find_surface(bem, "inner_skull").copy()
            transform_surface_to(surf, "head", mri_head_t)
            self.inside = lambda rd: _surface_constraint(rd, surf, min_dist)
            self.center = apply_trans(
                mri_head_t["trans"], _fit_sphere(surf["rr"])[1][np.newaxis]
            )[0]
        self.whitener = whitener

    def sensor_gain(self, rr):
        """Unwhitened gain ``(n_channels, 3 * n_dipoles)``, x/y/z adjacent."""
        from mne.forward._compute_forward import _compute_forwards_meeg

        fields = _compute_forwards_meeg(
            np.atleast_2d(rr),
            sensors=self.sensors,
            fwd_data=self.fwd_data,
            n_jobs=1,
            silent=True,
        )
        return np.concatenate([fields[k] for k in ("meg", "eeg") if k in fields]).T

    def gain(self, rr):
        """Whitened gain ``(n_channels, 3 * n_dipoles)``."""
        return self.whitener @ self.sensor_gain(rr)


def _grid_step(source_rr):
    """Median distance from a source to its nearest neighbour (metres)."""
    from scipy.spatial import cKDTree

    if len(source_rr) < 2:
        return 0.0
    dist = cKDTree(source_rr).query(source_rr, k=2)[0][:, 1]
    return float(np.median(dist))


def _merge_neighbours(positions, power, distance):
    """Group active sources closer than ``distance`` to a stronger one.

    A focal source between grid points is often shared by two or three
    neighbouring grid points; they become one dipole, started at the
    strongest. Returns the index of each group's strongest source and, for
    every source, the index (into the kept ones) of its group.
    """
    order = np.argsort(-np.asarray(power), kind="stable")
    kept, group = [], np.empty(len(positions), dtype=int)
    for k in order:
        near = [
            j
            for j, idx in enumerate(kept)
            if np.linalg.norm(positions[k] - positions[idx]) <= distance
        ]
        if near:
            group[k] = near[0]
        else:
            group[k] = len(kept)
            kept.append(k)
    return np.array(kept, dtype=int), group


def _residual_power(gain, data):
    """Residual power of the least-squares fit of ``data`` by ``gain``."""
    u, s, _ = np.linalg.svd(gain, full_matrices=False)
    u = u[:, s > s[0] * 1e-8] if s.size and s[0] > 0 else u[:, :0]
    proj = u.T @ data
    return float(np.sum(data**2) - np.sum(proj**2))


def _refine_positions(field, data, start, max_move=0.03, xatol=1e-4, n_sweeps=5):
    """Fit the positions of ``len(start)`` free dipoles jointly.

    Block coordinate descent: each dipole in turn moves (3-D simplex search)
    to minimize the residual of the least-squares fit of ``data`` by all the
    dipoles, the others held where they are; sweeps repeat until no dipole
    moves more than ``xatol``. One sweep is an exact fit for one dipole.

    Parameters
    ----------
    field : _FieldComputer
        Gain at arbitrary positions.
    data : array, shape (n_channels, n_times)
        Whitened data.
    start : array, shape (n_dipoles, 3)
        Starting positions (head frame, metres): the grid points.
    max_move : float
        Largest distance (metres) a dipole may move from its start.
    xatol : float
        Position tolerance (metres).
    n_sweeps : int
        Maximum number of sweeps over the dipoles.

    Returns
    -------
    positions : array, shape (n_dipoles, 3)
        Fitted positions.
    """
    start = np.asarray(start, float)
    positions = start.copy()
    gains = [field.gain(rd) for rd in positions]
    power = float(np.sum(data**2))
    scale = 1e-3  # search in millimetres: a well-scaled simplex

    for _ in range(n_sweeps):
        largest = 0.0
        for k in range(len(positions)):
            others = gains[:k] + gains[k + 1 :]

            def cost(x, k=k, others=others):
                rd = positions[k] + scale * x
                # Outside the inner skull or too far from the grid point:
                # worse than the worst fit, more so the farther out.
                excess = max(-field.inside(rd), 0.0) + max(
                    np.linalg.norm(rd - start[k]) - max_move, 0.0
                )
                if excess > 0:
                    return power * (1.0 + excess)
                return _residual_power(np.hstack(others + [field.gain(rd)]), data)

            res = minimize(
                cost,
                np.zeros(3),
                method="Nelder-Mead",
                options=dict(
                    initial_simplex=np.vstack([np.zeros(3), 2.0 * np.eye(3)]),
                    xatol=xatol / scale,
                    fatol=1e-12 * power,
                    maxiter=300,
                ),
            )
            moved = scale * res.x
            if res.fun <= cost(np.zeros(3)):
                positions[k] = positions[k] + moved
                gains[k] = field.gain(positions[k])
                largest = max(largest, float(np.linalg.norm(moved)))
        if largest <= xatol:
            break
    return positions


def _moments(gain, data):
    """Least-squares moments ``(3 * n_dipoles, n_times)`` for given gains."""
    return np.linalg.lstsq(gain, data, rcond=None)[0]
