"""A realistic local demo: a payment source database with an anomaly now, and the original's five KPIs.

`python -m demo build` writes both; see `demo/README.md`.
"""
