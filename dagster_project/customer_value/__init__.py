"""Customer value: BG/NBD + Gamma-Gamma (pymc-marketing) per customer at the as-of date.

- `history`: purchase days per customer from the order facts, and their fingerprint.
- `models`: the fits (MAP, flat priors) and the convergence test.
- `scoring`: probability alive, expected purchases, expected order value, predicted value.
- `validation`: calibration / holdout fit and predicted vs actual by calibration frequency.
- `store`: the tables of schema `ml` (DDL and writes).
- `pipeline`: the step the Dagster asset runs, skipping the fit when nothing changed.
"""
