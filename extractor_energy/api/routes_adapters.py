"""GET /adapters, GET /adapters/{key}, POST /adapters/reload."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from extractor_energy.api.errors import ApiError
from extractor_energy.api.public_text import clip, public_detail
from extractor_energy.api.schemas import AdapterInfo, ErrorResponse

router = APIRouter(prefix="/adapters", tags=["adapters"])


@router.get("", response_model=list[AdapterInfo], summary="Every adapter folder and its state")
async def list_adapters(request: Request) -> JSONResponse:
    return _rows(request.app.state.registry.describe_all())


#: every field of AdapterInfo, in its order: rows the registry built are sent as they are
_EMPTY_ROW: dict[str, None] = dict.fromkeys(AdapterInfo.model_fields)


def _rows(rows: list[dict]) -> JSONResponse:
    """The registry's own rows, serialised without a pass through the response model (same JSON:
    every field, in order); with 1,000 adapters that pass cost more than everything else."""
    return JSONResponse([{**_EMPTY_ROW, **row} for row in _public(rows)])


def _public(rows: list[dict]) -> list[dict]:
    """Adapter errors quote library messages: strip paths, reprs and internal names from them."""
    for row in rows:
        if row.get("error"):
            row["error"] = public_detail(row["error"])
    return rows


@router.post("/reload", response_model=list[AdapterInfo], summary="Rescan the adapters folder now")
async def reload_adapters(request: Request) -> JSONResponse:
    """Forces a rescan (the watcher does this by itself within about a second of a change)."""
    registry = request.app.state.registry
    await asyncio.to_thread(registry.settle, max(2.0, registry.stable_s * 4))
    return _rows(registry.describe_all())


@router.get("/{key}", response_model=AdapterInfo, responses={404: {"model": ErrorResponse}}, summary="One adapter")
async def get_adapter(key: str, request: Request) -> dict:
    row = request.app.state.registry.describe(key)
    if row is None:
        raise ApiError(404, f"no adapter folder {clip(key)} under the adapters directory; GET /adapters lists them")
    return _public([row])[0]
