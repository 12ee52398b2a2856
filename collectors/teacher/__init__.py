"""Teacher collection: answers and task-targeted prompts from any OpenAI-compatible API.

Every call is logged in ``teacher_calls`` and committed with the conversation made
from its answer, so a re-run sends only what was never answered (``answer.py``).
"""
