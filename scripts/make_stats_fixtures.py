#!/usr/bin/env python3
"""SciPy/NumPy reference values for hypersphere's study statistics (core/src/evaluate/stats.rs).

Run with SciPy >= 1.7 and NumPy:
    python3 scripts/make_stats_fixtures.py core/tests/fixtures/stats.json

  wilson      95% Wilson score interval of k successes in n trials:
              scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
  summary     mean and sample standard deviation (numpy.std(ddof=1)) of a few samples
  z95         scipy.stats.norm.ppf(0.975), the z of a two-sided 95% interval
"""
import json
import sys

import numpy as np
from scipy import stats


def main(path):
    wilson = []
    for k, n in [(0, 10), (10, 10), (3, 10), (37, 100), (1, 200), (100, 200), (173, 200), (9127, 10000)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        wilson.append({"successes": k, "trials": n, "low": float(ci.low), "high": float(ci.high)})
    rng = np.random.default_rng(17)
    summary = []
    for samples in [[0.25, 0.5], [0.3, 0.31, 0.35, 0.29, 0.4], list(rng.uniform(0, 1, size=7))]:
        x = np.asarray(samples, dtype=np.float64)
        summary.append({"samples": x.tolist(), "mean": float(x.mean()), "std": float(x.std(ddof=1))})
    out = {"z95": float(stats.norm.ppf(0.975)), "wilson": wilson, "summary": summary}
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
