"""The HTTP layer: OpenAI-compatible routes, zhplm's own routes, the catalog JSON API and the page.

Thin on purpose: every route parses a bounded body, finds its model in the :class:`ModelPool` and calls
one task object (``zhplm.pipeline`` or the :data:`GenerateFn`). Bodies are read and parsed here, not by
FastAPI's injection, so that size, depth, encoding and time limits answer with zhplm's own clear errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.background import BackgroundTask

from zhplm.errors import RequestError, UnknownModelError, ZhplmError
from zhplm.serve.batching import Batcher, MemoryTrim, Slots
from zhplm.serve.generation import GenerateFn, GenerationRequest, Generator, pipeline_stream
from zhplm.serve.images import ImageGenerator, ImageTextModel, is_image
from zhplm.serve.pool import ModelPool, is_image_text

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


@dataclass
class ServeConfig:
    """Limits and knobs; every limit is named in the error that enforces it."""

    api_key: str | None = None
    max_models: int = 2
    dtype: str = "fp32"  # fp32 | bf16 | int8 | auto (zhplm.precision: the fastest this CPU runs natively)
    max_body_bytes: int = 1 << 20
    max_json_depth: int = 32
    body_timeout_s: float = 30.0
    header_timeout_s: float = 10.0  # request headers (slow-loris): 408 and closed past it
    max_header_bytes: int = 16 * 1024  # all request headers together (431 beyond)
    max_inputs: int = 256  # texts per request
    max_input_chars: int = 4096  # characters per text (and per prompt/chat)
    max_images: int = 32  # images per request (image-text models; each a data URL within max_body_bytes)
    max_image_pixels: int = 25_000_000  # per image, read from its header before decoding
    max_generated_images: int = 4  # images per /v1/images/generations request (n)
    allow_slow: bool = False  # serve text-to-image where one image takes minutes (CogView on a CPU)
    max_tokens: int = 512  # upper bound of max_tokens
    batch_size: int = 64  # dynamic batching: inputs per forward
    batch_wait_ms: float = 5.0  # dynamic batching: how long the first input waits for company
    forwards_in_flight: int = 2  # dynamic batching: the next batch gathers while one computes
    threads: int | None = None  # torch threads (set by ``zhplm serve``; None: torch's default)
    max_queued_inputs: int = 4096  # embeddings queue bound (503 beyond)
    trim_every_s: float = 2.0  # give freed heap back to the OS after a forward, at most this often (0: never)
    max_generations: int = 2  # concurrent generations
    max_waiting_generations: int = 8  # generations waiting for a slot (429 beyond)
    store_models: bool = True  # also offer the store's converted models
    preload: bool = False  # load the named models (every task they have) before the first request
    generate: GenerateFn = field(default=pipeline_stream)


# ------------------------------------------------------------------ request bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EmbeddingsBody(_Body):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class FillMaskBody(_Body):
    model: str
    input: str | list[str]
    top_k: int = Field(5, ge=1, le=50)


class ZeroShotImageBody(_Body):
    model: str
    image: str
    labels: list[str] = Field(min_length=1)
    template: str | None = None


class ImageGenerationBody(_Body):
    model: str
    prompt: str
    n: int = Field(1, ge=1)
    size: str | None = None
    response_format: str | None = None
    seed: int | None = None  # zhplm's: the original's draw for this seed


class SimilarityBody(_Body):
    model: str
    source: str
    targets: list[str] = Field(min_length=1)


class RerankBody(_Body):
    """Cohere / Jina / TEI style: documents as strings or ``{"text": …}`` objects."""

    model: str
    query: str
    documents: list[str | dict[str, str]] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False


class ChatMessage(_Body):
    role: str
    content: str


class _GenerationBody(_Body):
    model: str
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = 1
    stream: bool = False
    seed: int | None = None
    stop: str | list[str] | None = None


class CompletionBody(_GenerationBody):
    prompt: str


class ChatBody(_GenerationBody):
    messages: list[ChatMessage] = Field(min_length=1)


B = TypeVar("B", bound=BaseModel)
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(raw: bytes) -> int:
    """Deepest nesting of ``raw`` JSON, strings skipped (counted before parsing, so a deep document
    never reaches the recursive parser)."""
    depth = deepest = 0
    for b in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        depth += 1 if b in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


async def read_body(request: Request, cfg: ServeConfig) -> bytes:
    chunks: list[bytes] = []
    size = 0

    async def collect() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > cfg.max_body_bytes:
                raise RequestError(413, f"request body over the limit of {cfg.max_body_bytes} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), cfg.body_timeout_s)
    except TimeoutError:
        raise RequestError(408, f"request body not received within {cfg.body_timeout_s:g} s") from None
    return b"".join(chunks)


async def parse(request: Request, cfg: ServeConfig, model: type[B]) -> B:
    raw = await read_body(request, cfg)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            400, f"request body is not valid UTF-8 (byte {exc.start}); send UTF-8 JSON"
        ) from None
    depth = json_depth(raw)
    if depth > cfg.max_json_depth:
        raise RequestError(422, f"JSON nested {depth} deep; the limit is {cfg.max_json_depth}")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"request body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise RequestError(422, f"invalid request: {problems}") from None


def texts_of(value: str | list[str], cfg: ServeConfig, *, images: bool = False) -> list[str]:
    """The inputs of a request, within the count and length limits; ``images``: the model also takes image
    strings (data URLs, bounded by the body size instead of the character limit)."""
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise RequestError(422, "input is empty; send at least one text")
    if len(texts) > cfg.max_inputs:
        raise RequestError(422, f"{len(texts)} inputs; the limit is {cfg.max_inputs} per request")
    for i, t in enumerate(texts):
        if len(t) > cfg.max_input_chars and not (images and is_image(t)):
            raise RequestError(422, f"input {i} has {len(t)} characters; the limit is {cfg.max_input_chars}")
    return texts


async def _embed(state: ServerState, value: Any, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Rows of the embeddings resident: a text model's batcher, or an image-text model (texts and images,
    one forward per request, in a worker thread, within the image slots)."""
    if isinstance(value, ImageTextModel):
        async with state.image_slots.hold():
            return await asyncio.to_thread(value.embed, texts)
    return np.asarray(await value.submit(texts), dtype=np.float32)


def max_tokens_of(body: _GenerationBody, cfg: ServeConfig) -> int:
    value = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    value = 16 if value is None else value
    if not 1 <= value <= cfg.max_tokens:
        raise RequestError(422, f"max_tokens must be between 1 and {cfg.max_tokens}, got {value}")
    if body.n != 1:
        raise RequestError(422, f"n must be 1 (one completion per request), got {body.n}")
    return value


# ------------------------------------------------------------------ metrics


class Metrics:
    """Counters in Prometheus' text format (no client library: a handful of numbers)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.seconds: dict[str, float] = {}
        self.started = time.time()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.seconds[route] = self.seconds.get(route, 0.0) + seconds

    def render(self, state: ServerState) -> str:
        lines = [
            "# HELP zhplm_requests_total HTTP requests by method, route and status.",
            "# TYPE zhplm_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'zhplm_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        lines += [
            "# HELP zhplm_request_seconds_total Time spent answering, by route.",
            "# TYPE zhplm_request_seconds_total counter",
        ]
        for route, s in sorted(self.seconds.items()):
            lines.append(f'zhplm_request_seconds_total{{route="{route}"}} {s:.6f}')
        pool = state.pool
        batchers = [r.value for r in pool.resident.values() if isinstance(r.value, Batcher)]
        gauges = {
            "zhplm_models_resident": (len(pool.resident), "gauge", "Model/task pairs in memory."),
            "zhplm_model_loads_total": (pool.loads, "counter", "Model loads since start."),
            "zhplm_model_evictions_total": (pool.evictions, "counter", "Least-recently-used evictions."),
            "zhplm_embedding_batches_total": (
                state.batches,
                "counter",
                "Forward passes of the embeddings batcher.",
            ),
            "zhplm_embedding_batched_inputs_total": (
                state.batched_inputs,
                "counter",
                "Inputs in those forward passes.",
            ),
            "zhplm_embedding_queue_inputs": (
                sum(b.pending for b in batchers),
                "gauge",
                "Inputs waiting for a batch.",
            ),
            "zhplm_generations_running": (state.generations.busy, "gauge", "Generations holding a slot."),
            "zhplm_generations_waiting": (
                state.generations.waiting,
                "gauge",
                "Generations waiting for a slot.",
            ),
            "zhplm_uptime_seconds": (round(time.time() - self.started, 3), "gauge", "Seconds since start."),
        }
        for name, (value, kind, help_) in gauges.items():
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ state


class ServerState:
    def __init__(self, cfg: ServeConfig, models: dict[str, Path]) -> None:
        self.cfg = cfg
        self.pool = ModelPool(models, self._load, max_models=cfg.max_models, store_models=cfg.store_models)
        self.metrics = Metrics()
        self.generations = Slots(cfg.max_generations, cfg.max_waiting_generations, "generations")
        self.batches = 0
        self.batched_inputs = 0
        self._rerank_tasks: dict[str, str] = {}
        self.trim = MemoryTrim(cfg.trim_every_s) if cfg.trim_every_s > 0 else None
        # image requests run one forward each (no cross-request batch): as many at once as batched forwards
        self.image_slots = Slots(cfg.forwards_in_flight, cfg.max_waiting_generations, "image requests")

    def _load(self, folder: Path, task: str) -> Any:
        """Runs in a worker thread: the task object for ``folder``."""
        from zhplm import pipeline

        options: dict[str, Any] = {"dtype": self.cfg.dtype}
        # an image-text model: one resident serves texts, images and classification
        if task == "embeddings" and is_image_text(folder):
            from zhplm.tasks.image_text import ClipEncoder

            encoder = ClipEncoder.from_model(folder, batch_size=self.cfg.batch_size, **options)
            return ImageTextModel(
                encoder, max_pixels=self.cfg.max_image_pixels, max_images=self.cfg.max_images
            )
        if task in ("embeddings", "rerank"):
            # rerank: the model's own similarity vectors (its authors' pooling), cosine
            embed = (
                pipeline("embeddings", folder, **options)
                if task == "embeddings"
                else pipeline("sentence-similarity", folder, **options).embeddings
            )

            def forward(texts: list[str]) -> Any:
                rows = embed(texts)
                self.batches += 1
                self.batched_inputs += len(texts)
                if self.trim is not None:
                    self.trim()
                return rows

            return Batcher(
                forward,
                max_batch=self.cfg.batch_size,
                max_wait_s=self.cfg.batch_wait_ms / 1000,
                max_pending=self.cfg.max_queued_inputs,
                parallel=self.cfg.forwards_in_flight,
            )
        if task == "fill-mask":
            return pipeline("fill-mask", folder, **options)
        if task == "text-to-image":
            return ImageGenerator.load(folder, allow_slow=self.cfg.allow_slow, **options)
        return Generator.load(folder, **options)

    def resident_task(self, name: str, task: str) -> str:
        """The resident that answers ``task`` for ``name``: reranking may share the embeddings batcher
        (:meth:`rerank_task`); an image-text model's classification is its embeddings resident."""
        if task == "rerank":
            return self.rerank_task(name)
        return "embeddings" if task == "zero-shot-image-classification" else task

    def rerank_task(self, name: str) -> str:
        """The resident that reranks for ``name``: its embeddings batcher when the model's similarity
        pooling is the embeddings' own (``[CLS]``, normalised), else a ``rerank`` one with its authors'
        pooling (SimBERT's linear pooler). 400 with the model's tasks when it cannot rerank."""
        hit = self._rerank_tasks.get(name)
        if hit is not None:
            return hit
        from zhplm.loader import read_provenance
        from zhplm.serve.pool import model_tasks
        from zhplm.tasks.similarity import DEFAULT_POOLING, authors_pooling

        folder = self.pool.resolve(name)
        tasks = model_tasks(folder)
        if "rerank" not in tasks:
            raise RequestError(
                400,
                f"model {name!r} cannot rerank (it has no sentence vectors); its tasks: "
                f"{', '.join(tasks) or 'none'}",
                kind="wrong_task",
            )
        pooling = authors_pooling(read_provenance(folder).get("arch"))
        task = "embeddings" if pooling == DEFAULT_POOLING else "rerank"
        self._rerank_tasks[name] = task
        return task


# ------------------------------------------------------------------ the outer ASGI layer


ROUTES = (
    "/",
    "/health",
    "/metrics",
    "/v1/models",
    "/v1/embeddings",
    "/v1/fill-mask",
    "/v1/similarity",
    "/v1/zero-shot-image-classification",
    "/v1/images/generations",
    "/v1/rerank",
    "/v1/completions",
    "/v1/chat/completions",
    "/api/facets",
    "/api/catalog",
)
PROTECTED = ("/v1/", "/api/", "/metrics")


def error_body(status: int, message: str, kind: str) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "code": status}}, ensure_ascii=False
    ).encode()


class Guard:
    """Outermost layer: refuses an announced oversized body (413) and a missing or wrong API key (401)
    before the application sees the request, and records every answer's status and time."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path: str = scope["path"]
        route = (
            path if path in ROUTES else ("/api/catalog/{id}" if path.startswith("/api/catalog/") else "other")
        )
        status = 500

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            refusal = self._refuse(scope, path)
            if refusal is not None:
                code, text, kind, headers = refusal
                await _send_json(tracked, code, error_body(code, text, kind), headers)
                return
            await self.app(scope, receive, tracked)
        finally:
            self.state.metrics.observe(scope.get("method", "GET"), route, status, time.perf_counter() - start)

    def _refuse(self, scope: Scope, path: str) -> tuple[int, str, str, dict[str, str]] | None:
        raw = scope.get("headers", [])
        size = sum(len(k) + len(v) + 4 for k, v in raw)
        if size > self.state.cfg.max_header_bytes:  # h11 bounds only headers that arrive in pieces
            return (
                431,
                f"request headers of {size} bytes are over the limit of {self.state.cfg.max_header_bytes} bytes",
                "invalid_request_error",
                {"Connection": "close"},
            )
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        length = headers.get("content-length")
        limit = self.state.cfg.max_body_bytes
        if length is not None:
            if not length.isdigit():
                return 400, f"invalid Content-Length {length[:20]!r}", "invalid_request_error", {}
            if int(length) > limit:
                return (
                    413,
                    f"request body of {length} bytes is over the limit of {limit} bytes",
                    "invalid_request_error",
                    {},
                )
        key = self.state.cfg.api_key
        if key and path.startswith(PROTECTED):
            given = headers.get("authorization", "")
            token = given[7:].strip() if given[:7].lower() == "bearer " else ""
            if not hmac.compare_digest(token.encode(), key.encode()):
                why = "wrong API key" if token else "missing API key"
                return (
                    401,
                    f"{why}: send the server's key as `Authorization: Bearer KEY` (zhplm serve --api-key)",
                    "authentication_error",
                    {"WWW-Authenticate": "Bearer"},
                )
        return None


async def _send_json(
    send: Callable[[Message], Awaitable[None]], status: int, body: bytes, headers: dict[str, str]
) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ the application


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once; only these names are ever served (no path from a request is joined)."""
    types = {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
    }
    folder = resources.files("zhplm.serve") / "static"
    found: dict[str, tuple[bytes, str]] = {}
    for item in folder.iterdir():
        suffix = Path(item.name).suffix
        if item.is_file() and suffix in types:
            found[item.name] = (item.read_bytes(), types[suffix])
    return found


def create_app(
    models: dict[str, Path] | None = None, cfg: ServeConfig | None = None
) -> tuple[ASGIApp, ServerState]:
    """The ASGI application serving ``models`` (name -> converted folder) and the store's models."""
    cfg = cfg or ServeConfig()
    state = ServerState(cfg, models or {})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if cfg.preload:
            for name in state.pool.explicit:
                tasks = state.pool.tasks_of(name)
                for task in dict.fromkeys(state.resident_task(name, t) for t in tasks):
                    await state.pool.get(name, task)
        yield
        log.info("stopped")

    app = FastAPI(title="zhplm", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.zhplm = state
    static = _static_files()

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(
            json.loads(error_body(exc.status, str(exc), exc.kind)),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(UnknownModelError)
    async def _unknown(request: Request, exc: UnknownModelError) -> JSONResponse:
        return JSONResponse(json.loads(error_body(404, str(exc), "model_not_found")), status_code=404)

    @app.exception_handler(ZhplmError)
    async def _zhplm_error(request: Request, exc: ZhplmError) -> JSONResponse:
        return JSONResponse(json.loads(error_body(422, str(exc), type(exc).__name__)), status_code=422)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models_resident": state.pool.loaded_names()}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(state), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models")
    async def list_served() -> dict[str, Any]:
        loaded = set(state.pool.loaded_names())
        data = [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "zhplm",
                "tasks": list(state.pool.tasks_of(name)),
                "loaded": name in loaded,
            }
            for name in state.pool.available()
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await parse(request, cfg, EmbeddingsBody)
        resident = await state.pool.get(body.model, "embeddings")
        texts = texts_of(body.input, cfg, images=isinstance(resident.value, ImageTextModel))
        rows = await _embed(state, resident.value, texts)
        if body.dimensions is not None and body.dimensions != rows.shape[1]:
            raise RequestError(
                422, f"this model's embeddings have {rows.shape[1]} dimensions, not {body.dimensions}"
            )
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(row.astype("<f4").tobytes()).decode()
                if body.encoding_format == "base64"
                else row.tolist(),
            }
            for i, row in enumerate(rows)
        ]
        used = sum(len(t) for t in texts)  # characters: the Chinese vocabularies are one token per character
        answer = {
            "object": "list",
            "data": data,
            "model": body.model,
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }
        # serialised here: FastAPI's encoder would walk every float in Python (most of a request's time)
        return Response(json.dumps(answer, ensure_ascii=False), media_type="application/json")

    @app.post("/v1/similarity")
    async def similarity(request: Request) -> dict[str, Any]:
        """Cosine similarity of ``source`` to each target, from the same batched embeddings."""
        body = await parse(request, cfg, SimilarityBody)
        resident = await state.pool.get(body.model, "embeddings")
        texts = texts_of([body.source, *body.targets], cfg, images=isinstance(resident.value, ImageTextModel))
        rows = await _embed(state, resident.value, texts)
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        scores = (rows[1:] @ rows[0]).tolist()
        data = [
            {"index": i, **({"image": True} if is_image(t) else {"text": t}), "score": s}  # no image echoed
            for i, (t, s) in enumerate(zip(body.targets, scores, strict=True))
        ]
        return {"object": "list", "model": body.model, "data": data}

    @app.post("/v1/zero-shot-image-classification")
    async def zero_shot_image_classification(request: Request) -> dict[str, Any]:
        """An image (a data URL) against ``labels``, each put in the prompt ``template`` (default
        "一张{}的照片"): probabilities, best first."""
        body = await parse(request, cfg, ZeroShotImageBody)
        tasks = state.pool.tasks_of(body.model)
        if "zero-shot-image-classification" not in tasks:
            raise RequestError(
                400,
                f"model {body.model!r} does not do zero-shot-image-classification; its tasks: {', '.join(tasks)}",
                kind="wrong_task",
            )
        texts_of(body.labels, cfg)
        if body.template is not None and len(body.template) > cfg.max_input_chars:
            raise RequestError(422, f"the template is over the limit of {cfg.max_input_chars} characters")
        resident = await state.pool.get(body.model, "embeddings")
        async with state.image_slots.hold():
            ranked = await asyncio.to_thread(resident.value.classify, body.image, body.labels, body.template)
        data = [{"label": label, "score": score} for label, score in ranked]
        return {"object": "list", "model": body.model, "data": data}

    @app.post("/v1/images/generations")
    async def image_generations(request: Request) -> dict[str, Any]:
        """OpenAI's image generation for a CogView model: ``n`` images for ``prompt``, base64 PNG inline."""
        body = await parse(request, cfg, ImageGenerationBody)
        texts_of(body.prompt, cfg)
        if body.response_format not in (None, "b64_json"):
            raise RequestError(422, 'this server returns images inline: response_format must be "b64_json"')
        if body.n > cfg.max_generated_images:
            raise RequestError(
                422, f"n is {body.n}; the limit is {cfg.max_generated_images} images per request"
            )
        resident = await state.pool.get(body.model, "text-to-image")
        grid = resident.value.grid_for(body.size)
        async with state.generations.hold():
            images = await asyncio.to_thread(resident.value.generate, body.prompt, body.n, grid, body.seed)
        return {"created": int(time.time()), "data": [{"b64_json": b64} for b64 in images]}

    @app.post("/v1/rerank")
    async def rerank(request: Request) -> dict[str, Any]:
        """Documents by the cosine of the model's own sentence vectors to the query, best first."""
        body = await parse(request, cfg, RerankBody)
        docs = [d if isinstance(d, str) else d.get("text") for d in body.documents]
        for i, d in enumerate(docs):
            if not isinstance(d, str):
                raise RequestError(422, f'documents.{i}: give a string or an object with a "text" string')
        texts = texts_of([body.query, *[str(d) for d in docs]], cfg)
        resident = await state.pool.get(body.model, state.rerank_task(body.model))
        rows = np.asarray(await resident.value.submit(texts), dtype=np.float32)
        scores = (rows[1:] @ rows[0]).tolist()
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.top_n]
        results = [
            {"index": i, "relevance_score": scores[i]}
            | ({"document": {"text": texts[i + 1]}} if body.return_documents else {})
            for i in order
        ]
        used = sum(len(t) for t in texts)
        return {
            "id": uuid.uuid4().hex,
            "object": "list",
            "model": body.model,
            "results": results,
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }

    @app.post("/v1/fill-mask")
    async def fill_mask(request: Request) -> dict[str, Any]:
        body = await parse(request, cfg, FillMaskBody)
        texts = texts_of(body.input, cfg)
        resident = await state.pool.get(body.model, "fill-mask")
        results = await asyncio.to_thread(resident.value.batch, texts, top_k=body.top_k)
        data = [
            {
                "index": i,
                "masks": [
                    [
                        {"token": p.token, "token_id": p.token_id, "score": p.score, "sequence": p.sequence}
                        for p in mask
                    ]
                    for mask in result
                ],
            }
            for i, result in enumerate(results)
        ]
        return {"object": "list", "model": body.model, "data": data}

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Response | dict[str, Any]:
        body = await parse(request, cfg, CompletionBody)
        texts_of(body.prompt, cfg)
        gen = _generation_request(body, cfg, prompt=body.prompt)
        return await _generate(state, body, gen, chat=False)

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Response | dict[str, Any]:
        body = await parse(request, cfg, ChatBody)
        if sum(len(m.content) for m in body.messages) > cfg.max_input_chars:
            raise RequestError(422, f"the messages are over the limit of {cfg.max_input_chars} characters")
        messages = [{"role": m.role, "content": m.content} for m in body.messages]
        gen = _generation_request(body, cfg, messages=messages)
        return await _generate(state, body, gen, chat=True)

    # ---------------------------------------------------------------- the page and its catalog API

    @app.get("/")
    async def index() -> Response:
        content, kind = static["index.html"]
        return Response(content, media_type=kind)

    @app.get("/static/{name}")
    async def static_file(name: str) -> Response:
        hit = static.get(name)
        if hit is None:
            raise RequestError(404, f"no static file {name!r}", kind="not_found")
        return Response(hit[0], media_type=hit[1])

    @app.get("/api/facets")
    async def facets() -> dict[str, Any]:
        from zhplm.catalog import get_catalog
        from zhplm.catalog.schema import SECTIONS

        records = get_catalog().records
        return {"sections": list(SECTIONS), "families": list(dict.fromkeys(r.family for r in records))}

    @app.get("/api/catalog")
    async def catalog(q: str = "", section: str = "", family: str = "", limit: int = 200) -> dict[str, Any]:
        from zhplm.catalog import get_catalog, search

        if len(q) > 200:
            raise RequestError(422, "search text over 200 characters")
        records = search(q) if q.strip() else list(get_catalog().records)
        rows = [
            r for r in records if (not section or r.section == section) and (not family or r.family == family)
        ]
        return {"total": len(rows), "rows": [_row(r) for r in rows[: max(1, min(limit, 500))]]}

    @app.get("/api/catalog/{model_id}")
    async def catalog_row(model_id: str) -> dict[str, Any]:
        from zhplm.catalog import info
        from zhplm.sources.plan import plan
        from zhplm.sources.store import Store

        record = info(model_id)
        ways = plan(record)
        entry = Store().get(record.id)
        served = state.pool.available()
        detail = record.to_dict()
        detail["plan"] = [
            {"kind": a.kind, "where": a.describe(), "why": a.why, "automatic": True} for a in ways.automatic
        ] + [{"kind": a.kind, "where": a.describe(), "why": a.why, "automatic": False} for a in ways.manual]
        detail["store"] = {
            "present": entry is not None,
            "converted": bool(entry and entry.converted and entry.converted.is_dir()),
            "served": record.id in served,
            "loaded": record.id in state.pool.loaded_names(),
        }
        return detail

    return Guard(app, state), state


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "section": r.section,
        "family": r.family,
        "size": r.size,
        "arch": r.arch,
        "domain_zh": r.domain_zh,
        "domain_en": r.domain_en,
        "publisher": r.publisher.name,
    }


def _generation_request(
    body: _GenerationBody,
    cfg: ServeConfig,
    *,
    prompt: str | None = None,
    messages: list[dict[str, str]] | None = None,
) -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt, messages=messages, max_tokens=max_tokens_of(body, cfg), options=sampling_of(body)
    )


def sampling_of(body: _GenerationBody) -> dict[str, Any]:
    """The generation options the client chose; what it left out keeps zhplm's defaults for the model
    (``zhplm generate``: greedy; ``zhplm chat``: the format's own sampling). ``temperature`` 0 is greedy."""
    given = body.model_fields_set
    options: dict[str, Any] = {}
    if "temperature" in given:
        options["sample"] = body.temperature > 0
        if body.temperature > 0:
            options["temperature"] = body.temperature
    if "top_p" in given:
        options["top_p"] = body.top_p
        if body.top_p < 1 and options.get("sample") is not False:
            options["sample"] = True
    if body.seed is not None:
        options["seed"] = body.seed
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if any(stop):
        options["stop"] = tuple(s for s in stop if s)[:4]
    return options


async def _generate(
    state: ServerState, body: _GenerationBody, gen: GenerationRequest, *, chat: bool
) -> Response | dict[str, Any]:
    resident = await state.pool.get(body.model, "text-generation")
    await state.generations.acquire()
    released = False

    def release() -> None:
        """One-shot: called by whichever end comes first (the stream's end, or the response's end)."""
        nonlocal released
        gen.cancel.set()
        if not released:
            released = True
            state.generations.release()

    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    pieces = _pieces(state, resident.value, gen)
    if not body.stream:
        try:
            text = "".join([p async for p in pieces])
        finally:
            release()
        finish = gen.finish_reason
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        usage = {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
        }
        return {
            "id": ident,
            "object": "chat.completion" if chat else "text_completion",
            "created": created,
            "model": body.model,
            "choices": [choice],
            "usage": usage,
        }

    def chunk(delta: str | None, finish: str | None, first: bool = False) -> str:
        if chat:
            d: dict[str, Any] = (
                {"role": "assistant", "content": ""} if first else ({"content": delta} if delta else {})
            )
            choice = {"index": 0, "delta": d, "finish_reason": finish, "logprobs": None}
            obj = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": delta or "", "finish_reason": finish, "logprobs": None}
            obj = "text_completion"
        payload = {"id": ident, "object": obj, "created": created, "model": body.model, "choices": [choice]}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    try:  # the first piece before the answer starts: a refused prompt still gets its own status
        head = [await pieces.__anext__()]
    except StopAsyncIteration:
        head = []
    except BaseException:
        release()
        raise

    async def events() -> AsyncIterator[str]:
        try:
            if chat:
                yield chunk(None, None, first=True)
            for piece in head:
                yield chunk(piece, None)
            async for piece in pieces:
                yield chunk(piece, None)
            yield chunk(None, gen.finish_reason)
        except Exception as exc:  # the stream has started: the error becomes its last event
            log.exception("generation failed")
            yield f"data: {error_body(500, str(exc), 'generation_error').decode()}\n\n"
        finally:
            release()
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
        background=BackgroundTask(release),
    )


async def _pieces(state: ServerState, loaded: Any, gen: GenerationRequest) -> AsyncIterator[str]:
    """The generate function's pieces, each pulled in a worker thread (the event loop never waits on the model)."""
    iterator = state.cfg.generate(loaded, gen)
    done = object()
    try:
        while True:
            piece = await asyncio.to_thread(next, iterator, done)
            if piece is done:
                break
            assert isinstance(piece, str)
            yield piece
    finally:
        gen.cancel.set()  # the generate function's next piece ends it; closing it waits for that
        close = getattr(iterator, "close", None)
        if close is not None:
            with contextlib.suppress(ValueError):  # still running in a thread: it ends on its own
                await asyncio.to_thread(close)
