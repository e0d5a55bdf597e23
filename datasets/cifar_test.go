package datasets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var cifarNames = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"

// cifarRecords is n CIFAR-10 records: label (first+i)%10, pixel j of record i = i+j (mod 256).
func cifarRecords(n, first int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, byte((first+i)%10))
		for j := 0; j < cifarRecord-1; j++ {
			b = append(b, byte(first+i+j))
		}
	}
	return b
}

// writeCIFAR writes a tiny cifar-10-batches-bin under a temporary root:
// two records per training batch, three test records.
func writeCIFAR(t *testing.T, mutate func(files map[string][]byte)) (root string) {
	files := map[string][]byte{cifarTest: cifarRecords(3, 100), cifarMeta: []byte(cifarNames)}
	for i, f := range cifarTrain {
		files[f] = cifarRecords(2, 2*i)
	}
	if mutate != nil {
		mutate(files)
	}
	root = t.TempDir()
	dir := filepath.Join(root, cifarDir)
	os.Mkdir(dir, 0o755)
	for name, data := range files {
		if data != nil {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestOpenCIFAR10(t *testing.T) {
	root := writeCIFAR(t, nil)
	for _, path := range []string{root, filepath.Join(root, cifarDir)} {
		p, err := Open(path, noCache())
		if err != nil {
			t.Fatal(err)
		}
		tr, te := p.Train, p.Test
		if p.Layout != LayoutCIFAR10 || tr.N != 10 || te.N != 3 || tr.C != 3 || tr.H != 32 || tr.W != 32 || tr.Classes != 10 {
			t.Fatalf("%s: layout %q, %d/%d images of %dx%dx%d, %d classes", path, p.Layout, tr.N, te.N, tr.C, tr.H, tr.W, tr.Classes)
		}
		if tr.ClassName(9) != "truck" || te.ClassName(0) != "airplane" {
			t.Fatalf("class names %v", tr.ClassNames)
		}
		// Training record 7 is record 1 of data_batch_4.bin (first = 6): label 7, pixels 7, 8, ….
		if tr.Labels[7] != 7 || !bytes.Equal(tr.Image(7), cifarRecords(1, 7)[1:]) || te.Labels[2] != 2 {
			t.Fatalf("record 7: label %d, pixels %v…", tr.Labels[7], tr.Image(7)[:4])
		}
	}
	// A resize applies to CIFAR too.
	p, err := Open(root, Options{ResizeH: 16, ResizeW: 16})
	if err != nil || p.Train.H != 16 || len(p.Train.Pix) != 10*3*16*16 {
		t.Fatalf("resize: %v", err)
	}
}

func TestOpenCIFAR10Errors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(map[string][]byte)
		want   string
	}{
		{"label 10", func(f map[string][]byte) { f[cifarTest][cifarRecord] = 10 }, "test_batch.bin: label 10 of record 1 is not below the class count 10"},
		{"partial record", func(f map[string][]byte) { f["data_batch_3.bin"] = f["data_batch_3.bin"][:cifarRecord+5] }, "data_batch_3.bin: 3078 bytes: not a whole number"},
		{"empty batch", func(f map[string][]byte) { f[cifarTest] = []byte{} }, "test_batch.bin: empty file (0 bytes): want one or more 3073-byte records"},
		{"missing batch", func(f map[string][]byte) { f["data_batch_5.bin"] = nil }, "data_batch_5.bin"},
		{"missing names", func(f map[string][]byte) { f[cifarMeta] = nil }, "batches.meta.txt"},
		{"one name", func(f map[string][]byte) { f[cifarMeta] = []byte("cat\n\n") }, "batches.meta.txt: 1 class names"},
		{"names missing", func(f map[string][]byte) { f[cifarMeta] = nil }, "datasets: CIFAR-10 class names: stat "},
		{"line too long", func(f map[string][]byte) { f[cifarMeta] = bytes.Repeat([]byte("a"), 70000) }, "batches.meta.txt: bufio.Scanner: token too long"},
		{"tab in a name", func(f map[string][]byte) { f[cifarMeta] = []byte("cat\nhot\tdog\n") }, `batches.meta.txt: class name "hot\tdog" on line 2: control character U+0009`},
		{"name twice", func(f map[string][]byte) { f[cifarMeta] = []byte("cat\ndog\n\n cat \n") }, `batches.meta.txt: class name "cat" on lines 1 and 4`},
	}
	for _, tc := range tests {
		_, err := Open(writeCIFAR(t, tc.mutate), noCache())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
		if tc.name == "missing batch" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v does not wrap fs.ErrNotExist", tc.name, err)
		}
	}
}
