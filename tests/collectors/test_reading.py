"""Containers real dumps come in: array, JSON Lines (even named .json), object, gzip, broken files."""

import gzip
import json

import pytest

from imitkit.collectors.errors import SourceFileError
from imitkit.collectors.reading import BadRecord, RawRecord, iter_records

RECORDS = [{"n": i, "text": "x" * (i * 37)} for i in range(7)]


def _write(path, text, gz=False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["array", "array_pretty", "lines", "lines_named_json", "lines_blank"])
def test_containers_yield_every_record(tmp_path, layout, gz):
    if layout == "array":
        text = json.dumps(RECORDS)
    elif layout == "array_pretty":
        text = json.dumps(RECORDS, indent=2)
    elif layout == "lines_blank":
        text = "\n\n".join(json.dumps(r) for r in RECORDS) + "\n\n\n"
    else:
        text = "\n".join(json.dumps(r) for r in RECORDS)
    name = "data.json" if layout != "lines" else "data.jsonl"
    path = _write(tmp_path / (name + (".gz" if gz else "")), text, gz)
    records = list(iter_records(path))
    assert [r.value for r in records] == RECORDS
    assert [r.index for r in records] == list(range(len(RECORDS)))


def test_single_object_pretty_and_compact(tmp_path):
    pretty = _write(tmp_path / "one.json", json.dumps({"a": [1, 2], "b": "c"}, indent=4))
    compact = _write(tmp_path / "two.json", json.dumps({"a": 1}))
    assert [r.value for r in iter_records(pretty)] == [{"a": [1, 2], "b": "c"}]
    assert [r.value for r in iter_records(compact)] == [{"a": 1}]


def test_records_larger_than_the_read_chunk(tmp_path):
    big = [{"text": "y" * 3_000_000}, {"text": "z"}]
    path = _write(tmp_path / "big.json", json.dumps(big))
    assert [len(r.value["text"]) for r in iter_records(path)] == [3_000_000, 1]


def test_bad_json_line_is_reported_with_its_line_and_the_rest_is_read(tmp_path):
    path = _write(tmp_path / "d.jsonl", '{"a": 1}\n\n{"a": 2,,}\n{"a": 3}\n')
    records = list(iter_records(path))
    assert isinstance(records[1], BadRecord) and records[1].line == 3 and records[1].index == 1
    assert "invalid JSON" in records[1].reason
    assert [r.value for r in records if isinstance(r, RawRecord)] == [{"a": 1}, {"a": 3}]


def test_corrupt_element_of_pretty_array_resynchronises(tmp_path):
    text = json.dumps([{"a": i} for i in range(5)], indent=2).replace('"a": 2', '"a": 2,,')
    records = list(iter_records(_write(tmp_path / "d.json", text)))
    assert [type(r).__name__ for r in records] == ["RawRecord"] * 2 + ["BadRecord"] + ["RawRecord"] * 2
    assert [r.value["a"] for r in records if isinstance(r, RawRecord)] == [0, 1, 3, 4]


def test_truncated_array_keeps_what_came_before(tmp_path):
    text = json.dumps([{"a": i} for i in range(3)])[:-8]
    records = list(iter_records(_write(tmp_path / "t.json", text)))
    assert [r.value for r in records if isinstance(r, RawRecord)] == [{"a": 0}, {"a": 1}]
    assert isinstance(records[-1], BadRecord)


def test_not_json_and_missing_files_are_one_line_errors(tmp_path):
    csv = _write(tmp_path / "x.json", "id,text\n1,hello\n")
    with pytest.raises(SourceFileError, match="not JSON"):
        list(iter_records(csv))
    with pytest.raises(SourceFileError, match="no such file"):
        list(iter_records(tmp_path / "missing.json"))


def test_empty_file_has_no_records(tmp_path):
    assert list(iter_records(_write(tmp_path / "e.jsonl", "\n  \n"))) == []
