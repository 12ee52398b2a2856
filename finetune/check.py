"""The check pass: tokenize the snapshot under the chosen template and report what training would see.

It runs alone (``imitkit finetune --check``) and at the start of every run, and refuses to
start a run when too many examples have no trainable token or when the loss mask disagrees
with an independent rendering of the assistant's turns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from imitkit.finetune.masking import check_example, normalize_messages, segments, tokenize_batch

EXAMPLE_CHARS = 1500
OPEN, CLOSE = "⟦", "⟧"


@dataclass
class CheckReport:
    snapshot: str
    fingerprint: str
    split: str
    template: str
    template_notes: list[str]
    assistant_only_loss: bool
    max_length: int | None
    examples: int
    truncated: int
    untrainable: int
    untrainable_reasons: dict[str, int]
    untrainable_ids: list[str]
    trainable_tokens: int
    total_tokens: int
    longest: int
    max_untrainable_fraction: float
    mask_checked: int
    mask_mismatches: int
    mask_problems: list[dict[str, Any]]
    on_mask_mismatch: str
    example_id: str | None = None
    example: list[tuple[str, str]] = field(default_factory=list)

    @property
    def untrainable_fraction(self) -> float:
        return self.untrainable / self.examples if self.examples else 0.0

    def problems(self) -> list[str]:
        """Reasons to refuse the run (empty when it may start)."""
        found = []
        if self.untrainable == self.examples:
            found.append("no example has a trainable token")
        elif self.untrainable_fraction > self.max_untrainable_fraction:
            found.append(f"{self.untrainable} of {self.examples} examples ({self.untrainable_fraction:.1%}) have no "
                         f"trainable token, over max_untrainable_fraction={self.max_untrainable_fraction:g}")
        if self.mask_mismatches and self.on_mask_mismatch == "error":
            found.append(f"the loss mask disagrees with the assistant's turns in {self.mask_mismatches} of "
                         f"{self.mask_checked} checked examples (on_mask_mismatch=warn to train anyway)")
        return found

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["untrainable_fraction"] = self.untrainable_fraction
        out["problems"] = self.problems()
        out["example"] = [{"kind": k, "text": t} for k, t in self.example]
        return out


def run_check(dataset: Any, tokenizer: Any, template: Any, settings: Any, snapshot: Any, split: str) -> tuple[CheckReport, Any]:
    """Tokenize ``dataset`` and report; returns the report and the trainable examples, tokenized."""
    import numpy as np

    max_length = settings.sft.get("max_length", 1024)
    assistant_only = settings.assistant_only_loss
    tokenized = dataset.map(
        tokenize_batch, batched=True, batch_size=256, num_proc=settings.sft.get("dataset_num_proc"),
        fn_kwargs={"tokenizer": tokenizer, "template": template.text, "assistant_only": assistant_only,
                   "max_length": max_length},
        new_fingerprint=_fingerprint(snapshot.fingerprint, split, len(dataset), template.sha256, assistant_only,
                                     max_length),
        desc=f"Tokenizing {snapshot.name}/{split}")
    col = {name: tokenized.data.column(name).to_numpy(zero_copy_only=False)
           for name in ("n_tokens", "n_trainable", "n_trainable_full", "truncated")}
    errors = tokenized.data.column("error").to_pylist()
    kept = col["n_trainable"] > 0
    reasons: dict[str, int] = {}
    for i in np.flatnonzero(~kept):
        reason = ("template error" if errors[i] else "assistant tokens cut by max_length"
                  if col["n_trainable_full"][i] > 0 else "no assistant tokens")
        reasons[reason] = reasons.get(reason, 0) + 1
    ids = tokenized.data.column("id").to_pylist()
    checked, problems, mismatches = _check_masks(dataset, tokenized, tokenizer, template.text, kept, errors,
                                                 settings.args.mask_check_examples if assistant_only else 0)
    report = CheckReport(
        snapshot=snapshot.name, fingerprint=snapshot.fingerprint, split=split, template=template.source,
        template_notes=list(template.notes), assistant_only_loss=assistant_only, max_length=max_length,
        examples=len(ids), truncated=int(col["truncated"].sum()), untrainable=int((~kept).sum()),
        untrainable_reasons=reasons, untrainable_ids=[ids[i] for i in np.flatnonzero(~kept)[:10]],
        trainable_tokens=int(col["n_trainable"][kept].sum()), total_tokens=int(col["n_tokens"][kept].sum()),
        longest=int(tokenized.data.column("n_tokens_full").to_numpy().max()),
        max_untrainable_fraction=settings.args.max_untrainable_fraction, mask_checked=checked,
        mask_mismatches=mismatches, mask_problems=problems, on_mask_mismatch=settings.args.on_mask_mismatch)
    first = next(iter(np.flatnonzero(kept)), None)
    if first is not None:
        row = tokenized[int(first)]
        text = tokenizer.apply_chat_template(normalize_messages(dataset[int(first)]["messages"]),
                                             chat_template=template.text, tokenize=False)
        report.example_id, report.example = row["id"], segments(tokenizer, text, row["labels"])
    trainable = tokenized.select(np.flatnonzero(kept)) if not kept.all() else tokenized
    return report, trainable.select_columns(["input_ids", "labels"])


def _fingerprint(*parts: Any) -> str:
    import hashlib

    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _check_masks(dataset: Any, tokenized: Any, tokenizer: Any, template: str, kept: Any, errors: list,
                 limit: int) -> tuple[int, list[dict[str, Any]], int]:
    import numpy as np

    candidates = np.flatnonzero(kept)
    if limit <= 0 or not len(candidates):
        return 0, [], 0
    # Evenly spread over the split, so a problem confined to one source is still seen.
    picks = sorted(set(candidates[np.linspace(0, len(candidates) - 1, min(limit, len(candidates))).astype(int)]))
    problems, mismatches = [], 0
    for i in picks:
        row = tokenized[int(i)]
        result = check_example(tokenizer, template, dataset[int(i)]["messages"], row["input_ids"], row["labels"])
        if not result.ok:
            mismatches += 1
            if len(problems) < 5:
                problems.append({"id": row["id"], "problem": result.problem, "position": result.position})
    return len(picks), problems, mismatches


def print_report(report: CheckReport, console: Any) -> None:
    """The human-readable report (on stderr, so stdout stays free for --json)."""
    from rich.markup import escape

    pct = (lambda n, d: f"{n:,} ({n / d:.1%})" if d else f"{n:,}")
    console.print(f"[bold]check[/bold] snapshot {report.snapshot} ({report.fingerprint[:16]}…) split {report.split}")
    console.print(f"  template          {escape(report.template)}")
    for note in report.template_notes:
        console.print(f"  [yellow]note[/yellow]              {escape(note)}")
    console.print(f"  loss on           {'assistant turns only' if report.assistant_only_loss else 'every token'}")
    console.print(f"  examples          {report.examples:,}")
    console.print(f"  truncated         {pct(report.truncated, report.examples)} by max_length={report.max_length}"
                  f" (longest {report.longest:,} tokens)")
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(report.untrainable_reasons.items()))
    console.print(f"  untrainable       {pct(report.untrainable, report.examples)}"
                  + (f" [{escape(reasons)}]; dropped, e.g. {', '.join(report.untrainable_ids[:3])}" if reasons else ""))
    console.print(f"  tokens            {report.trainable_tokens:,} trainable of {report.total_tokens:,}"
                  + (f" ({report.trainable_tokens / report.total_tokens:.1%})" if report.total_tokens else ""))
    if report.assistant_only_loss:
        console.print(f"  mask check        {report.mask_checked - report.mask_mismatches} of {report.mask_checked} "
                      "examples match the assistant turns token by token")
        for p in report.mask_problems:
            console.print(f"    [red]mismatch[/red] {escape(str(p['id']))}: {escape(str(p['problem']))}")
    if report.example:
        console.print(f"  example {escape(str(report.example_id))} ({OPEN}…{CLOSE} trained, the rest masked):")
        console.print(_render_example(report.example), soft_wrap=True, highlight=False)
    problems = report.problems()
    for problem in problems:
        console.print(f"[red]refused[/red]: {escape(problem)}")
    if not problems:
        console.print("[green]ok[/green]: ready to train")


def _render_example(runs: list[tuple[str, str]]) -> Any:
    from rich.text import Text

    out, used = Text("    "), 0
    for kind, text in runs:
        if used >= EXAMPLE_CHARS:
            out.append(f" … ({sum(len(t) for _, t in runs) - used:,} more characters)", style="dim")
            break
        piece = text[: EXAMPLE_CHARS - used]
        used += len(piece)
        if kind == "trained":
            out.append(OPEN + piece + CLOSE, style="bold green")
        elif kind == "cut":
            out.append(piece, style="red strike")
        else:
            out.append(piece, style="dim")
    return out
