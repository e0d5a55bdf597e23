package plots

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestParetoRenders(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("TINYQAT_CHART_DIR"); d != "" {
		dir = d
	}
	pts := []ParetoPoint{
		{"uniform", "W8", 420, 99.2}, {"uniform", "W4", 210, 99.1}, {"uniform", "W2", 105, 98.0},
		{"mixed (loss)", "3.4 b", 176, 99.2}, {"mixed (hawq)", "2.6 b", 140, 99.0},
	}
	for _, name := range []string{"pareto.png", "pareto.svg"} {
		path := filepath.Join(dir, name)
		if err := Pareto(path, "lenet5", "weight KB", 99.22, pts); err != nil {
			t.Fatal(err)
		}
		if !Drawn(path) {
			t.Errorf("%s not drawn", path)
		}
	}
	for i, bad := range [][]ParetoPoint{nil, {{"u", "x", math.NaN(), 1}}, {{"u", "x", 1, math.Inf(1)}}} {
		if err := Pareto(filepath.Join(dir, "bad.png"), "", "", 0, bad); err == nil {
			t.Errorf("case %d: drew %v", i, bad)
		}
	}
	if err := Pareto(filepath.Join(dir, "bad.gif"), "", "", 0, pts); err == nil {
		t.Error("drew a .gif")
	}
}
