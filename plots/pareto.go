package plots

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// ParetoPoint is one quantized model of an accuracy-against-size chart.
type ParetoPoint struct {
	Series string  // "uniform", "mixed (loss)", ...
	Label  string  // written beside the point ("W4", "3.35 b")
	Size   float64 // model size (the x axis), e.g. weight kilobytes
	Acc    float64 // accuracy in percent
}

// Pareto draws accuracy against model size: one line per series through
// its points in size order, each point labelled, and the float model as a
// dashed horizontal line (floatAcc ≤ 0: none). xlabel names the size's
// unit.
func Pareto(path, title, xlabel string, floatAcc float64, pts []ParetoPoint) error {
	if len(pts) == 0 {
		return fmt.Errorf("plots: %s: no points", path)
	}
	var names []string
	by := map[string][]ParetoPoint{}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		if !finite(p.Size) || !finite(p.Acc) {
			return fmt.Errorf("plots: %s: point %q of %s has size %v, accuracy %v", path, p.Label, p.Series, p.Size, p.Acc)
		}
		if _, ok := by[p.Series]; !ok {
			names = append(names, p.Series)
		}
		by[p.Series] = append(by[p.Series], p)
		xmin, xmax = math.Min(xmin, p.Size), math.Max(xmax, p.Size)
	}
	pl := plot.New()
	pl.Title.Text, pl.X.Label.Text, pl.Y.Label.Text = title, xlabel, "test accuracy (%)"
	pl.Add(plotter.NewGrid())
	for i, name := range names {
		ps := by[name]
		slices.SortStableFunc(ps, func(a, b ParetoPoint) int {
			switch {
			case a.Size < b.Size:
				return -1
			case a.Size > b.Size:
				return 1
			}
			return 0
		})
		xy := make(plotter.XYs, len(ps))
		labels := plotter.XYLabels{XYs: make(plotter.XYs, len(ps)), Labels: make([]string, len(ps))}
		for j, p := range ps {
			xy[j].X, xy[j].Y = p.Size, p.Acc
			labels.XYs[j], labels.Labels[j] = xy[j], p.Label
		}
		l, sc, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("plots: series %s: %w", name, err)
		}
		style(l, sc, i)
		pl.Add(l, sc)
		pl.Legend.Add(name, l, sc)
		lb, err := plotter.NewLabels(labels)
		if err != nil {
			return fmt.Errorf("plots: series %s labels: %w", name, err)
		}
		for k := range lb.TextStyle {
			lb.TextStyle[k].Font.Size = vg.Points(7)
			lb.TextStyle[k].Color = lineColor(i)
		}
		lb.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(3)}
		pl.Add(lb)
	}
	if floatAcc > 0 {
		fl, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: floatAcc}, {X: xmax, Y: floatAcc}})
		if err != nil {
			return err
		}
		fl.Color = plotutil.Color(0)
		fl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		pl.Add(fl)
		pl.Legend.Add(fmt.Sprintf("float32 (%.2f%%)", floatAcc), fl)
	}
	// Accuracies of quantized models differ by tenths of a point: label
	// the ticks with two decimals (the default %g shows 99 for 99.1).
	pl.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ts := plot.DefaultTicks{}.Ticks(lo, hi)
		for i := range ts {
			if ts[i].Label != "" {
				ts[i].Label = fmt.Sprintf("%.2f", ts[i].Value)
			}
		}
		return ts
	})
	pad := 0.05 * math.Max(xmax-xmin, 1)
	pl.X.Min, pl.X.Max = xmin-pad, xmax+3*pad
	pl.Legend.Top = false
	return save(pl, path)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
