package export

// ONNX export. An integer model becomes a standard ONNX graph in QDQ form
// (opset 13): every activation is a uint8 tensor with a scale and zero
// point, every weighted layer is
//
//	DequantizeLinear(x) ─┐
//	DequantizeLinear(W) ─┼─ Gemm / Conv ── QuantizeLinear ── [Clip on uint8]
//	DequantizeLinear(b) ─┘
//
// with int8 weights and per-output-channel scales (axis 0), an int32 bias
// with scale S_in·S_w[c] and zero point 0, exactly the integers of the
// model file. ONNX Runtime fuses each DQ → Gemm/Conv → Q group into one
// integer kernel (QGemm / QLinearConv).
//
// Symmetric int8 activations (mode w8a8) are written as uint8 with zero
// point 128: q ∈ [−127, 127] maps to u = q + 128 with the same scale, which
// is lossless, and u8 activations × s8 weights is ONNX Runtime's fast x86
// path (s8 activations fall back to a slow kernel). The model's clamp
// (ReLU fused into the lower bound, and the restricted range [−127, 127]
// that uint8 cannot express by saturation alone) follows as an integer
// Clip on the uint8 tensor, exact and cheap. MaxPool and Flatten run on the
// uint8 tensor directly (the offset is monotone, so the maximum is the
// same). The int8 logits come from the last uint8 tensor by
// DequantizeLinear → QuantizeLinear, which is exact.
//
// Modern layers: a grouped or depthwise convolution is a Conv with its
// group attribute; a ReLU6 is the upper bound of the same integer Clip
// (Hi = round(6/S) + Z); a residual addition is
//
//	DequantizeLinear(a) ─┐
//	DequantizeLinear(b) ─┴─ Add ── QuantizeLinear ── [Clip on uint8]
//
// (ONNX Runtime fuses it into QLinearAdd; the ReLU after the addition is
// the Clip's lower bound Z_out, which is what Relu before QuantizeLinear
// gives); a global average pool is DequantizeLinear → GlobalAveragePool
// → QuantizeLinear with the input's parameters, and a Flatten before the
// Gemm that reads it. Layers read the values their Inputs name, so a
// residual network is the same DAG as the model file. ONNX Runtime adds
// and averages in float, so a value next to a half step may round the
// other way where the model file rounds exactly.
//
// Per-layer bit-widths (mixed precision, qat.Config.SlotBits) are kept
// exactly but not packed: opset 13 has no types narrower than 8 bits, so a
// 2- to 6-bit weight is an int8 initializer holding values in
// ±(2^(b−1) − 1) (the graph is as large as a W8 graph; the model file packs
// it), and a 4-bit activation a uint8 tensor whose Clip is its integer
// range. (Opset 21's INT4/UINT4 would pack 4-bit tensors only, and ONNX
// Runtime's fused integer kernels do not take them.)
//
// Rounding: QuantizeLinear rounds x/S half to even, once, and ONNX
// Runtime's fused kernels requantize acc·(S_in·S_w/S_out) the same way; the
// graph equals tinyqat's runtime bit for bit only where the runtime rounds
// once with that tie rule (quant/doc.go). scripts/onnx_check.sh measures the
// agreement on MNIST.
//
// Graph inputs and outputs:
//
//	input     float32 [N, C, H, W]   pixels in [0, 1], as infer.Model.Logits
//	                                 takes them
//	logits_q  int8 (w8a8) or uint8 (w8a8-asym) [N, classes]: the model's
//	          integer logits, comparable one for one with infer.Model.Logits
//	logits    float32 [N, classes]: the dequantized logits
//
// A model with an input normalization (infer.Model.Norm) normalizes the
// input first, as the training batches did in float32:
//
//	Sub(input, mean[C,1,1]) → Mul(·, inv[C,1,1]),   inv[c] = float32(1/Std[c])
//
// (a subtraction rounded to float32, then a multiplication by the float32
// reciprocal: Div by the std would round differently), before
// QuantizeLinear. Its class names and normalization are also in the
// model's metadata_props: tinyqat.class_names, tinyqat.input_mean and
// tinyqat.input_std (JSON arrays).
//
// With ONNXOptions.LayerOutputs every layer's stored output is also a graph
// output, "layer<i>", and the quantized input "layer_input" (uint8;
// subtract the metadata value tinyqat.act_offset to get the model's
// integer; the last layer is int8 for w8a8), for diagnosis.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
	"github.com/tinyqat/tinyqat/internal/stfile"
)

const (
	// ONNXOpset is the ai.onnx operator set the exported graphs use (per-
	// channel DequantizeLinear needs 13).
	ONNXOpset = 13
	// onnxIRVersion is the IR version of opset 13 (ONNX 1.8).
	onnxIRVersion = 7
	// onnxActOffset maps a symmetric int8 activation q to its uint8
	// storage q + 128.
	onnxActOffset = 128
)

// ONNXOptions are the export options; the zero value (or nil) writes the
// plain graph.
type ONNXOptions struct {
	// LayerOutputs adds each layer's stored output as a graph output named
	// "layer<i>", so an engine's intermediate results can be compared with
	// the runtime's layer by layer.
	LayerOutputs bool
}

// ONNXError reports a model that cannot be written as ONNX.
type ONNXError struct{ Problem string }

func (e *ONNXError) Error() string { return "export: onnx: " + e.Problem }

// jsonString is v as JSON (of values that always marshal).
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("export: onnx metadata: " + err.Error())
	}
	return string(b)
}

// normalize emits the input normalization of float pixels x, if any:
// Sub(x, mean) then Mul(·, 1/std), per channel ([C,1,1] constants that
// broadcast over [N,C,H,W]), the float32 expression and order of the
// training batches. It returns the normalized value's name (x without a
// normalization).
func (b *onnxBuilder) normalize(x string, n *infer.InputNorm) string {
	if n == nil {
		return x
	}
	c := len(n.Mean)
	inv := make([]float32, c)
	for i, s := range n.Std {
		inv[i] = 1 / s
	}
	b.node("Sub", []string{x, b.f32("input_mean", n.Mean, c, 1, 1)}, "input_centered")
	b.node("Mul", []string{"input_centered", b.f32("input_inv_std", inv, c, 1, 1)}, "input_normalized")
	return "input_normalized"
}

// WriteONNX serializes an ONNX model to path atomically (a temporary file,
// then a rename).
func WriteONNX(path string, mp *onnxpb.ModelProto) error {
	if mp == nil {
		return &ONNXError{"nil model"}
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return fmt.Errorf("export: onnx: %w", err)
	}
	err = stfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		// Named by the file asked for, not by its temporary file.
		var pe *fs.PathError
		var le *os.LinkError
		if errors.As(err, &pe) {
			err = pe.Err
		} else if errors.As(err, &le) {
			err = le.Err
		}
		return fmt.Errorf("export: writing %s: %w", path, err)
	}
	return nil
}
