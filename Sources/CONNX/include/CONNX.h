// The C side of ONNX import: the protoc-c code for proto/onnx-subset.proto.
// Generated files are committed; `make proto` regenerates them.
#include "onnx-subset.pb-c.h"
