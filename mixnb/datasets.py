"""The data sets shipped with mixnb (in the repository's ``data/`` folder)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixnb.errors import DataError

DATA_DIR = Path(__file__).resolve().parent / "data"

#: One line on each data set; data/README.md has sources and licences.
DESCRIPTIONS = {
    "sleepstudy": "Reaction times of 18 subjects over 10 days of sleep deprivation (lme4).",
    "dyestuff": "Yield of dyestuff from 6 batches of an intermediate, 5 preparations each (lme4).",
    "dyestuff2": "Simulated dyestuff-like yields whose batch variance is estimated as zero (lme4).",
    "penicillin": "Penicillin potency: 6 samples crossed with 24 plates (lme4).",
    "pastes": "Paste strength: 3 casks nested in each of 10 batches, 2 assays each (lme4).",
    "cake": "Breakage angle of chocolate cakes: 3 recipes, 6 temperatures, 15 replicates (lme4).",
    "batting": "20 players' batting averages, 10 day and 10 night games (the seed's SAS example).",
    "ohio": "Wheeze (0/1) of 537 children at ages 7-10, by maternal smoking (geepack).",
    "dietox": "Weights of 72 pigs over 12 weeks, by copper and vitamin E dose (geepack).",
    "epil": "Seizure counts of 59 epileptics in 4 two-week periods, progabide or placebo (MASS).",
    "ami": "30-day death of 2706 heart-attack patients of 314 physicians in 50 hospitals "
    "(simulated, the seed's section 10 shape; truth in data/README.md).",
    "cbpp": "Contagious bovine pleuropneumonia: new cases by herd (15) and period (lme4).",
    "grouseticks": "Ticks on 403 red grouse chicks in broods at locations, 3 years (lme4).",
    "verbagg": "Verbal aggression: 316 respondents crossed with 24 items, binary (lme4).",
    "contraception": "Contraceptive use of 1934 Bangladeshi women in 60 districts (mlmRev).",
    "guimmun": "Immunisation of 2159 Guatemalan children in families in communities (mlmRev).",
    "ami_disagreement": "The traditional and the hierarchical model fitted to 400 simulated "
    "outcomes of the ami study (chapter 5; python -m mixnb.disagreement).",
    "treatment_centers": "40 subjects' use and return in 4 treatment centers (the seed's running "
    "example, constructed; which slide numbers it reproduces: data/README.md).",
}


def datasets() -> pd.DataFrame:
    """The available data sets with a one-line description each."""
    names = sorted(p.stem for p in DATA_DIR.glob("*.csv"))
    return pd.DataFrame(
        {"description": [DESCRIPTIONS.get(n, "") for n in names]},
        index=pd.Index(names, name="name"),
    )


def load_dataset(name: str) -> pd.DataFrame:
    """Load a shipped data set by name (see :func:`datasets`)."""
    path = DATA_DIR / f"{name}.csv"
    if not path.exists():
        available = ", ".join(datasets().index)
        raise DataError(f"There is no data set called {name!r}. Available: {available}.")
    return pd.read_csv(path)
