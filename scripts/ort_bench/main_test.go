package main

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/export"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
)

// TestIdentityONNX writes the Identity graph and reads it back: one
// Identity node from "input" to "output", both float32 [N, c, h, w].
func TestIdentityONNX(t *testing.T) {
	for _, s := range []struct{ c, h, w int }{{1, 28, 28}, {3, 8, 5}} {
		path := filepath.Join(t.TempDir(), "identity.onnx")
		if err := export.WriteONNX(path, identityONNX(s.c, s.h, s.w)); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var mp onnxpb.ModelProto
		if err := proto.Unmarshal(data, &mp); err != nil {
			t.Fatal(err)
		}
		g := mp.GetGraph()
		if len(g.GetNode()) != 1 || g.GetNode()[0].GetOpType() != "Identity" ||
			g.GetNode()[0].GetInput()[0] != "input" || g.GetNode()[0].GetOutput()[0] != "output" {
			t.Fatalf("%v: nodes %v, want one Identity from input to output", s, g.GetNode())
		}
		if len(mp.GetOpsetImport()) != 1 || mp.GetOpsetImport()[0].GetVersion() != export.ONNXOpset {
			t.Errorf("%v: opset %v, want %d", s, mp.GetOpsetImport(), export.ONNXOpset)
		}
		for _, v := range append(g.GetInput(), g.GetOutput()...) {
			tt := v.GetType().GetTensorType()
			if tt.GetElemType() != int32(onnxpb.TensorProto_FLOAT) {
				t.Errorf("%v: %s has element type %d, want float32", s, v.GetName(), tt.GetElemType())
			}
			d := tt.GetShape().GetDim()
			if len(d) != 4 || d[0].GetDimParam() != "N" || d[1].GetDimValue() != int64(s.c) ||
				d[2].GetDimValue() != int64(s.h) || d[3].GetDimValue() != int64(s.w) {
				t.Errorf("%v: %s has shape %v, want [N %d %d %d]", s, v.GetName(), d, s.c, s.h, s.w)
			}
		}
		if len(g.GetInput()) != 1 || len(g.GetOutput()) != 1 {
			t.Errorf("%v: %d inputs and %d outputs, want 1 and 1", s, len(g.GetInput()), len(g.GetOutput()))
		}
	}
}
