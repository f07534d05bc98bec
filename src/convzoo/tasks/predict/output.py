"""Where `convzoo predict` results go: a table or JSON lines on stdout, or a
results file (`--out FILE.csv | FILE.jsonl`) that is resumable and never torn.

Every record names what produced it, so a file read a month later still says
what it is: the model, the weights, the decision rule (`rule`: argmax, or a
threshold on the positive class's calibrated probability) and the test-time
augmentation (`tta`). Beside the top-k it carries the `decision` (the class the
rule chose) and its calibrated `probability`. A rerun into the same file by
another producer is refused: its answers would not be comparable.

The file is rewritten whole through a temporary file and a rename
(utils.atomic) every few seconds and at the end: a killed run leaves the last
complete version, and a rerun skips the inputs already classified there
(failed ones are tried again).

Under torchrun each rank writes its own part file next to the output
(`results.part-rank1.csv`); rank 0 folds them into the output after a barrier.
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ...utils.atomic import write_text_atomic
from .classifier import Prediction

FORMATS = (".csv", ".jsonl")
ARGMAX = "argmax"  # the rule of every record written before rules were recorded
_FIXED_COLUMNS = ["source", "model", "weights", "tta", "rule", "decision", "probability", "error"]


@dataclass(frozen=True)
class Producer:
    """What made a result: results of different producers are not mixed in one file."""

    model: str
    weights: str
    rule: str = ARGMAX  # DecisionRule.describe() of the rule in force
    tta: str | None = None

    @classmethod
    def of_record(cls, record: dict) -> Producer:
        """A record's producer; a record from before rules and tta were recorded was argmax, no tta."""
        return cls(record.get("model"), record.get("weights"), record.get("rule") or ARGMAX,
                   record.get("tta") or None)

    def __str__(self) -> str:
        text = f"{self.model} (weights {self.weights})"
        if self.rule != ARGMAX:
            text += f" deciding by {self.rule}"
        return text + (f" with --tta {self.tta}" if self.tta else "")


def prediction_record(pred: Prediction, producer: Producer) -> dict:
    return {"source": pred.source, "model": producer.model, "weights": producer.weights, "tta": producer.tta,
            "rule": producer.rule, "decision": pred.decision, "probability": pred.probability,
            "labels": pred.labels, "indices": pred.indices, "probs": pred.probs, "error": pred.error}


def table_header(producer: Producer, show_rule: bool = False) -> str:
    """`# model M, weights W`, and the rule when the table shows decisions, and the tta when there is one."""
    header = f"# model {producer.model}, weights {producer.weights}"
    if show_rule:
        header += f"; rule: {producer.rule}"
    return header + (f"; tta: {producer.tta}" if producer.tta else "")


def decision_note(positive: str | None, threshold: float | None, calibrated: bool) -> str:
    """What follows the p= of a table's decision line: whether p is calibrated, and the rule in short."""
    rule = f"{positive} when its probability >= {threshold:.4g}" if threshold is not None else "the most probable class"
    return f"{', calibrated' if calibrated else ''}; rule: {rule}"


def format_table(pred: Prediction, decision_note: str | None = None) -> str:
    """The top-k, and with `decision_note` (a checkpoint's rule: see decision_note) the decision."""
    lines = [pred.source]
    for rank, (label, idx, p) in enumerate(zip(pred.labels, pred.indices, pred.probs), 1):
        lines.append(f"  {rank}. {label:<32} {100 * p:6.2f}%  (class {idx})")
    if decision_note is not None and pred.decision is not None:
        lines.append(f"  decision: {pred.decision} (p={pred.probability:.2f}{decision_note})")
    return "\n".join(lines)


def check_format(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"--out {path}: results are written as .csv or .jsonl; name the file FILE.csv or FILE.jsonl")
    return path


def part_path(path: Path, rank: int) -> Path:
    return path.with_name(f"{path.stem}.part-rank{rank}{path.suffix}")


def part_paths(path: Path) -> list[Path]:
    """Every rank's part file, of this run or of a killed one with another world size."""
    return sorted(path.parent.glob(f"{path.stem}.part-rank*{path.suffix}"))


# ---- reading and writing one file ---------------------------------------------------

def read_records(path: Path) -> list[dict]:
    """The records of a results file, those of older convzoo versions included (see _upgrade)."""
    if not path.is_file():
        return []
    text = path.read_text()
    if path.suffix.lower() == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(_upgrade(json.loads(line)))
                except (json.JSONDecodeError, TypeError):
                    raise ValueError(f"{path}, line {n}, is not a JSON record: fix it, or delete the file to start "
                                     f"over") from None
        return records
    try:
        return [_upgrade(_from_csv_row(row)) for row in csv.DictReader(io.StringIO(text))]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path} is not a convzoo predict CSV: give another --out, or delete it to start over") from None


def _upgrade(record: dict) -> dict:
    """A record written before decisions were recorded was decided by the argmax
    at temperature 1 without tta: its decision is its top-1."""
    if "rule" not in record:
        record = {**record, "rule": ARGMAX, "tta": None}
        if "decision" not in record:
            top = not record.get("error") and record.get("labels")
            record["decision"] = record["labels"][0] if top else None
            record["probability"] = record["probs"][0] if top else None
    return record


def write_records(path: Path, records: Iterable[dict]) -> None:
    records = list(records)
    if path.suffix.lower() == ".jsonl":
        text = "".join(json.dumps(r) + "\n" for r in records)
    else:
        k = max((len(r["labels"]) for r in records), default=0)
        columns = _FIXED_COLUMNS + [f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "index", "prob")]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(_to_csv_row(r) for r in records)
        text = buffer.getvalue()
    write_text_atomic(path, text)


def _to_csv_row(record: dict) -> dict:
    row = {key: "" if record[key] is None else record[key] for key in _FIXED_COLUMNS}
    if record["probability"] is not None:
        row["probability"] = repr(record["probability"])
    for i, (label, idx, p) in enumerate(zip(record["labels"], record["indices"], record["probs"]), 1):
        row.update({f"label_{i}": label, f"index_{i}": idx, f"prob_{i}": repr(p)})
    return row


def _from_csv_row(row: dict) -> dict:
    labels, indices, probs = [], [], []
    i = 1
    while row.get(f"label_{i}"):
        labels.append(row[f"label_{i}"])
        indices.append(int(row[f"index_{i}"]))
        probs.append(float(row[f"prob_{i}"]))
        i += 1
    record = {"source": row["source"], "model": row["model"], "weights": row["weights"], "labels": labels,
              "indices": indices, "probs": probs, "error": row.get("error") or None}
    if "rule" in row:  # written with decisions (older files: see _upgrade)
        probability = row.get("probability")
        record.update(tta=row.get("tta") or None, rule=row["rule"] or ARGMAX, decision=row.get("decision") or None,
                      probability=float(probability) if probability else None)
    return record


# ---- a results file that grows as the run goes ----------------------------------------

def _check_same_producer(path: Path, records: list[dict], producer: Producer) -> None:
    """One line refusing a file whose results another model, weights, rule or tta made."""
    for r in records:
        theirs = Producer.of_record(r)
        if theirs != producer:
            raise ValueError(f"{path} holds results of {theirs}, this run uses {producer}: give another --out, "
                             f"or delete {path.name} to start over")


def completed_sources(path: Path, producer: Producer) -> set[str]:
    """Inputs classified (without error) in the output and in any part files."""
    done: set[str] = set()
    for file in [path, *part_paths(path)]:
        records = read_records(file)
        _check_same_producer(file, records, producer)
        done.update(r["source"] for r in records if not r.get("error"))
    return done


def _merge(into: dict[str, dict], records: Iterable[dict]) -> None:
    """Later records replace earlier ones, but an error never replaces a result."""
    for r in records:
        old = into.get(r["source"])
        if old is None or not r.get("error") or old.get("error"):
            into[r["source"]] = r


class ResultsFile:
    """The records of one output (or part) file: what was there, then what is
    added; written whole and atomically at most every `flush_seconds`, and by
    `flush()` at the end."""

    def __init__(self, path: Path, producer: Producer, flush_seconds: float = 5.0):
        self.path = path
        self.flush_seconds = flush_seconds
        existing = read_records(path)
        _check_same_producer(path, existing, producer)
        self.records: dict[str, dict] = {}
        _merge(self.records, existing)
        self._dirty = False
        self._last_flush = time.monotonic()

    def add(self, record: dict) -> None:
        _merge(self.records, [record])
        self._dirty = True
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self._dirty or not self.path.exists():
            write_records(self.path, self.records.values())
        self._dirty = False
        self._last_flush = time.monotonic()


def merge_parts(path: Path, order: list[str]) -> int:
    """Fold every part file into `path` (atomically), then delete them. The
    output's own records keep their place; new ones follow in input order.
    Returns the number of records in the merged file."""
    merged: dict[str, dict] = {}
    _merge(merged, read_records(path))
    parts = part_paths(path)
    position = {source: i for i, source in enumerate(order)}
    new = [r for part in parts for r in read_records(part)]
    new.sort(key=lambda r: position.get(r["source"], len(position)))
    _merge(merged, new)
    write_records(path, merged.values())
    for part in parts:
        part.unlink(missing_ok=True)
    return len(merged)
