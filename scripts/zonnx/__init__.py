"""zonnx: ONNX models compiled to portable C99 for microcontrollers."""

__version__ = "0.1.0"
