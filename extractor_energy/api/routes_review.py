"""``/ui``: the review page, and the JSON API under ``/ui/api`` it drives.

The page itself (``/ui``, ``/ui/review.js``, ``/ui/review.css``) is static and holds no data, so
it is open; the browser asks for the API key and sends it on every ``/ui/api`` call, which needs
the ``admin`` scope like any route the auth layer does not list. Bill values are hostile input:
the script only ever puts them in the page as text (``textContent`` / ``value``), and a strict
Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from typing import Any

from fastapi import APIRouter, Body, File, Form, Request, UploadFile
from starlette.responses import Response

from extractor_energy.training.datasets import normalise_annotation
from extractor_energy.extraction.review_queue import ReviewError, ReviewNotFound, ReviewQueue
from extractor_energy.extraction.review_stats import key_stats
from extractor_energy.domain.schema import ALL_FIELDS, ContractError
from extractor_energy.extraction.service import ExtractionService
from extractor_energy.api.errors import ApiError, count_extraction
from extractor_energy.api.public_text import clip

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

#: the static page and its assets: open (no data in them); everything under /ui/api needs a key
UI_PAGE_PATHS = frozenset({"/ui", "/ui/review.js", "/ui/review.css"})
_STATIC = {"/ui": ("review.html", "text/html; charset=utf-8"), "/ui/review.js": ("review.js", "text/javascript"),
           "/ui/review.css": ("review.css", "text/css")}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
        "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
_SECURITY_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                     "Cache-Control": "no-store"}


def _service(request: Request) -> ExtractionService:
    return request.app.state.service


def review_queue(request: Request, required: bool = True) -> ReviewQueue | None:
    """The app's queue (made on first use) when EXTRACTOR_REVIEW_DIR is set; else 404 or None."""
    state = request.app.state
    queue = getattr(state, "review_queue", None)
    review_dir = _service(request).settings.review_dir
    if queue is None and review_dir is not None:
        queue = state.review_queue = ReviewQueue(review_dir, _service(request).settings.review_retention_days)
    if queue is None and required:
        raise ApiError(404, "the review queue is off: set EXTRACTOR_REVIEW_DIR to keep answers for review")
    return queue


async def queue_for_review(request: Request, upload: UploadFile, answer: dict[str, Any]) -> None:
    """After POST /extract: keep an answer with ``requires_review`` (and its file) when the queue is on.

    Never fails the request: a full disk costs the review copy, not the answer.
    """
    if not answer.get("requires_review"):
        return
    queue = review_queue(request, required=False)
    if queue is None:
        return
    try:
        await upload.seek(0)
        content = await upload.read()
        await asyncio.to_thread(queue.add, content, answer)
    except OSError as exc:
        log.warning("could not queue a bill for review: %s", exc.strerror or type(exc).__name__)


def _static(name: str, media_type: str) -> Response:
    body = (resources.files("extractor_energy.api") / "static" / name).read_bytes()
    return Response(body, media_type=media_type, headers=_SECURITY_HEADERS)


def _static_route(name: str, media_type: str) -> Any:
    async def page() -> Response:
        return _static(name, media_type)

    return page


for _path, (_name, _type) in _STATIC.items():
    router.add_api_route(_path, _static_route(_name, _type), methods=["GET"])


def review_status(exc: ReviewError) -> int:
    return 404 if isinstance(exc, ReviewNotFound) else 422


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ReviewError as exc:
        raise ApiError(review_status(exc), exc.message) from None


@router.get("/ui/api/queue")
async def list_queue(request: Request) -> dict[str, Any]:
    queue = review_queue(request)
    return {"items": await asyncio.to_thread(queue.items)}


def _serving(service: ExtractionService) -> Any:
    """``serving(key)``: the adapter and version answering ``key`` now (its own, else the fallback), or None."""
    from extractor_energy.adapters.registry import FALLBACK_KEY

    def serving(key: str) -> dict[str, Any] | None:
        for name in (key, FALLBACK_KEY):
            row = service.registry.describe(name)
            if row and row.get("version"):
                return {"adapter": name, "version": row["version"]}
        return None

    return serving


@router.get("/ui/api/keys")
async def list_keys(request: Request) -> dict[str, Any]:
    """Per key: corrected bills, and the serving adapter's score on the ones it answered (when to retrain)."""
    queue = review_queue(request)
    return {"keys": await asyncio.to_thread(key_stats, queue.root, _serving(_service(request)))}


@router.delete("/ui/api/keys/{key}/bills/{item_id}")
async def delete_reviewed(request: Request, key: str, item_id: str) -> dict[str, Any]:
    """Delete a reviewed bill (its corrected row and its file)."""
    queue = review_queue(request)
    await asyncio.to_thread(_call, queue.delete_reviewed, key, item_id)
    return {"deleted": item_id, "key": key}


@router.get("/ui/api/items/{item_id}")
async def get_item(request: Request, item_id: str) -> dict[str, Any]:
    queue = review_queue(request)
    envelope = await asyncio.to_thread(_call, queue.envelope, item_id)
    return {"id": item_id, "fields": list(ALL_FIELDS), "threshold": _service(request).settings.review_threshold,
            "envelope": envelope}


@router.get("/ui/api/items/{item_id}/pages/{page}")
async def get_page(request: Request, item_id: str, page: int) -> Response:
    queue = review_queue(request)
    png = await asyncio.to_thread(_call, queue.page_png, item_id, page)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


@router.post("/ui/api/items/{item_id}")
async def save_item(request: Request, item_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Save the corrected contract as a training row; the bill leaves the queue."""
    queue = review_queue(request)
    raw = body.get("data")
    if not isinstance(raw, dict):
        raise ApiError(422, "send the corrected contract as {\"data\": {field: value, ...}}")
    try:
        data = normalise_annotation(raw)
    except ContractError as exc:
        raise ApiError(422, "cannot save: " + clip("; ".join(str(p) for p in exc.problems), 600)) from None
    if not any(v not in (None, False, [], "") for v in data.model_dump().values()):
        raise ApiError(422, "cannot save a bill with no value at all; discard it instead")
    reviewer = request.scope.get("state", {}).get("api_key")
    saved = await asyncio.to_thread(_call, queue.save, item_id, data, reviewer)
    root = queue.root
    return {"key": saved.key, "annotations": saved.annotations.relative_to(root).as_posix(),
            "image": saved.image.relative_to(root).as_posix(), "data": data.model_dump()}


@router.delete("/ui/api/items/{item_id}")
async def discard_item(request: Request, item_id: str) -> dict[str, Any]:
    queue = review_queue(request)
    await asyncio.to_thread(_call, queue.discard, item_id)
    return {"discarded": item_id}


@router.post("/ui/api/upload")
async def upload(
    request: Request,
    file: UploadFile | None = File(None),
    concessionaria: str | None = Form(None),
    uf: str | None = Form(None),
) -> dict[str, Any]:
    """Extract one bill and put it in the queue whatever its review flag (a person asked to check it)."""
    queue = review_queue(request)
    service = _service(request)
    if file is None or not (concessionaria or "").strip() or not (uf or "").strip():
        raise ApiError(422, "send file, concessionaria and uf")
    limit = service.settings.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, f"the file is larger than the {limit / 1024 / 1024:g} MB limit (EXTRACTOR_MAX_UPLOAD_MB)")
    answer = await service.extract(content, file.filename, file.content_type, concessionaria or "", uf or "",
                                   is_disconnected=request.is_disconnected)
    count_extraction(service, 200, answer["key"])
    item_id = await asyncio.to_thread(queue.add, content, answer)
    if item_id is None:
        raise ApiError(507, "the review queue is full; review or discard bills first")
    return {"id": item_id, "envelope": answer}
