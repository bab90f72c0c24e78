"""LoRA at serving time: the slot table that holds loaded adapters and applies them per row."""
