from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from himoe_core import Context, ExpertFailed, InputData
from himoe_core.routing import Encoded, EncodeError

from ...base_models.http.http_caller import HttpCaller
from ...base_models.http.redaction import safe_url
from ...base_models.http.retry_policy import RetryPolicy
from .embeddings_batch import EmbeddingsBatch

OPTIONS = ("url", "model", "dim", "api_key_env", "batch_size", "batch_wait_ms", "cache_size", "max_retries")


class OpenAIEmbeddingsEncoder:
    """An encoder that asks an OpenAI-compatible `/v1/embeddings` service for each request's
    vector — for users who already run one (a local embedding server, a provider's API).

    Configured in a router's table: `encoder = {id = "openai-embeddings", url = "http://…/v1/embeddings",
    model = "…", dim = 768}`, plus `api_key_env` (the environment variable holding the key),
    `batch_size` (64), `batch_wait_ms` (2), `cache_size` (4096 texts), `max_retries` (1).

    - Batching: requests of one trio run that arrive within `batch_wait_ms` of each other share
      one call (up to `batch_size` texts, each text once); the call runs as a trio system task
      under the latest deadline among them, so no request waits past its own deadline for it.
    - Caching: the last `cache_size` texts' vectors are kept (LRU), shared by every run.
    - Deadlines and failures: a request whose vector is not back by its deadline, or whose call
      failed (the service's status, a timeout, a malformed reply, a vector of the wrong size),
      fails to encode with an EncodeError naming the service and the cause — the same causes
      an HTTP expert reports — so the router's attempt fails and a fallback router may answer.
    - `encode` (no deadline: `Router.decide`, offline evaluation) serves the cache, else makes
      the call itself under a 10 s budget, blocking its thread.
    """

    id = "openai-embeddings"
    dense = 0

    def __init__(
        self,
        *,
        url: str | None = None,
        model: str | None = None,
        dim: int | None = None,
        api_key_env: str | None = None,
        batch_size: int = 64,
        batch_wait_ms: float = 2.0,
        cache_size: int = 4096,
        max_retries: int = 1,
    ) -> None:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"openai-embeddings encoder dim must be a whole number >= 1, got {dim!r}")
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("cache_size", cache_size, 0),
            ("max_retries", max_retries, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"openai-embeddings encoder {name} must be a whole number >= {low}, got {value!r}")
        if (
            isinstance(batch_wait_ms, bool)
            or not isinstance(batch_wait_ms, (int, float))
            or not 0 <= batch_wait_ms < math.inf
        ):
            raise ValueError(f"openai-embeddings encoder batch_wait_ms must be a number >= 0, got {batch_wait_ms!r}")
        if model is not None and not isinstance(model, str):
            raise ValueError(f"openai-embeddings encoder model must be a string, got {model!r}")
        self.url, self.model, self.dim = url, model, dim
        self.batch_size, self.batch_wait_ms, self.cache_size = batch_size, float(batch_wait_ms), cache_size
        self.calls = 0
        """Calls made to the service (batches), for tests and benchmarks."""
        self._caller = (
            None
            if url is None
            else HttpCaller(
                f"{self.id} encoder",
                url,
                api_key_env=api_key_env,
                retry=RetryPolicy(max_retries + 1),
            )
        )
        self._options = {
            "url": url,
            "model": model,
            "dim": dim,
            "api_key_env": api_key_env,
            "batch_size": batch_size,
            "batch_wait_ms": batch_wait_ms,
            "cache_size": cache_size,
            "max_retries": max_retries,
        }
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[Any, EmbeddingsBatch] = {}  # trio run token → the batch being gathered

    def configure(self, **options: Any) -> OpenAIEmbeddingsEncoder:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"openai-embeddings encoder has no option {unknown[0]!r}; options: {', '.join(OPTIONS)}")
        return OpenAIEmbeddingsEncoder(**{**self._options, **options})

    def __repr__(self) -> str:
        url = None if self.url is None else safe_url(self.url)
        return f"OpenAIEmbeddingsEncoder(url={url!r}, model={self.model!r}, dim={self.dim!r})"

    # -- the request path ---------------------------------------------------------------------
    async def encode_async(self, x: InputData, ctx: Context) -> Encoded:
        """The text's embedding, from the cache or from a batched call under `ctx`'s deadline."""
        import trio

        text = self._text(x)
        cached = self._cached(text)
        if cached is not None:
            return Encoded(cached)
        batch = self._join(text, ctx)
        with trio.move_on_after(ctx.remaining_ms() / 1000.0):
            await batch.done.wait()
        if not batch.done.is_set():
            raise EncodeError(
                f"{self._service()}: no embedding within the request's deadline ({ctx.budget_ms:g} ms budget)"
            )
        if batch.error is not None:
            raise EncodeError(f"{self._service()}: {batch.error}")
        return Encoded(batch.vectors[text])

    def _join(self, text: str, ctx: Context) -> EmbeddingsBatch:
        import trio

        token = trio.lowlevel.current_trio_token()
        batch = self._pending.get(token)
        if batch is None or len(batch.texts) >= self.batch_size:
            batch = self._pending[token] = EmbeddingsBatch(trio.Event(), trio.Event())
            trio.lowlevel.spawn_system_task(self._send_when_ready, batch, token, name="himoe-http embeddings batch")
        if text not in batch.texts:
            batch.texts.append(text)
        batch.deadline = max(batch.deadline, trio.current_time() + ctx.remaining_ms() / 1000.0)
        if len(batch.texts) >= self.batch_size:
            batch.full.set()
        return batch

    async def _send_when_ready(self, batch: EmbeddingsBatch, token: Any) -> None:
        """A system task: wait for the batch to fill (or `batch_wait_ms`), then make its call.
        Nothing escapes it: a failure is the batch's error."""
        import trio

        try:
            with trio.move_on_after(self.batch_wait_ms / 1000.0):
                await batch.full.wait()
            if self._pending.get(token) is batch:
                del self._pending[token]
            budget_ms = max(0.0, (batch.deadline - trio.current_time()) * 1000.0)
            batch.vectors = await self._call(batch.texts, Context.start(budget_ms))
        except Exception as exc:  # reported to every request of the batch
            batch.error = str(exc) if isinstance(exc, (EncodeError, ExpertFailed)) else f"{type(exc).__name__}: {exc}"
        finally:
            batch.done.set()

    async def _call(self, texts: list[str], ctx: Context) -> dict[str, np.ndarray]:
        if self._caller is None:
            raise EncodeError(
                'the openai-embeddings encoder needs a url: encoder = {id = "openai-embeddings", url = "http://…/v1/embeddings"}'
            )
        body: dict[str, Any] = {"input": texts}
        if self.model is not None:
            body["model"] = self.model
        self.calls += 1
        try:
            reply = await self._caller.post_json(body, ctx)
        except ExpertFailed as exc:
            raise EncodeError(exc.cause) from None
        vectors = self._parse(reply, len(texts))
        with self._lock:
            for text, vector in zip(texts, vectors):
                self._remember(text, vector)
        return dict(zip(texts, vectors))

    def _parse(self, reply: Any, count: int) -> list[np.ndarray]:
        try:
            data = reply["data"]
            if not isinstance(data, list) or len(data) != count:
                raise ValueError(
                    f"'data' must hold {count} embeddings, got {len(data) if isinstance(data, list) else type(data).__name__}"
                )
            ordered = sorted(data, key=lambda item: item.get("index", 0))
            vectors = [np.asarray(item["embedding"], dtype=np.float32) for item in ordered]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EncodeError(f"malformed reply from {self._service()}: {exc}") from None
        for vector in vectors:
            if (
                vector.ndim != 1
                or (self.dim is not None and vector.shape[0] != self.dim)
                or not np.isfinite(vector).all()
            ):
                raise EncodeError(
                    f"malformed reply from {self._service()}: an embedding of shape {vector.shape}"
                    + (f", expected {self.dim} finite values (the encoder's dim)" if self.dim is not None else "")
                )
        return vectors

    # -- without a deadline -------------------------------------------------------------------
    def encode(self, x: InputData) -> Encoded:
        """The cached embedding, else one call under a 10 s budget in a trio run of its own
        (blocking this thread: the request path uses `encode_async`)."""
        import trio

        text = self._text(x)
        cached = self._cached(text)
        if cached is not None:
            return Encoded(cached)

        async def one() -> np.ndarray:
            return (await self._call([text], Context.start(10_000.0)))[text]

        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            return Encoded(trio.run(one))
        raise EncodeError(
            f"{self._service()}: {text[:40]!r} is not cached, and a blocking call from inside the event loop "
            "would stall it; route the request (HiMoE.run) to embed it"
        )

    # -- shared ---------------------------------------------------------------------------------
    def _text(self, x: InputData) -> str:
        text = x.as_text()
        if text is None:
            raise EncodeError(f"the openai-embeddings encoder needs text, got a {x.kind.value} input")
        return text

    def _cached(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
            return vector

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size:
            vector.setflags(write=False)
            self._cache[text] = vector
            self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _service(self) -> str:
        target = self._caller.target if self._caller is not None else "?"
        return f"embeddings service {target}"
