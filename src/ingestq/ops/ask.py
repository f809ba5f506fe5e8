"""``ask``: answer a question from the indexed chunks, with an LLM, citing sources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ingestq.config import DEFAULT_COLLECTION, Settings
from ingestq.errors import LLMError, NoLLMError
from ingestq.ops.search import Hit, search

SYSTEM = (
    "Answer the question using only the numbered sources below. Cite every claim with the "
    "source's label in square brackets, exactly as given, like [report.pdf p.3]. If the sources "
    "do not contain the answer, say so plainly. Be concise."
)


@dataclass
class Answer:
    """The retrieved sources, then the answer as it streams in."""

    hits: list[Hit]
    labels: list[str]
    parts: Iterator[str]
    text: list[str] = field(default_factory=list)

    def stream(self) -> Iterator[str]:
        for part in self.parts:
            self.text.append(part)
            yield part

    def cited(self) -> list[str]:
        """Labels the answer cites, in order of first citation."""
        answer = "".join(self.text)
        return [label for label in self.labels if f"[{label}]" in answer]


def label(hit: Hit) -> str:
    name = PurePosixPath(hit.source).name or hit.source
    return f"{name} p.{hit.page}" if hit.page else name


def ask(
    settings: Settings, question: str, *, k: int = 6, collection: str = DEFAULT_COLLECTION
) -> Answer:
    """Retrieve the top ``k`` chunks and start streaming the LLM's answer from them."""
    if not settings.llm_model:
        raise NoLLMError(
            "no LLM is configured (set INGESTQ_LLM_MODEL, and OPENAI_BASE_URL/OPENAI_API_KEY"
            " for the endpoint); `ingestq search` finds the passages without one"
        )
    hits = search(settings, question, k=k, collection=collection)
    labels = list(dict.fromkeys(label(h) for h in hits))
    sources = "\n\n".join(f"[{label(h)}]\n{h.text}" for h in hits)
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"},
    ]
    return Answer(hits, labels, _stream(settings.llm_model, messages))


def _stream(model: str, messages: list[dict[str, str]]) -> Iterator[str]:
    try:
        import openai

        client = openai.OpenAI(timeout=120, max_retries=1)
        response: Any = client.chat.completions.create(
            model=model,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
        )
        for event in response:
            if event.choices and (delta := event.choices[0].delta.content):
                yield delta
    except LLMError:
        raise
    except Exception as exc:  # the endpoint's errors reach the user as one line
        text = re.sub(r"\s+", " ", str(exc)).strip()[:300] or type(exc).__name__
        raise LLMError(f"the LLM failed: {text}") from exc
