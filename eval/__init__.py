"""The eval harness: NQ, MMLU, HumanEval, held-out imitation, LLM judge and the gap report.

Heavy libraries (torch, transformers, openai) are imported inside the functions that
use them, so importing this package stays cheap.
"""
