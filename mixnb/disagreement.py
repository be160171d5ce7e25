"""How often a traditional and a hierarchical logistic model disagree (the seed's 44%).

Austin, Tu and Alter (2001) fitted both models to nine outcomes of Ontario heart-attack
patients: for hospital-level factors the conclusions differed 44% of the time. This module
repeats the experiment on simulated data: keep the hospitals, physicians and patients of
:func:`mixnb.simulation.simulate_ami`, draw new random effects and outcomes many times,
fit both models to each, and count how often one calls a factor significant and the other
does not, as the hospitals' and physicians' variances change.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable

import pandas as pd

from mixnb.simulation import simulate_ami

#: The patient-level part shared by both models.
FIXED = "death ~ I(age - 70) + severity + female + cardiologist + teaching"
#: The hierarchical model's random part: physicians nested in hospitals.
RANDOM = "(1 | hospital/physician)"


def fit_both(data: pd.DataFrame, nagq: int = 1) -> tuple[object, object]:
    """The traditional (``mixnb.glm``) and hierarchical (``mixnb.glmm``) fits of ``data``.

    Convergence and singular-fit warnings are silenced (a replicate whose hospital
    variance is estimated as zero is a legitimate outcome of the experiment); the fits
    still record them.
    """
    from mixnb.api import glm
    from mixnb.glmm_api import glmm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traditional = glm(FIXED, data, family="binomial")
        hierarchical = glmm(f"{FIXED} + {RANDOM}", data, family="binomial", nagq=nagq)
    return traditional, hierarchical


def _row(fit, term: str, prefix: str) -> dict[str, float]:
    table = getattr(fit, "fixed_effects", None)
    table = fit.coefficients if table is None else table
    row = table.loc[term]
    return {
        f"{prefix}_estimate": float(row["estimate"]),
        f"{prefix}_se": float(row["std_error"]),
        f"{prefix}_p": float(row["p"]),
    }


def disagreement_study(
    sd_hospital: Iterable[float] = (0.0, 0.25, 0.5, 1.0),
    sd_physician: Iterable[float] = (0.3, 0.6),
    replicates: int = 20,
    terms: tuple[str, ...] = ("teaching", "cardiologist", "severity"),
    seed: int = 2001,
    level: float = 0.05,
    n_hospitals: int = 50,
) -> pd.DataFrame:
    """Fit both models to ``replicates`` simulated outcomes per pair of standard deviations.

    The structure (hospitals, physicians, patients, covariates) is that of
    ``simulate_ami(seed=9)``; the other true values are :data:`~mixnb.simulation.AMI_TRUTH`.
    Replicate ``r`` of setting ``s`` uses outcome seed ``seed + 1000 s + r``, so a study is
    reproducible and settings do not share draws.

    Returns
    -------
    pandas.DataFrame
        One row per setting, replicate and term: ``sd_hospital``, ``sd_physician``,
        ``replicate``, ``term``, the estimate, SE and p of each model
        (``traditional_*``, ``hierarchical_*``) and ``disagree`` (one model significant at
        ``level``, the other not).
    """
    rows = []
    settings = list(itertools.product(sd_hospital, sd_physician))
    for s, (sd_h, sd_p) in enumerate(settings):
        for r in range(replicates):
            data = simulate_ami(
                n_hospitals,
                seed=9,
                outcome_seed=seed + 1000 * s + r,
                sd_hospital=sd_h,
                sd_physician=sd_p,
            )
            traditional, hierarchical = fit_both(data)
            for term in terms:
                row = {"sd_hospital": sd_h, "sd_physician": sd_p, "replicate": r, "term": term}
                row |= _row(traditional, term, "traditional")
                row |= _row(hierarchical, term, "hierarchical")
                rows.append(row)
    out = pd.DataFrame(rows)
    out["disagree"] = (out["traditional_p"] < level) != (out["hierarchical_p"] < level)
    out.attrs["level"] = level
    return out


def disagreement_rates(study: pd.DataFrame) -> pd.DataFrame:
    """Per setting and term: the share of replicates with different conclusions, the
    average ratio of the hierarchical to the traditional SE, and the number of replicates.
    """
    study = study.assign(se_ratio=study["hierarchical_se"] / study["traditional_se"])
    grouped = study.groupby(["term", "sd_hospital", "sd_physician"], sort=True)
    return grouped.agg(
        disagree=("disagree", "mean"),
        se_ratio=("se_ratio", "mean"),
        replicates=("replicate", "count"),
    ).reset_index()


#: The settings of the study shipped as ``data/ami_disagreement.csv``.
SHIPPED = {
    "sd_hospital": (0.0, 0.25, 0.5, 0.75, 1.0),
    "sd_physician": (0.3, 0.6),
    "replicates": 40,
}


def main(argv: list[str] | None = None) -> int:
    """``python -m mixnb.disagreement OUT.csv``: run the shipped study and write it."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", help="the CSV file to write (data/ami_disagreement.csv)")
    args = parser.parse_args(argv)
    study = disagreement_study(**SHIPPED)
    study.to_csv(args.out, index=False)
    print(disagreement_rates(study).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
