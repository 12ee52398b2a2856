"""A local causal LM through transformers: batched greedy generation, letter scores, assistant loss.

Prompts are left-padded (so every row's next token sits at the last position) and
left-truncated to the model's context; position ids follow the attention mask so
padding changes no result, whatever the position encoding.
"""

from __future__ import annotations

from typing import Any

from imitkit.eval.errors import ModelCallError, ModelSpecError
from imitkit.eval.models import ModelSpec, truncate_at_stop

FALLBACK_TEMPLATE = "<|{role}|>\n{content}\n"


class LocalModel:
    kind = "local"

    def __init__(self, spec: ModelSpec, batch_size: int = 8, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.name)
            self.model = AutoModelForCausalLM.from_pretrained(spec.name, dtype="auto")
        except (OSError, ValueError) as e:
            raise ModelSpecError(f"cannot load model {spec.name!r}: {str(e).splitlines()[0]}") from e
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.spec, self.name, self.batch_size = spec, spec.name, max(1, batch_size)
        tok = self.tokenizer
        tok.padding_side = tok.truncation_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token or tok.unk_token
        self.max_length = int(getattr(self.model.config, "max_position_embeddings", 0) or 2048)

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.name, "device": self.device, "dtype": str(self.model.dtype),
                "batch_size": self.batch_size}

    # -- prompts ----------------------------------------------------------------------
    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=add_generation_prompt)
        text = "".join(FALLBACK_TEMPLATE.format(role=m["role"], content=m["content"]) for m in messages)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")

    def _batch(self, texts: list[str], room: int, special: bool) -> dict[str, Any]:
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                             max_length=max(8, self.max_length - room), add_special_tokens=special)
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        enc["position_ids"] = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
        return enc

    # -- generation -------------------------------------------------------------------
    def generate(self, prompts: list[str], max_new_tokens: int = 64, stop: list[str] | None = None,
                 temperature: float = 0.0, special: bool = True) -> list[str]:
        outputs: list[str] = [""] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding per batch
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, text in zip(chunk, self._generate_batch([prompts[i] for i in chunk], max_new_tokens, stop,
                                                           temperature, special)):
                outputs[i] = text
        return outputs

    def chat(self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 512,
             stop: list[str] | None = None, temperature: float = 0.0) -> list[str]:
        prompts = [self.render(m, add_generation_prompt=True) for m in conversations]
        return self.generate(prompts, max_new_tokens, stop, temperature, special=False)

    def _generate_batch(self, prompts: list[str], max_new_tokens: int, stop: list[str] | None,
                        temperature: float, special: bool) -> list[str]:
        from transformers import StoppingCriteriaList

        torch, tok = self.torch, self.tokenizer
        enc = self._batch(prompts, max_new_tokens, special)
        enc.pop("position_ids")  # generate derives them from the mask itself
        width = enc["input_ids"].shape[1]
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        criteria = StoppingCriteriaList([_StopOnStrings(tok, stop, width)]) if stop else None
        try:
            with torch.inference_mode():
                out = self.model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                          stopping_criteria=criteria, **sampling)
        except (RuntimeError, ValueError) as e:
            raise ModelCallError(f"{self.name}: generation failed: {str(e).splitlines()[0]}") from e
        texts = tok.batch_decode(out[:, width:], skip_special_tokens=True)
        return [truncate_at_stop(t, stop) for t in texts]

    # -- scoring ----------------------------------------------------------------------
    def choice_logprobs(self, prompts: list[str], choices: list[str]) -> list[list[float]]:
        """Log-likelihood of each choice continuing each prompt (summed over its tokens)."""
        tok = self.tokenizer
        choice_ids = [tok(c, add_special_tokens=False)["input_ids"] for c in choices]
        if all(len(ids) == 1 for ids in choice_ids):  # one forward pass per prompt
            wanted = [ids[0] for ids in choice_ids]
            rows = []
            for start in range(0, len(prompts), self.batch_size):
                logp = self._last_logprobs(prompts[start:start + self.batch_size])
                rows.extend(logp[:, wanted].tolist())
            return rows
        return [[self._continuation_logprob(p, ids) for ids in choice_ids] for p in prompts]

    def _last_logprobs(self, prompts: list[str]) -> Any:
        enc = self._batch(prompts, 1, True)
        with self.torch.inference_mode():
            logits = self.model(**enc).logits[:, -1, :].float()
        return self.torch.log_softmax(logits, dim=-1).cpu()

    def _continuation_logprob(self, prompt: str, ids: list[int]) -> float:
        torch = self.torch
        enc = self._batch([prompt], len(ids), True)
        cont = torch.tensor([ids], device=self.device)
        input_ids = torch.cat([enc["input_ids"], cont], dim=1)
        with torch.inference_mode():
            logits = self.model(input_ids=input_ids).logits[0, -len(ids) - 1:-1].float()
        return float(torch.log_softmax(logits, -1).gather(1, cont[0].unsqueeze(1)).sum())

    def assistant_nll(self, conversations: list[list[dict[str, str]]]) -> list[tuple[float, int]]:
        """Teacher-forced (summed NLL, token count) over the assistant tokens of each conversation."""
        return [pair for start in range(0, len(conversations), self.batch_size)
                for pair in self._nll_batch(conversations[start:start + self.batch_size])]

    def _nll_batch(self, conversations: list[list[dict[str, str]]]) -> list[tuple[float, int]]:
        torch, tok = self.torch, self.tokenizer
        texts, spans = zip(*(self._assistant_spans(m) for m in conversations))
        tok.padding_side = tok.truncation_side = "right"  # keep the start of long conversations
        try:
            enc = tok(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=self.max_length,
                      add_special_tokens=False, return_offsets_mapping=True)
        finally:
            tok.padding_side = tok.truncation_side = "left"
        offsets = enc.pop("offset_mapping")
        mask = torch.zeros_like(enc["input_ids"], dtype=torch.bool)
        for row, row_spans in enumerate(spans):
            starts = offsets[row, :, 0]
            for a, b in row_spans:
                mask[row] |= (starts >= a) & (starts < b)
        mask &= enc["attention_mask"].bool()
        ids = enc["input_ids"].to(self.device)
        attention = enc["attention_mask"].to(self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none").cpu()
        target = mask[:, 1:]
        return [(float(nll[r][target[r]].sum()), int(target[r].sum())) for r in range(len(conversations))]

    def _assistant_spans(self, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        text = self.render(messages, add_generation_prompt=False)
        spans, cursor = [], 0
        for i, m in enumerate(messages):
            if m["role"] != "assistant" or not m["content"]:
                continue
            prefix = self.render(messages[:i], add_generation_prompt=True) if i else ""
            start = len(prefix) if text.startswith(prefix) else text.find(m["content"], cursor)
            start = text.find(m["content"], start) if start >= 0 else -1
            if start < 0:
                continue  # the template rewrote this turn (e.g. dropped reasoning); skip it
            spans.append((start, start + len(m["content"])))
            cursor = start + len(m["content"])
        return text, spans


class _StopOnStrings:
    """Stops each row once its generated text contains a stop string."""

    def __init__(self, tokenizer: Any, stop: list[str], prompt_width: int):
        self.tokenizer, self.stop, self.width = tokenizer, stop, prompt_width

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.width:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], device=input_ids.device)
