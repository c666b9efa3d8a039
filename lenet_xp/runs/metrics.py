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


class NotJSON(ValueError):
    """A line that is not JSON at all (a line cut short by a run killed as it wrote it is one)."""


def parse_record(line: bytes, where: str) -> dict:
    """One line of a ``metrics.jsonl`` as its record. Raises ValueError starting with
    ``where`` (``file:line``): not UTF-8 text, not JSON (:class:`NotJSON`), nested deeper than
    :data:`lenet_xp.jsontext.MAX_DEPTH`, or not a JSON object."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text (byte 0x{line[exc.start]:02x})") from None
    try:
        record = jsontext.loads(text)
    except json.JSONDecodeError as exc:
        raise NotJSON(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    except jsontext.TooDeep as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not isinstance(record, dict):  # bad data, as above: a ValueError, not a TypeError
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def read_metrics(path, torn_end: bool = False) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (one JSON object a line), in file order;
    blank lines are skipped, and with ``torn_end`` a last line that is not JSON (a run killed
    as it wrote it) too.

    Raises:
        FileNotFoundError: no such file (OSError: one that cannot be read).
        ValueError: a line that :func:`parse_record` refuses, named as ``file:line``.
    """
    path = Path(path)
    lines = path.read_bytes().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(parse_record(line, f"{path}:{number}"))
        except NotJSON:
            if not (torn_end and number == len(lines)):
                raise
    return records
