// The modeled DNN accelerator: its configuration, instruction set, program
// container and executor. This module knows nothing about ONNX or the graph
// IR; the compiler targets it and the executor runs what the compiler emits.
