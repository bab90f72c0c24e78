"""POST /extract (and /extract/energy, the path of the service this one replaces)."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile

from extractor_energy.domain.keys import SLUG_MAX, UFS
from extractor_energy.errors import DocumentError, DocumentProblem
from extractor_energy.extraction.service import ExtractionService
from extractor_energy.api.errors import ApiError, count_extraction
from extractor_energy.api.routes_review import queue_for_review
from extractor_energy.api.schemas import ErrorResponse, ExtractResponse

router = APIRouter(tags=["extraction"])
_CHUNK = 1024 * 1024

#: 401 and 429 are added by api.auth.document_security only when API keys are configured
ERRORS = {
    400: {"model": ErrorResponse, "description": "the body is not valid multipart/form-data"},
    403: {"model": ErrorResponse, "description": "the API key lacks the extract scope, or anonymous access from another machine"},
    413: {"model": ErrorResponse, "description": "file or decoded image over the configured limit"},
    415: {"model": ErrorResponse, "description": "not JPEG, PNG, WebP, HEIC/HEIF or PDF"},
    422: {"model": ErrorResponse, "description": "missing/invalid field, unreadable file, too many PDF pages, unknown UF"},
    503: {"model": ErrorResponse, "description": "server full or shutting down; see Retry-After"},
    504: {"model": ErrorResponse, "description": "no answer within EXTRACTOR_REQUEST_TIMEOUT_S"},
}


_PLAIN = r"[^/\\\x00.]|\.[^/\\\x00.]"  # a character, a dot only before another character: never '..'
#: What domain.keys accepts as a utility, said in the schema and checked by the route, so the two agree:
#: an ASCII letter or digit somewhere, and no '/', '\\', '..' or NUL.
CONCESSIONARIA_PATTERN = rf"^(?:{_PLAIN})*\.?[A-Za-z0-9](?:{_PLAIN})*\.?$"

#: the media types the file part may have (the decoder also sniffs the bytes, so a wrong label is forgiven)
FILE_MEDIA_TYPES = "image/jpeg, image/png, image/webp, image/heic, image/heif, application/pdf"
UPLOAD_ENCODING = {"requestBody": {"content": {"multipart/form-data": {"encoding": {"file": {"contentType": FILE_MEDIA_TYPES}}}}}}


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise DocumentError(
                DocumentProblem.TOO_LARGE, f"the file is larger than the {limit / 1024 / 1024:g} MB limit (EXTRACTOR_MAX_UPLOAD_MB)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def extract(
    request: Request,
    file: UploadFile = File(description="the bill: JPEG, PNG, WebP, HEIC/HEIF or PDF"),
    concessionaria: str = Form(
        min_length=1, max_length=SLUG_MAX, pattern=CONCESSIONARIA_PATTERN,
        description="utility as people write it: EQUATORIAL, cemig-d, Enel RJ…; at least one letter or digit, "
        "no '/', '\\', '..' or NUL",
    ),
    uf: str = Form(
        min_length=1, max_length=32, json_schema_extra={"enum": list(UFS)},
        description="state code, one of the 27 (GO, SP, MG…); lower case and surrounding spaces are accepted too",
    ),
) -> dict:
    """Extract the output contract from one bill (all pages of a PDF go to the model together)."""
    service: ExtractionService = request.app.state.service
    if not concessionaria.strip():
        raise ApiError(422, "missing form field 'concessionaria', e.g. -F concessionaria=EQUATORIAL")
    if not uf.strip():
        raise ApiError(422, "missing form field 'uf', e.g. -F uf=GO")
    payload = _Upload(file, service.settings.max_upload_bytes)  # read only inside a decode slot
    answer = await service.extract(
        payload, file.filename, file.content_type, concessionaria, uf, is_disconnected=request.is_disconnected
    )
    count_extraction(service, 200, answer["key"])
    await queue_for_review(request, file, answer)  # EXTRACTOR_REVIEW_DIR: keep requires_review answers for /ui
    return answer


class _Upload:
    """The uploaded file, read into memory (within the size limit) only when the decode pool asks."""

    def __init__(self, upload: UploadFile, limit: int) -> None:
        self.upload, self.limit = upload, limit

    async def read_all(self) -> bytes:
        return await _read_limited(self.upload, self.limit)


for path, hidden in (("/extract", False), ("/extract/energy", True)):
    router.add_api_route(
        path, extract, methods=["POST"], response_model=ExtractResponse, responses=ERRORS, include_in_schema=not hidden,
        summary="Extract a bill" if not hidden else "Extract a bill (alias kept for the previous service)",
        openapi_extra=UPLOAD_ENCODING,
    )
