// Command clusterchart prints the markdown table and draws the chart of
// scripts/cluster-table.sh's results (JSON lines: kind, bits, test_acc,
// float, bytes).
//
//	go run ./scripts/clusterchart RESULTS.jsonl CHART.png
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/tinyqat/tinyqat/plots"
)

type row struct {
	Kind    string  `json:"kind"`
	Bits    int     `json:"bits"`
	TestAcc float64 `json:"test_acc"`
	Float   float64 `json:"float"`
	Bytes   int64   `json:"bytes"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: clusterchart RESULTS.jsonl CHART.png")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "clusterchart:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	byKind := map[string]map[int]row{}
	float := 0.0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %v", in, err)
		}
		if byKind[r.Kind] == nil {
			byKind[r.Kind] = map[int]row{}
		}
		byKind[r.Kind][r.Bits] = r
		float = r.Float
	}
	if err := sc.Err(); err != nil {
		return err
	}
	kinds := []struct{ key, name string }{
		{"cluster", "clustered"}, {"cluster_ft", "clustered + fine-tuned"}, {"ptq", "uniform PTQ"}, {"qat", "uniform QAT"},
	}
	fmt.Printf("| bits | clustered | clustered + fine-tuned | uniform PTQ | uniform QAT | clustered bytes | uniform bytes |\n|---|---|---|---|---|---|---|\n")
	cell := func(k string, b int) string {
		if r, ok := byKind[k][b]; ok {
			return fmt.Sprintf("%.2f", 100*r.TestAcc)
		}
		return "—"
	}
	size := func(k string, b int) string {
		if r, ok := byKind[k][b]; ok {
			return fmt.Sprint(r.Bytes)
		}
		return "—"
	}
	for b := 1; b <= 8; b++ {
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s |\n", b, cell("cluster", b), cell("cluster_ft", b), cell("ptq", b), cell("qat", b),
			size("cluster", b), size("ptq", b))
	}
	fmt.Printf("\nfloat: %.2f\n", 100*float)
	var series []plots.Series
	for _, k := range kinds {
		s := plots.Series{Name: k.name}
		for b := 1; b <= 8; b++ {
			if r, ok := byKind[k.key][b]; ok {
				s.X = append(s.X, float64(b))
				s.Y = append(s.Y, 100*r.TestAcc)
			}
		}
		series = append(series, s)
	}
	series = append(series, plots.Series{Name: "float", X: []float64{1, 8}, Y: []float64{100 * float, 100 * float}})
	return plots.Curves(out, "lenet300 on MNIST: weight bits vs test accuracy (activations 8 bits)", "weight bits", "test accuracy (%)", series)
}
