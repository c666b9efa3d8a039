"""A run's ``metrics.jsonl``: one JSON object a line, an epoch record per finished epoch and
then the test result, each marked by its ``"event"``. :class:`lenet_xp.runs.folder.RunFolder`
writes the records made here; figures (:mod:`lenet_xp.runs.curves`), ``scripts/plot.py`` and
sweeps (:mod:`lenet_xp.tools.sweep`) read them back.

    >>> from lenet_xp.runs.metrics import read_metrics, last_test
    >>> last_test(read_metrics("runs/lenet5/metrics.jsonl"))["test_accuracy"]
    0.993
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from .. import jsontext

EPOCH = "epoch"  # the "event" of a finished epoch's record: its EpochStats fields
TEST = "test"  # the "event" of the test result's record: test_loss, test_accuracy, epochs


def epoch_record(stats) -> dict:
    """The record of one finished epoch, from its :class:`lenet_xp.training.state.EpochStats`."""
    return {"event": EPOCH, **dataclasses.asdict(stats)}


def test_record(result: dict) -> dict:
    """The record of the test result (``test_loss``, ``test_accuracy``, ``epochs``)."""
    return {"event": TEST, **result}


def epochs_of(records: list[dict]) -> list[dict]:
    """The epoch records, in file order."""
    return [r for r in records if r.get("event") == EPOCH]


def last_test(records: list[dict]) -> dict | None:
    """The last test record, or None."""
    tests = [r for r in records if r.get("event") == TEST]
    return tests[-1] if tests else None


def read_metrics(path) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (one JSON object a line), in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not UTF-8 text or not a JSON object (or one nested deeper
            than :data:`lenet_xp.jsontext.MAX_DEPTH`), named as ``file:line``.
    """
    path = Path(path)
    records = []
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}:{number}: not UTF-8 text (byte "
                                 f"0x{raw[exc.start]:02x})") from None
            if not line.strip():
                continue
            try:
                record = jsontext.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg}, column "
                                 f"{exc.colno})") from None
            except jsontext.TooDeep as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got "
                                 f"{type(record).__name__}")
            records.append(record)
    return records
