"""The naive baseline peers run: one request at a time, ``set_adapter`` under a lock.

Same model loading, documents, prompts and parsing as the real service; only the serving
strategy differs. Used by ``serving.py``; run it alone with
``python -m benchmarks.naive_server --port 8001`` (settings from EXTRACTOR_* variables).
"""

from __future__ import annotations

import argparse
import asyncio
import threading

from typing import Any

import torch
import uvicorn
from fastapi import FastAPI, File, Form, UploadFile
from peft import PeftModel

from extractor_energy.adapters.validation import validate_adapter_dir
from extractor_energy.config import get_settings
from extractor_energy.documents.decode import load_document
from extractor_energy.domain.keys import make_key
from extractor_energy.engine.model import load_model, model_spec
from extractor_energy.extraction.parsing import parse_answer
from extractor_energy.extraction.prompts import build_messages


def create_naive_app() -> FastAPI:
    settings = get_settings()
    loaded = load_model(settings)
    spec = model_spec(loaded)
    loaded.slots.detach()  # the naive way: stock PEFT wrapping, one global active adapter
    model: Any = loaded.model
    lock = threading.Lock()
    adapters: set[str] = set()
    for folder in sorted(settings.adapters_dir.iterdir()) if settings.adapters_dir.is_dir() else []:
        if folder.is_dir() and not folder.name.startswith("."):
            validate_adapter_dir(folder, folder.name, spec, max_rank=settings.max_adapter_rank, allow_base_mismatch=True)
            if isinstance(model, PeftModel):
                model.load_adapter(str(folder), adapter_name=folder.name)
            else:
                model = PeftModel.from_pretrained(model, str(folder), adapter_name=folder.name)
            adapters.add(folder.name)
    model.eval()
    limits = settings.document_limits(loaded.family)
    app = FastAPI()

    def run(pages, key) -> str:
        with lock:  # the whole request owns the model: set_adapter is global state
            with_adapter = key.key in adapters
            if with_adapter:
                model.set_adapter(key.key)
            processor = loaded.processor
            text = processor.apply_chat_template(build_messages(key, len(pages), with_adapter), add_generation_prompt=True, tokenize=False)
            batch = processor(text=[text], images=pages, return_tensors="pt").to(loaded.device)
            with torch.inference_mode():
                if with_adapter or not isinstance(model, PeftModel):
                    out = model.generate(**batch, max_new_tokens=settings.max_new_tokens, do_sample=False)
                else:
                    with model.disable_adapter():
                        out = model.generate(**batch, max_new_tokens=settings.max_new_tokens, do_sample=False)
            return processor.tokenizer.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    @app.post("/extract")
    async def extract(file: UploadFile = File(...), concessionaria: str = Form(...), uf: str = Form(...)) -> dict:
        key = make_key(concessionaria, uf)
        document = load_document(await file.read(), limits)
        text = await asyncio.to_thread(run, document.pages, key)
        return {"key": key.key, "data": parse_answer(text).data.model_dump()}

    @app.get("/readyz")
    async def readyz() -> dict:
        return {"status": "ready"}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(create_naive_app(), host="127.0.0.1", port=args.port, log_level="warning")
