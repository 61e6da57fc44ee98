"""The synthetic bank: a realistic, deterministic retail bank with hidden ground truth."""

from opsloop.synth.generate import GenerateResult, generate_bank

__all__ = ["GenerateResult", "generate_bank"]
