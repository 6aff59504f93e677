"""Quantization stages: float artifacts to verified int8 ones."""
