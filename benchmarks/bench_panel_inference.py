"""Bai (2009) bias correction of ``fit_bai_ife``: bias and coverage by simulation.

Bai's (2009) design (``make_bai2009_panel``: two regressors correlated with
two factors, ``beta = (1, 3)``, noise standard deviation 2 on average) with
the noise made heteroskedastic:

- ``iid``: standard deviation 2 everywhere (Bai's design; the bias terms
  vanish, the correction must do no harm);
- ``units``: unit ``i``'s standard deviation ``exp(kappa s_i / 2)`` with
  ``s_i = (lambda_i1 + lambda_i2) / sqrt(2)``: variances that differ between
  units and follow the loadings give Bai's ``B / N`` bias;
- ``times``: the same over time with ``s_t = (F_t1 + F_t2) / sqrt(2)``:
  variances that change over time and follow the factors give ``C / T``;
- ``random``: independent unit and time variance multipliers drawn
  log-normal (``exp(kappa z / 2)``, ``z ~ N(0, 1)``), unrelated to the
  factors: heteroskedasticity without a systematic bias;

all rescaled to a mean variance of 4. For each cell and draw it fits
``fit_bai_ife(y, X, 2)`` and records, per coefficient, the least-squares
estimate, the bias-corrected one (``bias_correction=True``) and the
heteroskedasticity-robust standard error. Printed per cell (averaged over the
two coefficients): mean error of each estimate in units of the mean standard
error (``bias/SE``, with its Monte Carlo standard error), the ratio of the
Monte Carlo standard deviation to the mean standard error (``sd/SE``), the
mean estimated bias ``B/N + C/T`` over the mean least-squares error
(``nan`` where that error is within 3 Monte Carlo standard errors of 0), and
the coverage of the nominal 95% intervals.

Measured with ``--draws 200 --noise-sd 1`` (bias/SE LS -> corrected,
coverage LS -> corrected): ``times`` 100x20 -0.91 -> -0.28, 0.820 -> 0.905;
``units`` 20x100 -0.83 -> -0.20, 0.820 -> 0.915; ``units``/``times`` 50x50
-0.51/-0.47 -> -0.10/-0.06; 100x100 -0.45 -> +0.03; ``iid`` estimated bias
0.00 SE, coverage unchanged (0.93-0.95); ``random`` +0.13..+0.28 ->
+0.05..+0.14 (a small bias Bai's terms do not describe). With Bai's noise
(``--noise-sd 2 --kappa 0.5``) the same pattern, e.g. ``times`` 100x20
-0.67 -> -0.27, coverage 0.810 -> 0.887.

Usage: ``python benchmarks/bench_panel_inference.py [--draws 200]
[--kappa 1.0] [--cells 100x20 20x100 50x50]``.
"""

import argparse
import os
import time

import numpy as np

from sk_eeg.datasets import make_bai2009_panel
from sk_eeg.panel import fit_bai_ife

DESIGNS = ("iid", "units", "times", "random")


def heteroskedastic_bai_panel(
    n_units, n_times, design, kappa, random_state, noise_sd=2.0
):
    """Bai (2009) panel whose noise standard deviation depends on i and/or t."""
    data = make_bai2009_panel(n_units, n_times, random_state=random_state)
    rng = np.random.RandomState(1_000_003 + random_state)
    sd_units, sd_times = np.ones(n_units), np.ones(n_times)
    if design == "units":
        sd_units = np.exp(kappa * data.loadings.sum(1) / np.sqrt(2) / 2)
    elif design == "times":
        sd_times = np.exp(kappa * data.factors.sum(1) / np.sqrt(2) / 2)
    elif design == "random":
        sd_units = np.exp(kappa * rng.standard_normal(n_units) / 2)
        sd_times = np.exp(kappa * rng.standard_normal(n_times) / 2)
    elif design != "iid":
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}.")
    sd = np.outer(sd_times, sd_units)
    sd *= noise_sd / np.sqrt(np.mean(sd**2))
    noise = sd * rng.standard_normal((n_times, n_units))
    data.y = data.X @ data.beta + data.factors @ data.loadings.T + noise
    return data


def run_cell(n_units, n_times, design, kappa, n_draws, noise_sd):
    """Errors, standard errors, bias estimates and coverage over the draws."""
    z = 1.959963984540054
    rows = []
    for seed in range(n_draws):
        data = heteroskedastic_bai_panel(
            n_units, n_times, design, kappa, seed, noise_sd
        )
        res = fit_bai_ife(data.y, data.X, 2, bias_correction=True, tol=1e-9)
        rows.append(
            np.stack(
                [
                    res.coef_ls - data.beta,
                    res.coef - data.beta,
                    res.se,
                    res.bias,
                    np.abs(res.coef_ls - data.beta) <= z * res.se,
                    np.abs(res.coef - data.beta) <= z * res.se,
                ]
            )
        )
    return np.array(rows)  # (n_draws, 6, n_regressors)


def summarize(stats):
    err_ls, err_bc, se, bias_hat, hit_ls, hit_bc = np.moveaxis(stats, 1, 0)
    n_draws = stats.shape[0]
    mean_se = se.mean(0)
    out = {}
    for name, err in (("ls", err_ls), ("bc", err_bc)):
        out[f"bias_{name}"] = np.mean(err.mean(0) / mean_se)
        out[f"mcse_{name}"] = np.mean(err.std(0) / np.sqrt(n_draws) / mean_se)
        out[f"sd_{name}"] = np.mean(err.std(0) / mean_se)
    # The ratio only means something where the bias is well outside the
    # Monte Carlo error.
    if abs(out["bias_ls"]) > 3 * out["mcse_ls"]:
        out["est_over_true"] = np.mean(bias_hat.mean(0)) / np.mean(err_ls.mean(0))
    else:
        out["est_over_true"] = np.nan
    out["bias_hat"] = np.mean(bias_hat.mean(0) / mean_se)
    out["cover_ls"] = hit_ls.mean()
    out["cover_bc"] = hit_bc.mean()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200, help="panels per cell")
    parser.add_argument(
        "--kappa", type=float, default=1.0, help="strength of heteroskedasticity"
    )
    parser.add_argument(
        "--noise-sd", type=float, default=2.0, help="root mean noise variance"
    )
    parser.add_argument(
        "--cells",
        nargs="+",
        default=["100x20", "20x100", "50x50", "100x100"],
        help="N x T sizes, e.g. 100x20",
    )
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS))
    args = parser.parse_args()
    print(
        f"draws={args.draws} kappa={args.kappa} noise_sd={args.noise_sd} "
        f"load={os.getloadavg()[0]:.1f}; "
        "bias/SE and sd/SE averaged over beta_1, beta_2; 'est/true' is the mean "
        "estimated B/N + C/T over the mean least-squares error"
    )
    header = (
        f"{'N':>4} {'T':>4} {'design':>7} | {'bias/SE LS':>14} {'bias/SE BC':>14} "
        f"| {'est bias/SE':>11} {'est/true':>8} | {'sd/SE':>5} "
        f"| {'cover LS':>8} {'cover BC':>8} | {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    for cell in args.cells:
        n_units, n_times = (int(v) for v in cell.lower().split("x"))
        for design in args.designs:
            start = time.perf_counter()
            res = summarize(
                run_cell(
                    n_units, n_times, design, args.kappa, args.draws, args.noise_sd
                )
            )
            print(
                f"{n_units:>4} {n_times:>4} {design:>7} | "
                f"{res['bias_ls']:+6.2f} ({res['mcse_ls']:.2f})  "
                f"{res['bias_bc']:+6.2f} ({res['mcse_bc']:.2f})  | "
                f"{res['bias_hat']:+11.2f} {res['est_over_true']:8.2f} | "
                f"{res['sd_ls']:5.2f} | {res['cover_ls']:8.3f} {res['cover_bc']:8.3f} "
                f"| {time.perf_counter() - start:5.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
