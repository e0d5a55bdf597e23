package report

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyqat/tinyqat/plots"
)

// TestWriteRoofline checks that a roofline given with latencies becomes a
// chart in the speed section with a paragraph computed from its numbers,
// and that without latencies (no speed section) it is left out.
func TestWriteRoofline(t *testing.T) {
	roof := &plots.Roofline{Title: "roofline", PeakGMACs: 500, PeakName: "int8 peak (avx512vnni)",
		Roofs: []plots.Roof{{Name: "read, 512 KiB (cache)", GBs: 250}, {Name: "read, 128 MiB (mem)", GBs: 25}},
		Series: []plots.RooflineSeries{{Name: "batch 64", Points: []plots.RooflinePoint{
			{Label: "0", Intensity: 4, GMACs: 50},    // memory roof 25·4 = 100: 50%
			{Label: "1", Intensity: 100, GMACs: 300}, // above the ridge (20): peak 500, 60%
			{Label: "2", Intensity: 10, GMACs: 200},  // memory roof 250: 80%
		}}}}
	dir := t.TempDir()
	wr, err := Write(dir, &Results{Arch: "lenet5", Latency: []Latency{{"int8", 64, 2}}, Roofline: roof})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(wr.Charts, filepath.Join(dir, "roofline.png")) || !slices.Contains(wr.Charts, filepath.Join(dir, "roofline.svg")) {
		t.Errorf("charts %v, want roofline.png and .svg", wr.Charts)
	}
	md, err := os.ReadFile(wr.Report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"![Where the int8 runtime's time goes: the roofline](roofline.png)",
		"int8 peak (avx512vnni) measured on this machine, 500 G MAC/s",
		"read, 128 MiB (mem) 25 GB/s (it meets the peak at 20.0 MAC per byte)", // 500 / 25
		"2 of 3 layers sit under the sloped read, 128 MiB (mem) line",          // layers 0 and 2
		"layer 2 comes closest to its roof (80%), layer 0 is furthest from it (50%)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}

	dir = t.TempDir()
	wr, err = Write(dir, &Results{Arch: "lenet5", FloatAcc: 0.99, Roofline: roof})
	if err != nil {
		t.Fatal(err)
	}
	if len(wr.Charts) != 0 {
		t.Errorf("a roofline without a speed section drew %v", wr.Charts)
	}
}
