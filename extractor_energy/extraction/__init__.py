"""One extraction start to finish: service, answer parsing, confidence, review queue, prompts."""
