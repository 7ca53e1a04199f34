"""From text to candidates: encoders (torch, ONNX), the ANN index, BM25 and names, the
loaded index version and its streamed build, score fusion and multi-need splitting."""
