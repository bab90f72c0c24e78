"""Prompts: one base prompt plus per-utility notes (used without an adapter), and the short
prompt that adapters are trained and served with.

Normalisation rules live in code (``normalize.py``), never here: prompts only say where fields sit.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

from extractor_energy.domain.keys import BillKey

#: The instruction an adapter is trained with and served with (short: the adapter knows the layout).
ADAPTER_PROMPT = "Extraia os dados da fatura de energia em JSON."


@lru_cache
def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8").strip()


def base_prompt() -> str:
    return _read("base.md")


def utility_notes(concessionaria: str) -> str:
    """Notes for a utility slug; utilities sharing a layout family use the family's notes."""
    family = concessionaria.split("_")[0]
    for name in (concessionaria, family):
        if resources.files(__package__).joinpath(f"notes/{name}.md").is_file():
            return _read(f"notes/{name}.md")
    return _read("notes/generic.md")


def instruction(key: BillKey, with_adapter: bool) -> str:
    """The text part of the user turn for this key."""
    if with_adapter:
        return ADAPTER_PROMPT
    return f"{base_prompt()}\n\nDistribuidora: {key.concessionaria.upper()} ({key.uf}).\n{utility_notes(key.concessionaria)}"


def build_messages(key: BillKey, pages: int, with_adapter: bool, document_text: str | None = None) -> list[dict[str, Any]]:
    """Chat messages for one bill.

    VLM family (``document_text`` None): every page as an image, then the instruction.
    Text family: the instruction, then the bill's page text, as one plain-text user turn (the
    form every causal LM's chat template accepts).
    """
    if document_text is not None:
        return [{"role": "user", "content": f"{instruction(key, with_adapter)}\n\nTexto da fatura:\n{document_text}"}]
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(pages)]
    content.append({"type": "text", "text": instruction(key, with_adapter)})
    return [{"role": "user", "content": content}]


def all_prompt_texts() -> list[str]:
    """Every prompt text shipped (the tiny model's tokenizer learns from them)."""
    names = [p.name for p in resources.files(__package__).joinpath("notes").iterdir() if p.name.endswith(".md")]
    return [ADAPTER_PROMPT, base_prompt(), *(_read(f"notes/{n}") for n in sorted(names))]
