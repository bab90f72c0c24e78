"""Settings from environment variables (prefix ``EXTRACTOR_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from extractor_energy.documents.limits import DocumentLimits


class Settings(BaseSettings):
    """Every knob of the service. Each field is also documented in the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="EXTRACTOR_", env_file=".env", extra="ignore")

    model: str = Field(
        "auto",
        description="auto (Qwen/Qwen2.5-VL-3B-Instruct on CUDA, else the embedded SmolLM2-135M-Instruct text model), "
        "or a Hub id / local directory of a Qwen-VL checkpoint (vlm family) or a causal LM (text family)",
    )
    cache_dir: Path | None = Field(None, description="Where the embedded model is fetched and converted once (default ~/.cache/extractor-energy)")
    adapters_dir: Path = Field(Path("adapters"), description="Folder watched for <concessionaria>_<uf>/ LoRA adapters")
    device: Literal["auto", "cuda", "cpu"] = Field("auto", description="auto = cuda when available")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="auto = bf16 on GPU, fp32 on CPU")
    torch_threads: int = Field(0, ge=0, description="CPU threads for torch; 0 keeps torch's default")

    max_upload_mb: float = Field(20.0, gt=0, description="Largest accepted upload (413 above)")
    max_image_pixels: int = Field(50_000_000, gt=0, description="Largest decoded image (decompression-bomb guard)")
    max_pdf_pages: int = Field(4, ge=1, description="PDFs with more pages are refused (422)")
    pdf_dpi: int = Field(200, ge=72, le=400, description="Resolution PDF pages are rendered at")
    model_max_pixels: int = Field(1280 * 28 * 28, ge=56 * 56, description="Pixel budget per page given to the model")
    model_min_pixels: int = Field(56 * 56, ge=28 * 28, description="Smallest page size given to the model")
    max_new_tokens: int = Field(1024, ge=16, description="Upper bound on generated tokens per bill")

    max_batch_size: int = Field(8, ge=1, description="Requests generated together in one batch")
    max_batch_wait_ms: float = Field(
        50.0, ge=0, description="Longest the worker waits to fill a batch (it closes sooner when requests stop arriving: "
        "EXTRACTOR_BATCH_GAP_MS)"
    )
    batch_gap_ms: float = Field(
        10.0, ge=0, description="A batch being filled closes when no request arrived for this long (a lone request "
        "waits only this)"
    )
    max_queue_size: int = Field(64, ge=1, description="Requests waiting beyond this get 503 + Retry-After")
    request_timeout_s: float = Field(120.0, gt=0, description="A request not answered by then gets 504")
    shutdown_grace_s: float = Field(30.0, ge=0, description="On SIGTERM, time allowed to finish queued requests")

    max_loaded_adapters: int = Field(
        8, ge=1, description="Adapters resident in the model (slots of the LoRA slot table); least recently used unloaded beyond"
    )
    preload_adapters: bool = Field(False, description="Load every valid adapter at start-up instead of on first use")
    max_adapter_rank: int = Field(
        16, ge=1, description="Adapters with a larger LoRA rank are rejected; every slot of the LoRA slot table holds this rank"
    )
    lora_slots_max_mb: float = Field(
        2048.0, gt=0, description="Cap on the LoRA slot table's memory ((slots + 1) × rank × Σ(in + out) of the "
        "projections × bytes per value); start-up fails with the figure when the settings ask for more"
    )
    allow_base_model_mismatch: bool = Field(
        False, description="Serve adapters whose base_model_name_or_path names another model when shapes match"
    )
    watch_adapters: bool = Field(True, description="Watch adapters_dir for changes (else only POST /adapters/reload)")
    watch_force_polling: bool = Field(False, description="Poll instead of inotify (network volumes)")
    adapter_stable_s: float = Field(0.5, ge=0, description="A folder must be unchanged this long before it is loaded")

    ocr_workers: int = Field(2, ge=1, description="Text family: pages read by OCR at the same time (a bounded thread pool beside the model worker)")
    ocr_max_pixels: int = Field(4_000_000, ge=56 * 56, description="Text family: pixel budget per page given to OCR")
    ocr_threads: int = Field(1, ge=1, description="Text family: CPU threads per OCR call (onnxruntime intra-op)")
    text_max_tokens: int = Field(768, ge=64, description="Text family: page text given to the model is cut (at a line end) to this many tokens")
    pdf_text_layer: bool = Field(True, description="Text family: use a PDF page's own text layer instead of OCR when it has one")
    fallback_adapter: str = Field(
        "auto",
        description="Adapter folder that serves keys without an adapter of their own (before the base prompt); "
        "auto = the generic adapter shipped for the embedded model when that model is served; none = off",
    )
    packaged_adapters: bool = Field(
        True, description="Serve the adapters shipped with the package when the embedded model is the base (a folder "
        "of the same key in EXTRACTOR_ADAPTERS_DIR wins)"
    )

    constrained_decoding: bool = Field(True, description="Constrain generation to the contract's JSON schema")
    grounded: bool = Field(True, description="Text family: read every value off the page text (candidates chosen by "
                           "label evidence and cross-checks, each with its source) instead of letting the model write "
                           "the JSON; false restores the generative path")
    grounded_choice: Literal["evidence", "model", "model_all"] = Field(
        "evidence", description="Text family, grounded: who chooses among a field's candidates. evidence = label "
        "evidence and cross-checks only (no generation); model = the key's adapter (or the fallback) picks among the "
        "candidates of ambiguous fields, decoding constrained to them; model_all = the model picks every label-read field "
        "(evidence by default: on the embedded model the model choice gained 1 of 900 bill-fields for ~13 s a bill)"
    )
    review_threshold: float = Field(0.8, ge=0, le=1, description="Confidence under which a required field sets requires_review")
    review_dir: Path | None = Field(
        None, description="Keep answers with requires_review (file + answer) here for the /ui review page; corrections are "
        "saved as <dir>/<key>/annotations.jsonl for training/prepare_dataset.py. Unset = no review queue"
    )
    review_retention_days: float = Field(
        30.0, ge=0, description="Queued bills (personal data: names, addresses, CPF) not reviewed within this many days "
        "are deleted; 0 = kept until reviewed or discarded"
    )
    review_forget_trained: bool = Field(
        False, description="`extractor-energy train --from-review` deletes the files of the reviewed bills it trained on "
        "(their corrected values stay, in <key>/trained.jsonl); the default for its --forget-trained"
    )

    # --- security / reliability
    max_adapter_mb: float = Field(
        1024.0, gt=0, description="Largest adapter weights file read (checked before reading; larger adapters are refused)"
    )

    api_keys: str = Field(
        "", description="API keys as [name:]scope[+scope]:<sha256 hex> entries (scopes extract, admin); empty = anonymous mode"
    )
    api_keys_file: Path | None = Field(None, description="File with more API key entries, one per line (# comments)")
    allow_anonymous: bool = Field(False, description="Without API keys, serve clients beyond loopback too")
    metrics_public: bool = Field(False, description="GET /metrics without a key (else it needs the admin scope)")
    rate_limit_per_min: float = Field(120.0, ge=0, description="Requests per minute per API key (token bucket); 0 = no limit")
    rate_limit_burst: int = Field(30, ge=1, description="Requests a key may send at once before the rate limit applies")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty = CORS off")

    decode_workers: int = Field(2, ge=1, description="Uploads read into memory and decoded at the same time (a bounded pool)")

    def document_limits(self, family: str = "vlm", *, offline: bool = False) -> "DocumentLimits":
        """The decoding limits for uploads (one place): the text family gives pages to OCR, which wants
        more pixels than a VLM's budget; ``offline`` (training, eval) accepts files up to 64 MB."""
        from extractor_energy.documents.limits import DocumentLimits

        return DocumentLimits(
            max_upload_bytes=max(self.max_upload_bytes, 64 * 1024 * 1024) if offline else self.max_upload_bytes,
            max_image_pixels=self.max_image_pixels, max_pdf_pages=self.max_pdf_pages, pdf_dpi=self.pdf_dpi,
            model_max_pixels=self.ocr_max_pixels if family == "text" else self.model_max_pixels,
        )

    @property
    def max_adapter_bytes(self) -> int:
        return int(self.max_adapter_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    return Settings()
