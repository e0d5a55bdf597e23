package plots

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Roofline is a roofline chart: layers as points of arithmetic intensity
// (multiply-accumulates per byte moved) against achieved throughput (G
// MAC/s), on log–log axes, under the roofs that limit them: the flat
// compute peak and, for each measured bandwidth B (GB/s), the sloped
// line B·I, drawn as min(peak, B·I).
type Roofline struct {
	Title string
	// PeakGMACs is the compute peak, PeakName its legend ("int8 peak
	// (avx512vnni)").
	PeakGMACs float64
	PeakName  string
	// Roofs are the bandwidth lines.
	Roofs []Roof
	// Series are groups of points (one per batch size, say).
	Series []RooflineSeries
	// XLabel names the byte model ("" for a default).
	XLabel string
}

// Roof is a bandwidth line: Name ("memory, 128 MiB read") and GB/s.
type Roof struct {
	Name string
	GBs  float64
}

// RooflineSeries is a named group of points drawn with one colour and
// shape; each point is labelled with its Label (a layer index, say).
type RooflineSeries struct {
	Name   string
	Points []RooflinePoint
}

// RooflinePoint is one layer: its intensity (MAC/byte) and G MAC/s.
type RooflinePoint struct {
	Label     string
	Intensity float64
	GMACs     float64
}

// positive reports whether v can be drawn on a log axis.
func positive(v float64) bool { return v > 0 && !math.IsInf(v, 1) }

// RooflineChart draws r. Every value must be positive and finite (a log
// axis has no place for zero); a layer without multiply-accumulates
// belongs out of r.
func RooflineChart(path string, r Roofline) error {
	if !positive(r.PeakGMACs) {
		return fmt.Errorf("plots: %s: roofline peak %v G MAC/s, want a positive number", path, r.PeakGMACs)
	}
	lo, hi := math.Inf(1), math.Inf(-1) // intensity range
	ylo := r.PeakGMACs
	n := 0
	for _, s := range r.Series {
		for _, pt := range s.Points {
			if !positive(pt.Intensity) || !positive(pt.GMACs) {
				return fmt.Errorf("plots: %s: series %q, point %q: intensity %v, %v G MAC/s, want positive numbers", path, s.Name, pt.Label, pt.Intensity, pt.GMACs)
			}
			lo, hi, ylo = math.Min(lo, pt.Intensity), math.Max(hi, pt.Intensity), math.Min(ylo, pt.GMACs)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("plots: %s: roofline with no points", path)
	}
	for _, rf := range r.Roofs {
		if !positive(rf.GBs) {
			return fmt.Errorf("plots: %s: roof %q at %v GB/s, want a positive number", path, rf.Name, rf.GBs)
		}
		// Show every ridge point (where the roof meets the peak).
		ridge := r.PeakGMACs / rf.GBs
		lo, hi = math.Min(lo, ridge), math.Max(hi, ridge)
	}
	xmin, xmax := lo/2, hi*2
	p := plot.New()
	p.Title.Text = r.Title
	p.X.Label.Text, p.Y.Label.Text = r.XLabel, "achieved G MAC/s (log)"
	if p.X.Label.Text == "" {
		p.X.Label.Text = "arithmetic intensity (MAC per byte moved, log)"
	}
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.X.Min, p.X.Max = xmin, xmax
	p.Y.Min, p.Y.Max = ylo/8, r.PeakGMACs*2
	p.Add(plotter.NewGrid())

	peak, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: r.PeakGMACs}, {X: xmax, Y: r.PeakGMACs}})
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	peak.Color, peak.Width = color.Black, vg.Points(1.5)
	p.Add(peak)
	p.Legend.Add(fmt.Sprintf("%s: %.0f G MAC/s", r.PeakName, r.PeakGMACs), peak)
	for i, rf := range r.Roofs {
		ridge := r.PeakGMACs / rf.GBs
		pts := plotter.XYs{{X: xmin, Y: rf.GBs * xmin}}
		if ridge < xmax {
			pts = append(pts, plotter.XY{X: ridge, Y: r.PeakGMACs}, plotter.XY{X: xmax, Y: r.PeakGMACs})
		} else {
			pts = append(pts, plotter.XY{X: xmax, Y: rf.GBs * xmax})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plots: roof %q: %w", rf.Name, err)
		}
		l.Color, l.Width = color.Gray{Y: 90}, vg.Points(1.2)
		l.Dashes = [][]vg.Length{{}, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}[min(i, 2)]
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s: %.0f GB/s (ridge %.1f MAC/B)", rf.Name, rf.GBs, ridge), l)
	}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}}
	for i, s := range r.Series {
		if len(s.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(s.Points))
		labels := make([]string, len(s.Points))
		for j, pt := range s.Points {
			xys[j] = plotter.XY{X: pt.Intensity, Y: pt.GMACs}
			labels[j] = pt.Label
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plots: series %q: %w", s.Name, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: lineColor(i), Radius: vg.Points(3), Shape: shapes[i%len(shapes)]}
		p.Add(sc)
		p.Legend.Add(s.Name, sc)
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return fmt.Errorf("plots: series %q: %w", s.Name, err)
		}
		for k := range lb.TextStyle {
			lb.TextStyle[k].Font.Size = vg.Points(6)
			lb.TextStyle[k].Color = lineColor(i)
		}
		lb.Offset.X, lb.Offset.Y = vg.Points(3), vg.Points(2)
		p.Add(lb)
	}
	// Bottom right: layers of high intensity run near the peak, so
	// the corner under it is empty.
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return save(p, path)
}
