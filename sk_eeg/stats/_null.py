"""The permutation null of ClusterLMETest: plans, draws, chunks and checkpoints.

Terms are grouped by how their null data are made (relabelled factors or
Freedman-Lane residuals); each group's rearrangements are drawn in the parent
process, and the null statistics are computed in chunks (in parallel with
joblib) that a checkpoint file stores as they finish, so an interrupted run
resumes where it stopped.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import check_type, logger, progress_bar
from ._engine import null_chunk


def plan_null(scheme, names, terms, levels, spec):
    """Group terms by how their null data are made (permuted labels or residuals)."""
    if scheme == "labels":
        return [
            {
                "terms": list(range(len(names))),
                "kind": "labels",
                "factors": list(spec.factors),
            }
        ]
    plan = []
    for i, term in enumerate(terms):
        level = levels[names[i]]
        use_fl = level == "within" and (scheme == "freedman-lane" or len(term) > 1)
        if use_fl:
            plan.append({"terms": [i], "kind": "residuals", "level": level})
        else:
            plan.append({"terms": [i], "kind": "labels", "factors": list(term)})
    return plan


def draw_null(group, rng, blocks, design, X, spec, n_permutations):
    """Draw (or enumerate) the rearrangements of one group of terms."""
    exact = n_permutations == "all"
    job = dict(group)
    if group["kind"] == "swap":
        # random slopes: exchange the two levels in all rows of random subjects
        n_subjects = int(blocks.subject.max()) + 1
        job["idx"] = {
            f: rng.random((n_permutations, n_subjects)) < 0.5 for f in group["factors"]
        }
        job["n_perm"] = n_permutations
        return job
    if group["kind"] == "labels":
        factor_levels = {
            f: blocks.level_of(design[f].to_numpy()) for f in group["factors"]
        }
        if exact:
            if len(group["factors"]) != 1:
                raise ValueError(
                    "n_permutations='all' needs one permuted factor per term; use "
                    "permutation_scheme='auto' or an integer n_permutations."
                )
            (f,) = group["factors"]
            idx = {f: blocks.enumerate(factor_levels[f], design[f].to_numpy())}
        else:
            idx = {
                f: np.empty((n_permutations, len(design)), int)
                for f in group["factors"]
            }
            columns = {f: design[f].to_numpy() for f in spec.factors}
            n_coefs = len(spec.column_names)
            for b in range(n_permutations):
                # a relabelling that empties a cell of the design (rank
                # deficient) has no statistic: draw again, so the null is
                # the permutation distribution over estimable designs
                for _attempt in range(100):
                    draw = {
                        f: blocks.draw(rng, factor_levels[f]) for f in group["factors"]
                    }
                    values = dict(columns)
                    values.update({f: columns[f][i] for f, i in draw.items()})
                    X_perm = spec.matrix(design, values)
                    if np.linalg.matrix_rank(X_perm) == n_coefs:
                        break
                else:
                    raise ValueError(
                        "Relabellings keep producing rank-deficient designs "
                        "(empty cells): the design is too sparse to permute."
                    )
                for f in group["factors"]:
                    idx[f][b] = draw[f]
        job["idx"] = idx
        job["n_perm"] = len(next(iter(idx.values())))
    else:
        (i,) = group["terms"]
        # Freedman-Lane: residuals of the model without the term
        X_full = spec.matrix(design)
        name = list(spec.term_slices)[i]
        keep = np.ones(X_full.shape[1], bool)
        keep[spec.term_slices[name]] = False
        X_red = X_full[:, keep]
        coef, *_ = np.linalg.lstsq(X_red, X, rcond=None)
        job["fitted"] = X_red @ coef
        job["resid"] = X - job["fitted"]
        if exact:
            job["idx"] = blocks.enumerate("within")
        else:
            job["idx"] = np.stack(
                [blocks.draw(rng, "within") for _ in range(n_permutations)]
            )
        job["n_perm"] = len(job["idx"])
    return job


def null_fingerprint(X, design, plans, settings):
    """Hash of the data, design, settings and draws that a checkpoint belongs to."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(pd.util.hash_pandas_object(design, index=False).to_numpy().tobytes())
    h.update(repr(tuple(settings)).encode())
    for plan in plans:
        idx = plan["idx"]
        for arr in idx.values() if isinstance(idx, dict) else [idx]:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_null(
    plans,
    X,
    design,
    spec,
    struct,
    contrasts,
    names,
    gamma_obs,
    *,
    statistic,
    batch_size,
    n_jobs,
    checkpoint,
    settings,
    verbose,
):
    """Statistics of every permuted dataset, in chunks, with checkpoint/resume.

    Returns
    -------
    null_stat : array, shape (n_terms, n_permutations, n_times)
    """
    from joblib import Parallel, delayed

    n_perm = plans[0]["n_perm"]
    n_times = X.shape[1]
    # per group: its null statistics and which permutations are finished; the
    # checkpoint stores these per permutation, so a run resumes with any
    # batch_size
    nulls = [np.zeros((n_perm, len(plan["terms"]), n_times)) for plan in plans]
    done = [np.zeros(n_perm, bool) for _ in plans]
    path = None
    fingerprint = None
    if checkpoint is not None:
        check_type(checkpoint, "path-like", "checkpoint")
        path = Path(checkpoint)
        fingerprint = null_fingerprint(X, design, plans, settings)
        if _load_checkpoint(path, fingerprint, nulls, done):
            logger.info(
                "Resuming from %s: %d of %d permutations done.",
                path,
                int(np.logical_and.reduce(done).sum()),
                n_perm,
            )
    tasks = []
    for start in range(0, n_perm, batch_size):
        for g in range(len(plans)):
            todo = np.flatnonzero(~done[g][start : start + batch_size]) + start
            if len(todo):
                tasks.append((g, todo))
    design_f = design[list(spec.factors)]

    def _job(g, perms):
        plan = plans[g]
        job = {"kind": plan["kind"]}
        if plan["kind"] in ("labels", "swap"):
            job["idx"] = {f: a[perms] for f, a in plan["idx"].items()}
        else:
            job.update(
                idx=plan["idx"][perms],
                fitted=plan["fitted"],
                resid=plan["resid"],
            )
        L = [contrasts[i] for i in plan["terms"]]
        return delayed(null_chunk)(
            job, X, design_f, spec, struct, L, statistic, gamma_obs
        )

    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    results = parallel(_job(*t) for t in tasks)
    n_done = int(np.logical_and.reduce(done).sum())
    bar = progress_bar(
        total=n_perm, initial=n_done, desc="permutations", verbose=verbose
    )
    try:
        for (g, perms), chunk in zip(tasks, results):
            nulls[g][perms] = chunk
            done[g][perms] = True
            if path is not None:
                _save_checkpoint(path, fingerprint, nulls, done)
            now = int(np.logical_and.reduce(done).sum())
            bar.update(now - n_done)
            n_done = now
    finally:
        bar.close()
    null_stat = np.zeros((len(names), n_perm, n_times))
    for g, plan in enumerate(plans):
        for j, i in enumerate(plan["terms"]):
            null_stat[i] = nulls[g][:, j]
    return null_stat


def _load_checkpoint(path, fingerprint, nulls, done):
    """Fill ``nulls`` and ``done`` from ``path``; False when there is no file."""
    if not path.exists():
        return False
    with np.load(path, allow_pickle=False) as data:
        if str(data["fingerprint"]) != fingerprint:
            raise ValueError(
                f"checkpoint {str(path)!r} belongs to a different run (data, design, "
                "parameters or random_state differ). Delete it or use another path."
            )
        for g in range(len(nulls)):
            if f"done_{g}" in data.files:
                done[g][:] = data[f"done_{g}"]
                nulls[g][done[g]] = data[f"null_{g}"][done[g]]
        # files written by earlier versions: one array per chunk "g_start"
        for key in data.files:
            if key.startswith("chunk_"):
                g, start = (int(v) for v in key[6:].split("_"))
                chunk = data[key]
                nulls[g][start : start + len(chunk)] = chunk
                done[g][start : start + len(chunk)] = True
    return True


def _save_checkpoint(path, fingerprint, nulls, done):
    tmp = path.with_name(path.name + ".tmp.npz")
    arrays = {}
    for g, (null, mask) in enumerate(zip(nulls, done)):
        arrays[f"null_{g}"] = null
        arrays[f"done_{g}"] = mask
    np.savez(tmp, fingerprint=np.array(fingerprint), **arrays)
    os.replace(tmp, path)
