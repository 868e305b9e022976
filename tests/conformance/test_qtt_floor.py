"""The whole QTT suite must not regress below the recorded floor (tests/conformance/floor.json).

The suite lives outside the repo: KSQLPY_QTT_DIR, default ../shared/qtt relative to the repo
root (its query-validation-tests/ subdirectory is used when present). Raise the floor when
the engine gets better: ``python -m ksqlpy.conformance <dir> | tail -1``.
"""

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOOR = json.loads((Path(__file__).parent / "floor.json").read_text())


def _qtt_dir() -> Path:
    base = Path(os.environ.get("KSQLPY_QTT_DIR", REPO.parent / "shared" / "qtt"))
    sub = base / "query-validation-tests"
    return sub if sub.is_dir() else base


@pytest.mark.skipif(not _qtt_dir().is_dir(), reason="QTT files not found (set KSQLPY_QTT_DIR)")
def test_qtt_floor():
    from ksqlpy.conformance.cli import run_paths

    results = run_paths([_qtt_dir()])
    passed = sum(1 for r in results if r.status == "pass")
    assert results, "no QTT tests found"
    assert passed >= FLOOR["qtt"], f"QTT passed {passed} < floor {FLOOR['qtt']}"
