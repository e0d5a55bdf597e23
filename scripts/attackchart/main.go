// Command attackchart draws the chart of an attack result written by
// `tinyqat attack --out` (scripts/attack-table.sh): accuracy against ε,
// white-box and transfer panels, one line per model.
//
//	go run ./scripts/attackchart RESULT.json CHART.png
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/tinyqat/tinyqat/attack"
	"github.com/tinyqat/tinyqat/plots"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: attackchart RESULT.json CHART.png")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "attackchart:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var r attack.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(r.Eps) == 0 || len(r.Curves) == 0 {
		return fmt.Errorf("%s: no eps or no curves", in)
	}
	var wb, tr []plots.Series
	for _, c := range r.Curves {
		if len(c.Acc) != len(r.Eps) {
			return fmt.Errorf("%s: curve %s/%s has %d points for %d eps", in, c.Model, c.Threat, len(c.Acc), len(r.Eps))
		}
		y := make([]float64, len(c.Acc))
		for i, v := range c.Acc {
			y[i] = 100 * v
		}
		s := plots.Series{Name: c.Model, X: r.Eps, Y: y}
		switch c.Threat {
		case attack.WhiteBox:
			wb = append(wb, s)
		case attack.Transfer:
			tr = append(tr, s)
		}
	}
	title := strings.ToUpper(string(r.Config.Method))
	if r.Config.Method == attack.PGD {
		title = fmt.Sprintf("PGD-%d", r.Config.Steps)
	}
	return plots.AccuracyVsEps(out, title, wb, tr)
}
