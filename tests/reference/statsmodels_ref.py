"""Reference fits for tests/reference/statsmodels_test.ts, with statsmodels.

Reads tokens.csv and runs.csv from the directory given as the first argument (decode tokens
of the runs in the analysis; see the test for the columns) and prints one JSON object with
the fits tokentrace must reproduce:

- slope_us: within-run OLS slope, latency_ms ~ position + C(run), in us per token;
- content: the token-content fit, latency_ms ~ position + content + C(run): each content
  coefficient in us, the partial R2 of the content terms (%), and the cluster-robust (CR1,
  clustered by run) Wald statistic of the content terms as an F (Wald / q);
- prompt_class: the class effect in us, the F statistic and p-value of the class terms,
  on per-run mean latency adjusted to the mean position with the within-run slope, with
  stratum (depth, 8-token prompt-length bin) intercepts;
- depth_sweep: OLS of per-run mean latency on per-run mean position: slope and its 95% t
  interval, in us per token (when the runs span more than one depth).

Run under /usr/bin/python3 (Debian's python3-statsmodels and python3-pandas).
"""

import json
import sys

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

FEATURES = ["piece_bytes", "digits", "punctuation", "whitespace", "non_ascii", "mixed",
            "word_initial", "id_rank"]


def main(directory):
    tokens = pd.read_csv(f"{directory}/tokens.csv")
    runs = pd.read_csv(f"{directory}/runs.csv", keep_default_na=False)
    for c, name in enumerate(FEATURES[1:6], start=1):
        tokens[name] = (tokens["char_class"] == c).astype(float)
    tokens["run"] = tokens["run"].astype(str)
    out = {}

    slope = smf.ols("latency_ms ~ position + C(run)", data=tokens).fit()
    out["slope_us"] = slope.params["position"] * 1000

    # content columns that vary within runs (tokentrace drops the others)
    within = tokens.groupby("run")[FEATURES].transform(lambda x: x - x.mean())
    varying = [f for f in FEATURES if (within[f] ** 2).sum() > 1e-9 * max(1.0, (tokens[f] ** 2).sum())]
    formula = "latency_ms ~ position + " + " + ".join(varying) + " + C(run)"
    full = smf.ols(formula, data=tokens).fit()
    robust = smf.ols(formula, data=tokens).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(tokens["run"])[0]})
    names = list(robust.params.index)
    restriction = np.zeros((len(varying), len(names)))
    for i, f in enumerate(varying):
        restriction[i, names.index(f)] = 1
    wald = robust.wald_test(restriction, use_f=True)
    out["content"] = {
        "coef_us": {f: full.params[f] * 1000 for f in varying},
        "partial_r2_pct": (slope.ssr - full.ssr) / slope.ssr * 100,
        "wald_f": float(np.squeeze(wald.fvalue)),
    }

    # prompt class on per-run outcomes, matched-length strata with two classes or more
    runs["stratum"] = runs["depth_tokens"].astype(str) + "|" + (runs["prompt_tokens"] // 8).astype(str)
    classes_in = runs.groupby("stratum")["prompt_class"].nunique()
    matched = runs[runs["stratum"].isin(classes_in[classes_in >= 2].index)].copy()
    if matched["prompt_class"].nunique() >= 2:
        unit_tokens = tokens[tokens["run"].isin(matched["run"].astype(str))]
        b = smf.ols("latency_ms ~ position + C(run)", data=unit_tokens).fit().params["position"]
        per_run = unit_tokens.groupby("run").agg(y=("latency_ms", "mean"), pos=("position", "mean"))
        matched["run_key"] = matched["run"].astype(str)
        matched = matched.join(per_run, on="run_key")
        matched["outcome"] = matched["y"] - b * (matched["pos"] - matched["pos"].mean())
        classes = sorted(matched["prompt_class"].unique())
        reference = "simple" if "simple" in classes else classes[0]
        term = f"C(prompt_class, Treatment(reference='{reference}'))"
        strata = "C(stratum)" if matched["stratum"].nunique() > 1 else "1"
        reduced = smf.ols(f"outcome ~ {strata}", data=matched).fit()
        cls = smf.ols(f"outcome ~ {strata} + {term}", data=matched).fit()
        f_value, p_value, _ = cls.compare_f_test(reduced)
        others = [c for c in classes if c != reference]
        out["prompt_class"] = {
            "f": f_value,
            "p": p_value,
            "effect_us": {c: cls.params[f"{term}[T.{c}]"] * 1000 for c in others},
        }

    if runs["depth_tokens"].nunique() > 1:
        per_run = tokens.groupby("run").agg(y=("latency_ms", "mean"), pos=("position", "mean"))
        sweep = smf.ols("y ~ pos", data=per_run).fit()
        low, high = sweep.conf_int(0.05).loc["pos"]
        out["depth_sweep"] = {
            "slope_us": sweep.params["pos"] * 1000,
            "low_us": low * 1000,
            "high_us": high * 1000,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
