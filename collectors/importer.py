"""``imitkit import``: files of real chat dumps into the registry, idempotently.

Every input is checked before anything is written (a missing or non-JSON file is a
one-line error). Records are then streamed, converted and written in transactional
batches; a record that cannot be read is quarantined with its file, line and reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from imitkit.collectors import formats
from imitkit.collectors.errors import CollectorError, RecordError, SourceFileError
from imitkit.collectors.reading import BadRecord, RawRecord, iter_records, open_binary, sniff_container
from imitkit.registry.catalog import upsert_source
from imitkit.registry.records import ORIGINS, QuarantinedRecord
from imitkit.registry.runs import recorded_run
from imitkit.registry.writer import ConversationWriter

FORMAT_NAMES = ("auto", *formats.FORMATS)
SNIFF_RECORDS = 100


@dataclass
class ImportOptions:
    format: str
    source: str
    license: str | None = None
    origin: str | None = None
    teacher_model: str | None = None
    notes: str | None = None
    batch_size: int = 10_000


@dataclass
class ImportSummary:
    files: int = 0
    records: int = 0
    conversations: int = 0
    new: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    formats: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def present(self) -> int:
        return self.conversations - self.new

    def line(self, source: str) -> str:
        text = (f"{self.files} file(s), {self.records:,} records → {self.conversations:,} conversations: "
                f"{self.new:,} new, {self.present:,} already present, {self.quarantined:,} quarantined "
                f"({self.seconds:.1f}s)")
        if self.quarantined:
            text += f"; see `imitkit quarantine --source {source}`"
        return text


@dataclass
class _Input:
    label: str  # what provenance calls the file
    path: Path | None  # None for hf: datasets
    size: int


def _check_inputs(paths: Iterable[str]) -> list[_Input]:
    inputs = []
    for raw in paths:
        if raw.startswith("hf:"):
            inputs.append(_Input(raw, None, 0))
            continue
        path = Path(raw).expanduser()
        stream, _ = open_binary(path)  # raises a one-line SourceFileError if missing
        with stream:
            sniff_container(stream, path)  # raises if not JSON at all
        inputs.append(_Input(str(path.resolve()), path, path.stat().st_size))
    if not inputs:
        raise SourceFileError("no input files given")
    return inputs


def _hf_records(spec: str) -> Iterator[tuple[str, RawRecord]]:
    import datasets  # heavy: only for hf: inputs

    target = spec[3:]
    try:
        if Path(target).is_dir() and any((Path(target) / n).exists() for n in ("state.json", "dataset_dict.json")):
            loaded = datasets.load_from_disk(target)
        else:
            loaded = datasets.load_dataset(target)
    except Exception as e:  # datasets raises many unrelated types for a bad path or id
        raise SourceFileError(f"{spec}: cannot load with datasets: {e}") from e
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    for split, dataset in splits:
        for index, row in enumerate(dataset):
            yield f"{spec}#{split}", RawRecord(index, None, row)


def _records(item: _Input, meter: list | None = None) -> Iterator[tuple[str, RawRecord | BadRecord]]:
    if item.path is None:
        yield from _hf_records(item.label)
    else:
        for record in iter_records(item.path, meter):
            yield item.label, record


def _sniff_file(item: _Input) -> str:
    for n, (_, record) in enumerate(_records(item)):
        if n >= SNIFF_RECORDS:
            break
        if isinstance(record, RawRecord) and (found := formats.sniff(record.value)):
            return found
    raise SourceFileError(
        f"{item.label}: cannot tell its format from its first records; name one of "
        f"{', '.join(formats.FORMATS)} instead of auto"
    )


def _default_origin(chosen: Iterable[str]) -> str:
    # HC3 holds both human and ChatGPT answers; other formats have one origin per format.
    origins = {"mixed" if f == "hc3" else formats.DEFAULT_ORIGIN[f] for f in chosen}
    return origins.pop() if len(origins) == 1 else "mixed"


def import_files(registry: Any, paths: list[str], options: ImportOptions, progress: Any = None) -> ImportSummary:
    """Import ``paths`` into ``registry``; ``progress`` is an optional rich Progress."""
    if options.format not in FORMAT_NAMES:
        raise CollectorError(f"unknown format {options.format!r}; choose from {', '.join(FORMAT_NAMES)}")
    if options.origin is not None and options.origin not in ORIGINS:
        raise CollectorError(f"--origin must be one of {', '.join(ORIGINS)}, not {options.origin!r}")
    inputs = _check_inputs(paths)
    chosen = {i.label: (_sniff_file(i) if options.format == "auto" else options.format) for i in inputs}
    summary = ImportSummary(files=len(inputs), formats=chosen)
    started = time.monotonic()
    arguments = {"format": options.format, "paths": [i.label for i in inputs], "source": options.source,
                 "license": options.license, "origin": options.origin, "teacher_model": options.teacher_model}
    task = progress.add_task(f"import {options.source}", total=sum(i.size for i in inputs) or None) if progress else None
    with recorded_run(registry, "import", arguments) as run:
        upsert_source(registry, options.source, format=",".join(sorted(set(chosen.values()))),
                      license=options.license, origin=options.origin or _default_origin(chosen.values()),
                      teacher_model=options.teacher_model, notes=options.notes)
        writer = ConversationWriter(registry, run, options.source, options.batch_size)
        done_bytes = 0
        try:
            for item in inputs:
                _import_one(item, chosen[item.label], options, writer, summary, progress, task, done_bytes)
                done_bytes += item.size
            writer.flush()
        except KeyboardInterrupt:
            writer.flush()  # keep every finished record; a re-run resumes from here
            summary.interrupted = True
            raise
        finally:
            summary.new, summary.quarantined = writer.new, writer.quarantined
            summary.seconds = time.monotonic() - started
            run.add(files=summary.files, records=summary.records, conversations=summary.conversations,
                    new=writer.new, already_present=summary.conversations - writer.new,
                    quarantined=writer.quarantined)
    return summary


def _import_one(item: _Input, fmt: str, options: ImportOptions, writer: ConversationWriter,
                summary: ImportSummary, progress: Any, task: Any, done_bytes: int) -> None:
    convert = formats.FORMATS[fmt]
    origin = options.origin or formats.DEFAULT_ORIGIN[fmt]
    stem = Path(item.label).name.split(".")[0] if item.path else item.label
    ctx = formats.FormatContext(origin, options.teacher_model, stem)
    meter: list = []
    for n, (label, record) in enumerate(_records(item, meter), start=1):
        summary.records += 1
        if isinstance(record, BadRecord):
            writer.reject(QuarantinedRecord(label, record.index, record.line, record.reason, record.raw))
            continue
        try:
            if isinstance(record.value, str):
                raise RecordError("a bare string, not a conversation (prompt lists go to `imitkit teacher answer --prompts`)")
            conversations = convert(record.value, ctx)
        except RecordError as e:
            writer.reject(QuarantinedRecord(label, record.index, record.line, str(e), record.value))
            continue
        for conv in conversations:
            writer.add(conv, label, record.index, record.line)
        summary.conversations += len(conversations)
        if progress is not None and n % 2000 == 0:
            progress.update(task, completed=done_bytes + (meter[0].bytes_read if meter else 0),
                            description=f"import {options.source}: {summary.conversations:,} conversations")
    if progress is not None:
        progress.update(task, completed=done_bytes + item.size)
