"""A realistic local demo: a payment source database with an anomaly now, the original's five KPIs and one
on the seasonal detector.

`python -m demo build` writes both; see `demo/README.md`.
"""
