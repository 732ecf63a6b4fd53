"""Running KPI SQL against named source databases, per dialect, read-only and with real timeouts."""

from shared.sources.contracts import ProcedureContract, ProcedureSignature, ResultSet
from shared.sources.errors import SourceNotConfigured, SourceQueryError, SourceTimeout, SourceUnavailable
from shared.sources.runner import TRANSIENT_ERRORS, SourceRunner

__all__ = [
    "TRANSIENT_ERRORS",
    "ProcedureContract",
    "ProcedureSignature",
    "ResultSet",
    "SourceNotConfigured",
    "SourceQueryError",
    "SourceRunner",
    "SourceTimeout",
    "SourceUnavailable",
]
