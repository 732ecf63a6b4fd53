"""Hosts without libodbc: the app, the monitoring engine module and the sources package import and run on
SQLite or PostgreSQL without pyodbc, which is imported only for a SQL Server database. Each case runs in its
own Python process, where pyodbc can be made unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_app_and_engine_module_import_without_pyodbc() -> None:
    # A host without libodbc must still index every function and run on SQLite or PostgreSQL.
    code = (
        "import sys; sys.modules['pyodbc'] = None\n"
        "import function_app, shared.db.engine as e\n"
        "assert 'pyodbc' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "e.create_monitoring_engine('sqlite:///:memory:')\n"
        "try:\n"
        "    e.create_monitoring_engine('mssql+pyodbc://@s/d?driver=x')\n"
        "except ImportError:\n"
        "    print('lazy')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.strip() == "lazy"


def test_the_sources_package_imports_without_pyodbc() -> None:
    code = (
        "import sys; sys.modules['pyodbc'] = None\n"
        "import shared.sources\n"
        "from shared.sources.engines import create_source_engine\n"
        "create_source_engine('sqlite:///:memory:', source='s', pool_size=1).dispose()\n"
        "try:\n"
        "    create_source_engine('mssql+pyodbc://@s/d?driver=x', source='s', pool_size=1)\n"
        "except ImportError:\n"
        "    print('lazy')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.strip() == "lazy"
