"""The LoRA layer module alone: a wrapped Linear, per-row deltas, and a clean swap in and out of a model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from extractor_energy.lora.layers import BASE_ONLY, BatchSlots, PlanBoard, SlotLinear, replace_submodule
from extractor_energy.lora.slots import SlotTable


def _layer(slots: int = 3, max_rank: int = 4) -> tuple[SlotLinear, PlanBoard, dict[int, tuple[torch.Tensor, torch.Tensor]]]:
    torch.manual_seed(0)
    board = PlanBoard()
    layer = SlotLinear(nn.Linear(6, 5), slots, max_rank, board)
    weights = {}
    for slot, rank in ((1, 2), (2, 4)):
        a, b = torch.randn(rank, 6), torch.randn(5, rank)
        layer.set_slot(slot, a, b)
        weights[slot] = (a, b)
    return layer, board, weights


def _expected(layer: SlotLinear, x: torch.Tensor, slots: list[int], weights) -> torch.Tensor:
    out = layer.base_layer(x)
    rows = []
    for row, slot in enumerate(slots):
        delta = x[row] @ weights[slot][0].T @ weights[slot][1].T if slot else torch.zeros_like(out[row])
        rows.append(out[row] + delta)
    return torch.stack(rows)


@pytest.mark.parametrize("plan, slots", [
    (BatchSlots(single=1, rank=2), [1, 1, 1]),
    (BatchSlots(single=2, rank=4, mask=torch.tensor([1.0, 0.0, 1.0]).view(-1, 1, 1)), [2, 0, 2]),
    (BatchSlots(single=-1, rank=4, index=torch.tensor([1, 0, 2])), [1, 0, 2]),
])
def test_each_row_gets_its_slot_delta_for_sequences_and_single_tokens(plan, slots):
    layer, board, weights = _layer()
    board.batch = plan
    for x in (torch.randn(3, 7, 6), torch.randn(3, 6)):
        assert torch.allclose(layer(x), _expected(layer, x, slots, weights), atol=1e-5)
    board.batch = BASE_ONLY
    x = torch.randn(3, 7, 6)
    assert torch.equal(layer(x), layer.base_layer(x))


def test_clear_slot_zeroes_it_and_a_too_large_rank_is_refused():
    layer, board, _ = _layer()
    layer.clear_slot(2)
    assert float(layer.slot_a[2].abs().sum()) == 0 and float(layer.slot_b[2].abs().sum()) == 0
    assert float(layer.slot_a[1].abs().sum()) > 0
    with pytest.raises(ValueError, match="rank 5"):
        layer.set_slot(1, torch.randn(5, 6), torch.randn(5, 5))


def test_the_layer_is_a_visible_module_and_the_state_dict_keeps_only_base_weights():
    layer, _, _ = _layer()
    assert "in_features=6, out_features=5, slots=3, max_rank=4" in repr(layer) and "(base_layer): Linear" in repr(layer)
    assert set(layer.state_dict()) == {"base_layer.weight", "base_layer.bias"}


def test_the_table_swaps_projections_in_and_detach_puts_the_linears_back():
    model = nn.Sequential()
    model.add_module("language_model", nn.ModuleDict({"q_proj": nn.Linear(4, 4), "other": nn.Linear(4, 4)}))
    original = model.language_model["q_proj"]
    table = SlotTable(model, "language_model", slots=2, max_rank=2)
    assert isinstance(model.language_model["q_proj"], SlotLinear) and model.language_model["q_proj"].base_layer is original
    assert isinstance(model.language_model["other"], nn.Linear)  # not a projection: left alone
    assert "SlotLinear" in repr(model)
    table.detach()
    assert model.language_model["q_proj"] is original and table.layers == {}


def test_replace_submodule_returns_the_old_module():
    model = nn.Sequential(nn.Linear(2, 2))
    new = nn.Identity()
    old = replace_submodule(model, "0", new)
    assert isinstance(old, nn.Linear) and model[0] is new
