// Package plots draws tinyqat's charts (PNG or SVG, chosen by the file
// name's extension) with gonum.org/v1/plot. It only draws: the numbers come
// from the caller (metrics logs, evaluation results). Files are written
// atomically.
package plots

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is a named line of (x, y) points.
type Series struct {
	Name string
	X, Y []float64
}

// Group is a named set of bars, one value per category.
type Group struct {
	Name   string
	Values []float64
}

// Size is the default chart size.
var Size = struct{ W, H vg.Length }{16 * vg.Centimeter, 10 * vg.Centimeter}

// Curves draws each series as a line with points.
func Curves(path, title, xlabel, ylabel string, series []Series) error {
	p, err := curves(title, xlabel, ylabel, series)
	if err != nil {
		return err
	}
	// Bottom right: curves of accuracy rise and of loss fall away from it.
	p.Legend.Top = false
	return save(p, path)
}

func curves(title, xlabel, ylabel string, series []Series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	p.Add(plotter.NewGrid())
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plots: series %s has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.X))
		for j := range s.X {
			pts[j].X, pts[j].Y = s.X[j], s.Y[j]
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("plots: series %s: %w", s.Name, err)
		}
		l.Color, sc.Color = plotutil.Color(i), plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		p.Legend.Add(s.Name, l, sc)
	}
	return p, nil
}

// Bars draws grouped bars: one cluster per category, one bar per group.
// Values are labelled above their bars with the given format ("%.2f").
func Bars(path, title, ylabel string, categories []string, groups []Group, format string) error {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = title, ylabel
	p.Add(plotter.NewGrid())
	w := vg.Points(60 / float64(max(1, len(groups))))
	for i, g := range groups {
		if len(g.Values) != len(categories) {
			return fmt.Errorf("plots: group %s has %d values for %d categories", g.Name, len(g.Values), len(categories))
		}
		b, err := plotter.NewBarChart(plotter.Values(g.Values), w)
		if err != nil {
			return fmt.Errorf("plots: group %s: %w", g.Name, err)
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(len(groups)-1)/2)
		p.Add(b)
		p.Legend.Add(g.Name, b)
		if format != "" {
			labels := make([]string, len(g.Values))
			xys := make(plotter.XYs, len(g.Values))
			for j, v := range g.Values {
				labels[j] = fmt.Sprintf(format, v)
				xys[j].X, xys[j].Y = float64(j), v
			}
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			if err != nil {
				return err
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].Font.Size = vg.Points(7)
				lb.TextStyle[k].Color = color.Black
				lb.TextStyle[k].XAlign = -0.5
			}
			lb.Offset.X = b.Offset
			lb.Offset.Y = vg.Points(2)
			p.Add(lb)
		}
	}
	p.NominalX(categories...)
	// Zoom on the values (accuracies near each other would otherwise look
	// equal) and leave headroom for the legend.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, g := range groups {
		for _, v := range g.Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo < hi {
		span := hi - lo
		p.Y.Min = math.Max(0, lo-0.1*span)
		p.Y.Max = hi + 0.45*span
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return save(p, path)
}

func save(p *plot.Plot, path string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "png" && format != "svg" {
		return fmt.Errorf("plots: %s: the file name must end in .png or .svg", path)
	}
	wt, err := p.WriterTo(Size.W, Size.H, format)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return writeMarked(path, wt)
}
