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
	"gonum.org/v1/plot/vg/draw"
)

// palette has 12 colours told apart easily (Tableau 10 and two more), so
// that up to 12 lines get distinct colours; plotutil's palettes have 7.
var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	color.RGBA{227, 119, 194, 255}, color.RGBA{127, 127, 127, 255}, color.RGBA{188, 189, 34, 255},
	color.RGBA{23, 190, 207, 255}, color.RGBA{0, 0, 0, 255}, color.RGBA{255, 187, 120, 255},
}

func lineColor(i int) color.Color { return palette[i%len(palette)] }

// WideSize is the size of two-panel charts (AccuracyVsEps).
var WideSize = struct{ W, H vg.Length }{26 * vg.Centimeter, 10 * vg.Centimeter}

// LegendRightSize is the size of charts with the legend beside the plot
// (CurvesLegendRight, AccuracyByBits): Size widened by the legend's column.
var LegendRightSize = struct{ W, H vg.Length }{Size.W * 5 / 4, Size.H}

// BarChart is a grouped bar chart: one cluster per category, one bar per
// group, the y axis from zero. A single group without a name has no legend.
type BarChart struct {
	Title, XLabel, YLabel string
	Categories            []string
	Groups                []Group
	// Format labels each bar with its value ("%.1f"); "" for none.
	Format string
}

// GroupedBars draws c.
func GroupedBars(path string, c BarChart) error {
	if len(c.Categories) == 0 || len(c.Groups) == 0 {
		return fmt.Errorf("plots: %s: no bars", path)
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	p.Add(plotter.NewGrid())
	hi := 0.0
	lo := math.Inf(1)
	for _, g := range c.Groups {
		if len(g.Values) != len(c.Categories) {
			return fmt.Errorf("plots: group %s has %d values for %d categories", g.Name, len(g.Values), len(c.Categories))
		}
		for _, v := range g.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("plots: group %s has a non-finite value %v", g.Name, v)
			}
			hi, lo = math.Max(hi, v), math.Min(lo, v)
		}
	}
	// Headroom for the legend, one line per group, above the tallest bar.
	p.Y.Min, p.Y.Max = math.Min(0, lo*1.1), hi*(1.15+0.08*float64(len(c.Groups)))
	w := vg.Points(math.Min(40, 300/float64(len(c.Categories)*len(c.Groups))))
	for i, g := range c.Groups {
		b, err := plotter.NewBarChart(plotter.Values(g.Values), w)
		if err != nil {
			return fmt.Errorf("plots: group %s: %w", g.Name, err)
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(len(c.Groups)-1)/2)
		p.Add(b)
		if len(c.Groups) > 1 || g.Name != "" {
			p.Legend.Add(g.Name, b)
		}
		if c.Format != "" {
			labels := make([]string, len(g.Values))
			xys := make(plotter.XYs, len(g.Values))
			for j, v := range g.Values {
				labels[j] = fmt.Sprintf(c.Format, v)
				xys[j].X, xys[j].Y = float64(j), v
			}
			lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			if err != nil {
				return err
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].Font.Size = vg.Points(7)
				lb.TextStyle[k].Color = color.Black
				lb.TextStyle[k].XAlign = draw.XCenter
			}
			lb.Offset.X = b.Offset
			lb.Offset.Y = vg.Points(2)
			p.Add(lb)
		}
	}
	p.NominalX(c.Categories...)
	p.Legend.Top = true
	return save(p, path)
}

// Grid is a set of quantization levels drawn over a weight histogram.
type Grid struct {
	Name   string
	Levels []float64
}

// WeightHist is a layer's weight histogram with what quantization does to it.
type WeightHist struct {
	Title  string
	Values []float64
	// Bins is the number of histogram bins; 0 means 80.
	Bins int
	// Grids are drawn as rows of ticks above the histogram, finest first.
	Grids []Grid
	// Clip is the clipping range [lo, hi], drawn as two vertical lines
	// (both zero: none).
	Clip [2]float64
	// Centroids are k-means cluster centres (nil: none), drawn as triangles.
	Centroids []float64
	// CentroidsName names them in the legend ("": "k-means centroids");
	// the count is appended.
	CentroidsName string
}

// vbar draws a glyph as a vertical tick of height 2·radius.
type vbar struct{}

func (vbar) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetColor(sty.Color)
	c.SetLineWidth(vg.Points(0.6))
	var path vg.Path
	path.Move(vg.Point{X: pt.X, Y: pt.Y - sty.Radius})
	path.Line(vg.Point{X: pt.X, Y: pt.Y + sty.Radius})
	c.Stroke(path)
}

// WeightHistogram draws h: the histogram of the weights (count per bin),
// the quantization levels of each grid as a row of ticks above it, the
// clipping range and the k-means centroids.
func WeightHistogram(path string, h WeightHist) error {
	if len(h.Values) == 0 {
		return fmt.Errorf("plots: %s: no weights", path)
	}
	for i, v := range h.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("plots: weight %d is %v", i, v)
		}
	}
	bins := h.Bins
	if bins == 0 {
		bins = 80
	}
	p := plot.New()
	p.Title.Text = h.Title
	p.X.Label.Text = "weight value (real units)"
	p.Y.Label.Text = "weights per bin (count)"
	hist, err := plotter.NewHist(plotter.Values(h.Values), bins)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	hist.FillColor = color.Gray{Y: 170}
	hist.LineStyle.Width = 0
	p.Add(hist)
	p.Legend.Add(fmt.Sprintf("float weights (%d)", len(h.Values)), hist)
	top := 0.0
	for _, b := range hist.Bins {
		top = math.Max(top, b.Weight)
	}
	row := func(i int) float64 { return top * (1.07 + 0.09*float64(i)) }
	for i, g := range h.Grids {
		xys := make(plotter.XYs, len(g.Levels))
		for j, v := range g.Levels {
			xys[j].X, xys[j].Y = v, row(i)
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plots: grid %s: %w", g.Name, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(i), Radius: vg.Points(4), Shape: vbar{}}
		p.Add(sc)
		p.Legend.Add(fmt.Sprintf("%s levels (%d)", g.Name, len(g.Levels)), sc)
	}
	n := len(h.Grids)
	if len(h.Centroids) > 0 {
		xys := make(plotter.XYs, len(h.Centroids))
		for j, v := range h.Centroids {
			xys[j].X, xys[j].Y = v, row(n)
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("plots: centroids: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: color.RGBA{G: 140, A: 255}, Radius: vg.Points(3), Shape: draw.PyramidGlyph{}}
		p.Add(sc)
		name := h.CentroidsName
		if name == "" {
			name = "k-means centroids"
		}
		p.Legend.Add(fmt.Sprintf("%s (%d)", name, len(h.Centroids)), sc)
		n++
	}
	if h.Clip != [2]float64{} {
		for k, x := range h.Clip {
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: row(n)}})
			if err != nil {
				return err
			}
			l.Color = color.RGBA{R: 200, A: 255}
			l.Width = vg.Points(1.2)
			p.Add(l)
			if k == 0 {
				p.Legend.Add(fmt.Sprintf("clipping range [%.3g, %.3g]", h.Clip[0], h.Clip[1]), l)
			}
		}
	}
	// Headroom above the rows of ticks for the legend.
	p.Y.Min, p.Y.Max = 0, row(n)+top*0.5
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	return save(p, path)
}

// CurvesLegendRight draws each series as a line with points, like Curves,
// with the legend in a column beside the plot, where it cannot hide the
// last epochs of the curves.
func CurvesLegendRight(path, title, xlabel, ylabel string, series []Series) error {
	p, err := curves(title, xlabel, ylabel, series)
	if err != nil {
		return err
	}
	return saveLegendRight(p, path)
}

// saveLegendRight saves p with its legend moved to a column on its right;
// the chart is wider by that column, so the plot keeps its size.
func saveLegendRight(p *plot.Plot, path string) error {
	leg := p.Legend
	p.Legend = plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.TextStyle.Font.Size = vg.Points(9)
	return saveTiles(path, [][]*plot.Plot{{p}}, &leg, LegendRightSize.W, LegendRightSize.H)
}

// AccuracyByBits draws accuracy against weight bits: one line per method
// (PTQ, QAT, clustering) and the float model as a dashed horizontal line.
// Series X values are bit-widths.
func AccuracyByBits(path, title string, floatAcc float64, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "weight bits"
	p.Y.Label.Text = "test accuracy (%)"
	p.Add(plotter.NewGrid())
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plots: series %s has %d x and %d y values", s.Name, len(s.X), len(s.Y))
		}
		if len(s.X) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.X))
		for j := range s.X {
			pts[j].X, pts[j].Y = s.X[j], s.Y[j]
			xmin, xmax = math.Min(xmin, s.X[j]), math.Max(xmax, s.X[j])
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plots: series %s: %w", s.Name, err)
		}
		l.Color, sc.Color = plotutil.Color(i+1), plotutil.Color(i+1)
		sc.Shape = plotutil.Shape(i + 1)
		p.Add(l, sc)
		p.Legend.Add(s.Name, l, sc)
	}
	if math.IsInf(xmin, 1) {
		return fmt.Errorf("plots: %s: no points", path)
	}
	fl, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: floatAcc}, {X: xmax, Y: floatAcc}})
	if err != nil {
		return err
	}
	fl.Color = plotutil.Color(0)
	fl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(fl)
	p.Legend.Add(fmt.Sprintf("float32 (%.2f%%)", floatAcc), fl)
	ticks := []plot.Tick{}
	for b := math.Floor(xmin); b <= xmax; b++ {
		ticks = append(ticks, plot.Tick{Value: b, Label: fmt.Sprintf("%g", b)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = xmin-0.3, xmax+0.3
	p.Y.Max = math.Max(p.Y.Max, floatAcc) + 1 // the float line off the frame
	return saveLegendRight(p, path)
}

// AccuracyVsEps draws accuracy against attack strength in two panels,
// white-box (left) and transfer (right), one line per model; a model has
// the same colour and marker in both panels.
func AccuracyVsEps(path, title string, whiteBox, transfer []Series) error {
	names := []string{}
	index := map[string]int{}
	for _, s := range append(append([]Series(nil), whiteBox...), transfer...) {
		if _, ok := index[s.Name]; !ok {
			index[s.Name] = len(names)
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("plots: %s: no series", path)
	}
	var ticks []plot.Tick
	seen := map[float64]bool{}
	for _, s := range append(append([]Series(nil), whiteBox...), transfer...) {
		for _, x := range s.X {
			if !seen[x] {
				seen[x] = true
				ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprintf("%g", x)})
			}
		}
	}
	panel := func(sub string, series []Series) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title + ": " + sub
		p.X.Label.Text = "ε, L∞ perturbation (pixel range [0, 1])"
		p.Y.Label.Text = "test accuracy under attack (%)"
		p.Y.Min, p.Y.Max = 0, 100
		p.Add(plotter.NewGrid())
		for _, s := range series {
			if len(s.X) != len(s.Y) || len(s.X) == 0 {
				return nil, fmt.Errorf("plots: series %s has %d x and %d y values", s.Name, len(s.X), len(s.Y))
			}
			pts := make(plotter.XYs, len(s.X))
			for j := range s.X {
				pts[j].X, pts[j].Y = s.X[j], s.Y[j]
			}
			l, sc, err := plotter.NewLinePoints(pts)
			if err != nil {
				return nil, fmt.Errorf("plots: series %s: %w", s.Name, err)
			}
			style(l, sc, index[s.Name])
			p.Add(l, sc)
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		return p, nil
	}
	left, err := panel("white-box", whiteBox)
	if err != nil {
		return err
	}
	right, err := panel("transfer from float", transfer)
	if err != nil {
		return err
	}
	// One legend for both panels, beside them: inside a panel it would
	// hide the curves of robust models, which stay near the top.
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.TextStyle.Font.Size = vg.Points(8)
	for i, n := range names {
		l, sc, err := plotter.NewLinePoints(plotter.XYs{{X: 0, Y: 0}})
		if err != nil {
			return err
		}
		style(l, sc, i)
		leg.Add(n, l, sc)
	}
	return saveTiles(path, [][]*plot.Plot{{left, right}}, &leg, WideSize.W, WideSize.H)
}

func style(l *plotter.Line, sc *plotter.Scatter, i int) {
	l.Color, sc.Color = lineColor(i), lineColor(i)
	l.Dashes = plotutil.Dashes(i / 4)
	sc.Shape = plotutil.Shape(i)
}

// saveTiles draws plots in a grid and, if leg is not nil, the legend in a
// column on the right.
func saveTiles(path string, plots [][]*plot.Plot, leg *plot.Legend, w, h vg.Length) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "png" && format != "svg" {
		return fmt.Errorf("plots: %s: the file name must end in .png or .svg", path)
	}
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Centimeter / 2, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	dc := draw.New(c)
	if leg != nil {
		lw := w / 5
		leg.Draw(draw.Crop(dc, w-lw, 0, 0, -vg.Points(30)))
		dc = draw.Crop(dc, 0, -lw, 0, 0)
	}
	canvases := plot.Align(plots, tiles, dc)
	for i, row := range plots {
		for j, p := range row {
			p.Draw(canvases[i][j])
		}
	}
	return writeMarked(path, c)
}
