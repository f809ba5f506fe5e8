"""Topics: 3 to 8 short keyphrases per document.

Offline by default, with the model already loaded: candidate phrases (runs of
one to three content words) are counted while the chunks stream past, then
the most frequent (up to 150, fewer for a short document) are embedded and
ranked by similarity to the document (the mean of its chunk vectors),
diversified by maximal marginal relevance so the phrases are not
near-duplicates. When an LLM is configured the worker asks it instead
(:func:`llm_topics`), falling back to this on any failure.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingestq.embed.base import Embedder

MIN_TOPICS, MAX_TOPICS = 3, 8
#: Phrases embedded per document (the most frequent): this many at most, and for a short
#: document fewer, since each costs about as much to embed as 1/40 of a chunk.
CANDIDATES = 150
CANDIDATES_PER_CHUNK = 5
#: How much MMR weighs relevance against novelty.
LAMBDA = 0.6
#: Phrase vectors a worker process keeps (384 floats each: 12 MB at most). A
#: collection's documents share their phrases ("neural network" in every paper),
#: and each phrase costs the model about as much per word piece as a chunk does.
CACHE_SIZE = 8192

# Words of letters only (inner hyphens and apostrophes allowed): no numbers, no symbols.
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_ROMAN = re.compile(r"[ivxlcdm]{1,5}")
# Function words of the languages the corpus holds; a phrase may not start or end with one.
_STOP = frozenset(
    """
    a about above after again against all also an and any are as at be because been before
    being below between both but by can could did do does doing down during each either etc
    few for from further had has have having he her here hers him his how however i if in
    into is it its itself just let may me might more most must my no nor not now of off on
    once only or other our out over own per same shall she should so some such than that the
    their them then there these they this those through thus to too under until up upon us
    very via was we were what when where which while who whom why will with within without
    would yet you your aber als am an auch auf aus bei bis da damit dann das dass dem den
    denn der des die dies diese dieser dieses doch du durch ein eine einem einen einer eines
    es fur für gibt hat hier ich ihr im in ist ja jede jeder jedes kann kein keine mit nach
    nicht noch nun nur ob oder ohne sei seien sich sie sind so sodass über um und uns von
    vor wenn wie wir wird zu zum zur le la les un une des du de et est en que qui dans pour
    pas sur au aux ce cette il elle ne se bzw bzgl usw vgl eg ie cf et al
    """.split()  # noqa: SIM905 - a word list reads better as text
)


class PhraseCounter:
    """Counts candidate phrases as chunks go by, in bounded memory."""

    def __init__(self, limit: int = 50_000) -> None:
        self.counts: Counter[str] = Counter()
        self.limit = limit

    def feed(self, text: str) -> None:
        words = [w.lower() for w in _WORD.findall(text)]
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if (
                    gram[0] in _STOP
                    or gram[-1] in _STOP
                    or (min(len(w) for w in gram) < 3 and n == 1)
                ):
                    continue
                if any(len(w) < 2 or _ROMAN.fullmatch(w) for w in gram):
                    continue
                self.counts[" ".join(gram)] += 1
        if len(self.counts) > self.limit:
            # Forget the rarest half: a phrase that matters recurs.
            self.counts = Counter(dict(self.counts.most_common(self.limit // 2)))

    def candidates(self, limit: int = CANDIDATES) -> list[str]:
        common = [p for p, n in self.counts.most_common(limit * 2) if n >= 2]
        if len(common) < MIN_TOPICS:
            common = [p for p, _ in self.counts.most_common(limit * 2)]
        # A phrase contained in a longer, as frequent phrase adds nothing.
        out = [
            p
            for p in common
            if not any(
                p != q and f" {p} " in f" {q} " and self.counts[q] >= self.counts[p] for q in common
            )
        ]
        return out[:limit]


def offline_topics(
    counter: PhraseCounter, doc_vector: Any, embedder: Embedder, chunks: int = 30
) -> list[str]:
    """Up to MAX_TOPICS phrases most like the document, and unlike each other."""
    import numpy as np

    candidates = counter.candidates(min(CANDIDATES, 10 + CANDIDATES_PER_CHUNK * chunks))
    if not candidates or doc_vector is None:
        return []
    doc = np.asarray(doc_vector, dtype=np.float32)
    doc /= np.linalg.norm(doc) or 1.0
    vectors = PHRASE_VECTORS.encode(embedder, candidates)
    relevance = vectors @ doc
    chosen: list[int] = []
    while len(chosen) < min(MAX_TOPICS, len(candidates)):
        redundancy = (
            (vectors @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(candidates))
        )
        score = LAMBDA * relevance - (1 - LAMBDA) * redundancy
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        if chosen and relevance[best] < 0.15:
            break  # the rest is unrelated to the document
        chosen.append(best)
    return [candidates[i] for i in chosen]


class PhraseVectors:
    """An LRU of phrase vectors per model, shared by the jobs a worker runs at once."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, embedder: Embedder, phrases: list[str]) -> Any:
        """The unit vectors of ``phrases`` (a float32 matrix); only unknown ones are embedded."""
        import numpy as np

        model = embedder.name
        with self._lock:
            known: dict[str, Any] = {
                p: self._items[(model, p)] for p in phrases if (model, p) in self._items
            }
        missing = [p for p in phrases if p not in known]
        if missing:
            # Two jobs may both miss a phrase and embed it: harmless, and cheaper than
            # holding the lock across the model.
            fresh = np.asarray(embedder.encode(missing, 64), dtype=np.float32)
            # Rows of their own: a row kept as a view would keep its whole matrix alive.
            known.update(zip(missing, (row.copy() for row in fresh), strict=True))
        with self._lock:
            for phrase in phrases:
                self._items[(model, phrase)] = known[phrase]
                self._items.move_to_end((model, phrase))
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return np.stack([known[p] for p in phrases])


#: The worker process's phrase vectors.
PHRASE_VECTORS = PhraseVectors()


def llm_topics(client: Any, model: str, title: str, sample: str) -> list[str]:
    """Ask an OpenAI-compatible chat model for 3-8 keyphrases; raise on anything odd."""
    reply = client.chat.completions.create(
        model=model,
        temperature=0,
        messages=[
            {
                "role": "system",
                "content": "You extract topics. Answer with a JSON array of 3 to 8 short "
                "keyphrases (1-4 words each) naming what the document is about. Nothing else.",
            },
            {"role": "user", "content": f"Title: {title}\n\n{sample}"},
        ],
    )
    text = (reply.choices[0].message.content or "").strip()
    text = text.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    phrases = json.loads(text)
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise ValueError("the model did not answer with a JSON list of strings")
    cleaned = list(dict.fromkeys(" ".join(p.split())[:80] for p in phrases if p.strip()))
    if len(cleaned) < MIN_TOPICS:
        raise ValueError(f"the model gave {len(cleaned)} topics, fewer than {MIN_TOPICS}")
    return cleaned[:MAX_TOPICS]


class Digest:
    """What topics need from a document, gathered while its chunks are indexed."""

    SAMPLE_CHARS = 6000  # the start of the text, for an LLM

    def __init__(self) -> None:
        self.phrases = PhraseCounter()
        self.vector_sum: Any = None
        self.chunks = 0
        self._sample: list[str] = []
        self._sampled = 0

    def feed(self, texts: list[str], matrix: Any) -> None:
        self.chunks += len(texts)
        for text in texts:
            self.phrases.feed(text)
            if self._sampled < self.SAMPLE_CHARS:
                self._sample.append(text[: self.SAMPLE_CHARS - self._sampled])
                self._sampled += len(self._sample[-1])
        total = matrix.sum(axis=0)
        self.vector_sum = total if self.vector_sum is None else self.vector_sum + total

    @property
    def sample(self) -> str:
        return "\n".join(self._sample)


def choose(
    digest: Digest, embedder: Embedder, llm_model: str | None, title: str
) -> tuple[list[str], str | None]:
    """The document's topics, and a note if the LLM failed and offline ones were used."""
    note = None
    if llm_model:
        try:
            from openai import OpenAI

            # OPENAI_BASE_URL and OPENAI_API_KEY are read by the client itself.
            client = OpenAI(timeout=60, max_retries=1)
            return llm_topics(client, llm_model, title, digest.sample), None
        except Exception as exc:  # any failure there falls back, never fails the job
            text = " ".join(str(exc).split())[:200] or type(exc).__name__
            note = f"LLM topics failed ({text}); used offline topics"
    return offline_topics(digest.phrases, digest.vector_sum, embedder, digest.chunks), note
