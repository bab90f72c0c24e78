"""Response models: they document every field in the OpenAPI schema at ``/docs``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from extractor_energy.domain.schema import BillData


class Warning_(BaseModel):
    code: str = Field(description="stable machine code, e.g. json_repaired, invalid_value, due_before_reading")
    fields: list[str] = Field(description="contract fields concerned (empty for the whole document)")
    message: str = Field(description="what was found, in words")


class Timings(BaseModel):
    decode: float = Field(description="file decoding and page rendering, ms")
    ocr: float = Field(0.0, description="text family: reading page text (PDF text layer or OCR), ms; 0 for the VLM family")
    queue: float = Field(description="waiting for the inference worker, ms")
    preprocess: float = Field(description="processor (tokenise + image patches) for the batch, ms")
    generate: float = Field(description="generate() for the batch this request ran in, ms")
    total: float = Field(description="whole request inside the server, ms")


class FieldSource(BaseModel):
    """Where one value was read: the page, the box around the printed text, and that text."""

    page: int = Field(ge=1, description="page the value was read on, 1-based (1 for an image)")
    box: list[float] = Field(
        min_length=4, max_length=4,
        description="[x0, y0, x1, y1]: left, top, right, bottom edges of the printed value, in pixels of the page as "
        "the server decoded it (upright, EXIF orientation applied; a PDF page as rendered for the model), origin at "
        "the top-left corner; scale by `page_sizes` to draw it on a page shown at another size",
    )
    text: str = Field(description="the text as printed on the page (e.g. `R$ 396,89`, `04/2025 | 340`), before normalisation")
    derived_from: str | None = Field(
        None, exclude_if=lambda v: v is None, description="set when the value is computed in code from another printed field (`codigo_barras` from "
        "`linha_digitavel`, `alta_tensao` from `subgrupo`): the box and text are that field's")


#: [width, height] of one page in pixels
PageSize = Annotated[list[int], Field(min_length=2, max_length=2)]


class ExtractResponse(BaseModel):
    key: str = Field(description="normalised <concessionaria>_<uf> key, e.g. equatorial_go")
    concessionaria: str = Field(description="normalised utility, upper case")
    uf: str = Field(description="state code")
    adapter: str | None = Field(description="key of the LoRA adapter used (`fallback` for the fallback adapter), or null for the base model with the utility's prompt")
    adapter_version: str | None = Field(description="fingerprint of the adapter version that served this request")
    fallback: bool = Field(False, description="true when the fallback adapter (EXTRACTOR_FALLBACK_ADAPTER) served: the key has no servable adapter of its own")
    model: str = Field(description="base model served (Hub id, or the configured name)")
    model_family: Literal["vlm", "text"] = Field(description="vlm: page images -> vision-language model; text: page text (PDF text layer or OCR) -> causal LM")
    extraction: Literal["grounded", "generative"] = Field(
        "generative", description="grounded: every value was read off the page text (a candidate chosen by label "
        "evidence and cross-checks; nothing is generated, `adapter` is null); generative: the model (with the key's "
        "adapter) wrote the JSON, and `sources` locates its values on the page where the page text holds them")
    pages: int = Field(description="pages given to the model (PDF pages, 1 for images)")
    data: BillData = Field(description="the output contract: every field present, null/false/[] when absent")
    confidence: dict[str, float] = Field(description="per field the model wrote: lowest token probability of its value, 0..1")
    requires_review: bool = Field(description="a required field is missing, has low confidence, or fails a consistency check")
    warnings: list[Warning_] = Field(description="repairs, dropped values and failed consistency checks")
    timings_ms: Timings
    batch_size: int = Field(description="requests generated together with this one")
    tokens_generated: int = Field(description="tokens the model wrote for this bill")
    prompt_tokens: int = Field(0, description="tokens of this bill's prompt (instruction, page text or image patches)")
    sources: dict[str, FieldSource | list[FieldSource | None] | None] = Field(
        default_factory=dict,
        description="provenance: for each non-null field of `data`, where its value was read (page, box, printed "
        "text); null when the value could not be located on the page (never a guessed place). List fields "
        "(`consumo_lista`, `valores_em_aberto`) hold one source per row, in the order of the rows of `data` (an entry "
        "may be null). Fields that are null in `data` do not appear. Boxes are in pixels of the page as "
        "decoded by the server (see `page_sizes`). Empty from a server that does not report sources",
    )
    page_sizes: list[PageSize] = Field(
        default_factory=list,
        description="[width, height] in pixels of each page as the server decoded it (upright; PDF pages as "
        "rendered), in page order: the frame of the `sources` boxes. To draw a box on a page shown W×H pixels, "
        "multiply x by W / width and y by H / height",
    )


class ErrorResponse(BaseModel):
    detail: str = Field(description="what went wrong and what to do about it")


class AdapterInfo(BaseModel):
    key: str = Field(description="<concessionaria>_<uf> folder name")
    state: Literal["ready", "loading", "unloaded", "error"] = Field(
        description="ready: resident in the model; unloaded: valid, loads on next request; loading: files changing or "
        "being checked; error: see error (a previous valid version, if any, keeps serving)"
    )
    path: str | None = Field(None, description="folder name under the adapters directory")
    source: str | None = Field(None, description="adapters_dir (EXTRACTOR_ADAPTERS_DIR), packaged (shipped with the package "
                               "for the embedded model) or fallback (EXTRACTOR_FALLBACK_ADAPTER)")
    error: str | None = Field(None, description="why the latest files were refused")
    version: str | None = Field(None, description="fingerprint of the version serving now")
    rank: int | None = None
    alpha: float | None = None
    target_modules: list[str] | None = None
    size_bytes: int | None = None
    base_model: str | None = Field(None, description="base_model_name_or_path from adapter_config.json")
    loaded: bool | None = Field(None, description="resident in the model now")
    loaded_at: float | None = Field(None, description="unix time it was loaded")
    last_used: float | None = Field(None, description="unix time of the last request")
    request_count: int | None = None
    in_flight: int | None = Field(None, description="requests holding this version now")
    metadata: dict[str, Any] | None = Field(None, description="extractor_metadata.json written by the trainer")
