package main

import (
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/internal/onnxpb"
)

// TestPredictAndONNXExport trains a tiny model on synthetic 16×16 data,
// exports it as a model file and as ONNX (integer and float graphs), and
// classifies PNG files of test images: at the model's own size the image
// pipeline is exact, so predict must give the runtime's class.
func TestPredictAndONNXExport(t *testing.T) {
	p := datasets.Synthetic(300, 20, 16, 16, 4, 40, 3)
	data := writeIDX(t, p)
	runs := t.TempDir()
	fl, ptq := filepath.Join(runs, "float"), filepath.Join(runs, "ptq")
	model := filepath.Join(runs, "m.safetensors")
	for _, args := range [][]string{
		{"train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", fl, "--json"},
		{"ptq", "--from", fl, "--data", data, "--out", ptq, "--json"},
		{"export", "--from", ptq, "--out", model, "--json"},
		{"export", "--from", ptq, "--out", filepath.Join(runs, "int.onnx"), "--format", "onnx", "--json"},
		{"export", "--from", fl, "--out", filepath.Join(runs, "float.onnx"), "--format", "onnx", "--json"},
	} {
		if _, errOut, status := runCLI(t, args...); status != 0 {
			t.Fatalf("%v: status %d, stderr %q", args, status, errOut)
		}
	}
	for name, wantOp := range map[string]string{"int.onnx": "QuantizeLinear", "float.onnx": "Gemm"} {
		b, err := os.ReadFile(filepath.Join(runs, name))
		if err != nil {
			t.Fatal(err)
		}
		var mp onnxpb.ModelProto
		if err := proto.Unmarshal(b, &mp); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		found := false
		for _, n := range mp.Graph.Node {
			found = found || n.GetOpType() == wantOp
		}
		if !found {
			t.Errorf("%s has no %s node", name, wantOp)
		}
	}
	// A W4A8 run's ONNX export names its real bit-widths (the weights are
	// int8 tensors on a 4-bit grid: opset 13 has no 4-bit type).
	q4 := filepath.Join(runs, "ptq4")
	if _, errOut, status := runCLI(t, "ptq", "--from", fl, "--data", data, "--bits-w", "4", "--out", q4, "--json"); status != 0 {
		t.Fatalf("ptq w4: %d %q", status, errOut)
	}
	out, errOut, status := runCLI(t, "export", "--from", q4, "--out", filepath.Join(runs, "w4.onnx"), "--format", "onnx", "--json")
	if status != 0 {
		t.Fatalf("export w4 onnx: %d %q", status, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res struct {
		BitsW     int    `json:"bits_w"`
		BitsA     int    `json:"bits_a"`
		Precision string `json:"precision"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.BitsW != 4 || res.BitsA != 8 || res.Precision != "w4a8" {
		t.Errorf("W4A8 ONNX export reports %+v (%v), want bits 4/8, w4a8", res, err)
	}
	if _, errOut, status := runCLI(t, "export", "--from", ptq, "--out", filepath.Join(runs, "x"), "--format", "tflite"); status == 0 || !strings.Contains(errOut, "--format") {
		t.Errorf("unknown format: status %d, %q", status, errOut)
	}

	m, err := infer.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	x := make([]float32, n*p.Test.Size())
	datasets.ToFloat(x, p.Test.Pix[:n*p.Test.Size()])
	want, err := m.Predict(x, n)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := 0; i < n; i++ {
		g := image.NewGray(image.Rect(0, 0, 16, 16))
		copy(g.Pix, p.Test.Image(i))
		f := filepath.Join(runs, "img"+string(rune('a'+i))+".png")
		w, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(w, g); err != nil {
			t.Fatal(err)
		}
		w.Close()
		files = append(files, f)
	}
	out, errOut, status = runCLI(t, append([]string{"predict", "--model", model, "--invert", "no", "--json"}, files...)...)
	if status != 0 {
		t.Fatalf("predict: status %d, %q", status, errOut)
	}
	preds, ok := lastJSON(t, out)["predictions"].([]any)
	if !ok || len(preds) != n {
		t.Fatalf("predictions: %q", out)
	}
	for i, pr := range preds {
		row := pr.(map[string]any)
		if int(row["class"].(float64)) != want[i] || row["file"] != files[i] {
			t.Errorf("image %d: %v, runtime class %d", i, row, want[i])
		}
		var sum float64
		for _, s := range row["scores"].([]any) {
			sum += s.(float64)
		}
		if sum < 0.999 || sum > 1.001 {
			t.Errorf("image %d: scores sum to %v", i, sum)
		}
	}
	// Text output names the file and the class.
	out, _, status = runCLI(t, "predict", "--model", model, files[0])
	if status != 0 || !strings.Contains(out, files[0]+": class ") {
		t.Errorf("text output %q, status %d", out, status)
	}
	// A corrupt file: one clear line on stderr naming it, non-zero exit.
	bad := filepath.Join(runs, "bad.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, status = runCLI(t, "predict", "--model", model, bad)
	if status == 0 || !strings.Contains(errOut, bad) || !strings.Contains(errOut, "PNG or JPEG") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("corrupt file: status %d, stderr %q", status, errOut)
	}
	// Among good ones: the good ones are still classified, the bad one is
	// named on stderr (and in the JSON, with its error), and the exit
	// status says that one failed.
	out, errOut, status = runCLI(t, "predict", "--model", model, files[0], bad, files[1])
	if status == 0 || !strings.Contains(out, files[0]+": class ") || !strings.Contains(out, files[1]+": class ") ||
		!strings.Contains(errOut, bad) || !strings.Contains(errOut, "1 of 3 images could not be read") {
		t.Errorf("a corrupt file among good ones: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, _, status = runCLI(t, "predict", "--model", model, "--json", files[0], bad)
	rows, _ := lastJSON(t, out)["predictions"].([]any)
	if status == 0 || len(rows) != 2 || rows[0].(map[string]any)["file"] != files[0] || rows[0].(map[string]any)["error"] != nil ||
		rows[1].(map[string]any)["file"] != bad || !strings.Contains(rows[1].(map[string]any)["error"].(string), "PNG or JPEG") {
		t.Errorf("--json with a corrupt file: status %d, %q", status, out)
	}
	if _, errOut, status = runCLI(t, "predict", "--model", model, bad, bad); status == 0 || !strings.Contains(errOut, "2 of 2 images") {
		t.Errorf("only corrupt files: status %d, %q", status, errOut)
	}
	if _, _, status = runCLI(t, "predict", "--model", model); status == 0 {
		t.Error("predict without images succeeded")
	}
	// An animated GIF named .png was decoded (image/gif is linked into
	// tinyqat): refused by its content, naming what it is.
	pal := image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{color.Black, color.White})
	anim := filepath.Join(runs, "anim.png")
	w, err := os.Create(anim)
	if err != nil {
		t.Fatal(err)
	}
	if err := gif.EncodeAll(w, &gif.GIF{Image: []*image.Paletted{pal, pal}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, errOut, status = runCLI(t, "predict", "--model", model, anim); status == 0 || !strings.Contains(errOut, "the file is a GIF image") || !strings.Contains(errOut, anim) {
		t.Errorf("GIF named .png: status %d, %q", status, errOut)
	}
	// MNIST preparation is for 1x28x28 models only.
	if _, errOut, status = runCLI(t, "predict", "--model", model, "--prep", "mnist", files[0]); status == 0 || !strings.Contains(errOut, "takes 1x16x16") {
		t.Errorf("--prep mnist on a 16x16 model: status %d, %q", status, errOut)
	}
}

// TestPredictPreparesDigits: for a model of MNIST's shape predict prepares
// a digit as MNIST's were, by default, and says so; --prep none resizes the
// whole image, and a blank image is refused under MNIST preparation. A
// 28×28 model of other IDX data (not digits: Fashion-MNIST, say) is not
// given the digit preparation unless asked.
func TestPredictPreparesDigits(t *testing.T) {
	data := writeIDX(t, datasets.Synthetic(60, 20, 28, 28, 3, 40, 1))
	runs := t.TempDir()
	fl, ptq, model := filepath.Join(runs, "float"), filepath.Join(runs, "ptq"), filepath.Join(runs, "m.safetensors")
	other := filepath.Join(runs, "other.safetensors")
	for _, args := range [][]string{
		// MNIST (its first 60 and 20 images; the fingerprint is the whole set's).
		{"train", "--model", "lenet300", "--epochs", "1", "--train-limit", "60", "--test-limit", "20", "--out", fl},
		{"ptq", "--from", fl, "--calib-batches", "1", "--out", ptq},
		{"export", "--from", ptq, "--out", model},
		{"train", "--model", "lenet300", "--epochs", "1", "--data", data, "--out", fl + "-other"},
		{"export", "--from", fl + "-other", "--out", other},
	} {
		if _, errOut, status := runCLI(t, args...); status != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
	}
	// A dark bar on white paper, 60x300 in a 400x400 frame.
	g := image.NewGray(image.Rect(0, 0, 400, 400))
	for i := range g.Pix {
		if x, y := i%400, i/400; x >= 30 && x < 90 && y >= 80 && y < 380 {
			continue
		}
		g.Pix[i] = 255
	}
	blank := image.NewGray(image.Rect(0, 0, 40, 40))
	files := map[string]*image.Gray{"bar.png": g, "blank.png": blank}
	for name, img := range files {
		w, err := os.Create(filepath.Join(runs, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(w, img); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	bar, blankFile := filepath.Join(runs, "bar.png"), filepath.Join(runs, "blank.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "(inverted; MNIST-style: ink box 60x300 px scaled to 4x20, centred by mass in 28x28)"},
		{[]string{"--prep", "mnist"}, "MNIST-style"},
		{[]string{"--prep", "none"}, "(inverted; padded to a square and resized to 28x28 (HxW)"},
	} {
		out, errOut, status := runCLI(t, append(append([]string{"predict", "--model", model}, c.args...), bar)...)
		if status != 0 || !strings.Contains(out, c.want) {
			t.Errorf("%v: status %d, stdout %q, stderr %q, want %q", c.args, status, out, errOut, c.want)
		}
	}
	if out, errOut, status := runCLI(t, "predict", "--model", other, bar); status != 0 || !strings.Contains(out, "(inverted; padded to a square and resized to 28x28 (HxW)") {
		t.Errorf("a model of other 28x28 data: status %d, stdout %q, stderr %q; want no digit preparation", status, out, errOut)
	}
	if out, errOut, status := runCLI(t, "predict", "--model", other, "--prep", "mnist", bar); status != 0 || !strings.Contains(out, "MNIST-style") {
		t.Errorf("a model of other 28x28 data, --prep mnist: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	out, _, status := runCLI(t, "predict", "--model", model, "--json", bar)
	if row := lastJSON(t, out)["predictions"].([]any)[0].(map[string]any); status != 0 || row["prep"] != "mnist" || row["inverted"] != true {
		t.Errorf("JSON row %v", row)
	}
	if _, errOut, status := runCLI(t, "predict", "--model", model, blankFile); status == 0 || !strings.Contains(errOut, "no ink") || !strings.Contains(errOut, "--prep none") {
		t.Errorf("blank image: status %d, %q", status, errOut)
	}
	if _, errOut, status := runCLI(t, "predict", "--model", model, "--prep", "zoom", bar); status == 0 || !strings.Contains(errOut, `predict: --prep "zoom": want auto, data, mnist or none`) {
		t.Errorf("--prep zoom: status %d, %q", status, errOut)
	}
	if _, errOut, status := runCLI(t, "predict", "--model", model, "--invert", "maybe", bar); status == 0 || !strings.Contains(errOut, `predict: --invert "maybe": want auto, yes or no`) {
		t.Errorf("--invert maybe: status %d, %q", status, errOut)
	}
}
