package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCompare checks the harness-output comparison: identical logits
// pass; a changed logit, a missing line, a missing "done" or a malformed
// line fail, and measurement lines ("# ...") are ignored.
func TestCompare(t *testing.T) {
	want := []int32{1, -2, 3, 4, 5, -6} // 3 images, 2 classes
	for _, c := range []struct {
		name, out string
		ok        bool
	}{
		{"identical", "r 1 -2\nr 3 4\nr 5 -6\ndone\n# stack_bytes 100\n# ticks 5\n", true},
		{"one logit differs", "r 1 -2\nr 3 5\nr 5 -6\ndone\n", false},
		{"sign differs", "r 1 2\nr 3 4\nr 5 -6\ndone\n", false},
		{"image missing", "r 1 -2\nr 3 4\ndone\n", false},
		{"no done", "r 1 -2\nr 3 4\nr 5 -6\n", false},
		{"extra class", "r 1 -2 0\nr 3 4\nr 5 -6\ndone\n", false},
		{"not a number", "r 1 x\nr 3 4\nr 5 -6\ndone\n", false},
		{"canary message", "r 1 -2\ncanary overwritten: model_run wrote past MODEL_ARENA_SIZE\n", false},
	} {
		err := compare(c.out, want, 3, 2)
		if (err == nil) != c.ok {
			t.Errorf("%s: compare = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestSections parses arm-none-eabi-size -A output (numbers of a real
// model object, summed by hand).
func TestSections(t *testing.T) {
	out := `model-dsp.o  :
section             size   addr
.text               2668      0
.data                  0      0
.bss                   0      0
.rodata.L0_w         432      0
.rodata            81050      0
.comment              31      0
.ARM.attributes       50      0
Total              84231
`
	var v variant
	sections(out, &v)
	if v.Text != 2668 || v.Rodata != 81482 || v.Flash != 84150 || v.StaticRAM != 0 {
		t.Errorf("sections: %+v, want text 2668, rodata 81482 (432+81050), flash 84150, static RAM 0", v)
	}
	sections(".bss 12\n.data.x 4\n", &v)
	if v.StaticRAM != 16 {
		t.Errorf("static RAM %d, want 16 (.bss 12 + .data.x 4)", v.StaticRAM)
	}
}

func TestHeaderInt(t *testing.T) {
	h := []byte("#define MODEL_CLASSES 10\n#define MODEL_ARENA_SIZE 33056\n")
	if n, err := headerInt(h, "MODEL_ARENA_SIZE"); err != nil || n != 33056 {
		t.Errorf("headerInt = %d, %v; want 33056", n, err)
	}
	if _, err := headerInt(h, "MODEL_IN_SIZE"); err == nil {
		t.Error("headerInt found a macro the header does not define")
	}
}

// TestPrintTable checks a row and that a result without both emulated
// builds is refused.
func TestPrintTable(t *testing.T) {
	row := `{"label":"r8","precision":"w8a8","images":2,"logits_compared_per_run":20,"accuracy":0.5,"macs":1000,"arena":100,` +
		`"m4":[{"name":"portable","stack_bytes":40,"insn_per_image":4000},{"name":"dsp","flash":30,"text":10,"rodata":20,"stack_bytes":48,"insn_per_image":2000}]}`
	var b bytes.Buffer
	if err := printTable(strings.NewReader(row+"\n"), &b); err != nil {
		t.Fatal(err)
	}
	if want := "| r8 | w8a8 | 1000 | 30 = 10 + 20 | 0 | 100 | 40 / 48 | 148 | 0.00M / 0.00M | 2.00 | 20 (2 images) | 50.0% |"; !strings.Contains(b.String(), want) {
		t.Errorf("table:\n%s\nwant the row\n%s", b.String(), want)
	}
	if err := printTable(strings.NewReader(`{"label":"x","m4":[]}`), &b); err == nil {
		t.Error("a result without the portable and DSP runs was printed")
	}
}
