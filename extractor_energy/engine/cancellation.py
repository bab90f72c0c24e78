"""Stop generating for batch rows nobody waits for any more (timed out, client gone).

A :class:`StopRows` logits processor runs at every generation step: for each row whose
``should_stop()`` turns true it allows only the end-of-sequence token, so that row ends at the
next step and is padded from then on; when every row of a batch has ended, ``generate``
returns. The other rows of the batch are untouched.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from transformers import LogitsProcessor


class StopRows(LogitsProcessor):
    def __init__(self, should_stop: Sequence[Callable[[], bool]], eos_id: int) -> None:
        self.should_stop = list(should_stop)
        self.eos_id = eos_id
        self.stopped: set[int] = set()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, stop in enumerate(self.should_stop):
            if row not in self.stopped and stop():
                self.stopped.add(row)
        if not self.stopped:
            return scores
        rows = sorted(self.stopped)
        scores = scores.clone()
        scores[rows] = float("-inf")
        scores[rows, self.eos_id] = 0.0
        return scores
