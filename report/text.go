package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tinyqat/tinyqat/plots"
	"github.com/tinyqat/tinyqat/quant"
)

func last(s plots.Series) (float64, float64) { return s.X[len(s.X)-1], s.Y[len(s.Y)-1] }

func curvesText(r *Results) string {
	var parts []string
	for _, s := range r.TestAcc {
		if len(s.Y) == 0 {
			continue
		}
		_, y := last(s)
		best := slices.Max(s.Y)
		parts = append(parts, fmt.Sprintf("%s ends at %.2f%% (best %.2f%%)", s.Name, y, best))
	}
	return "Each line is one run's test accuracy after each epoch; QAT runs start where the float run ended (their first point is the accuracy right after calibration, i.e. PTQ) and continue on the same epoch axis. " +
		strings.Join(parts, "; ") + "."
}

func lossText(r *Results) string {
	var parts []string
	for _, s := range r.TrainLoss {
		if len(s.Y) < 1 {
			continue
		}
		first, lastY := s.Y[0], s.Y[len(s.Y)-1]
		parts = append(parts, fmt.Sprintf("%s %.4f → %.4f", s.Name, first, lastY))
	}
	return "Mean training cross-entropy per epoch (the average over the epoch's minibatches, so it lags the end-of-epoch weights): " + strings.Join(parts, "; ") + "."
}

func bitsSeries(rows []BitsRow) []plots.Series {
	sorted := slices.Clone(rows)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].BitsW < sorted[j].BitsW })
	// One line per activation width, so W4A8 and W4A4 do not share a point.
	var out []plots.Series
	byA := map[int][]BitsRow{}
	var as []int
	for _, r := range sorted {
		if _, ok := byA[r.BitsA]; !ok {
			as = append(as, r.BitsA)
		}
		byA[r.BitsA] = append(byA[r.BitsA], r)
	}
	for _, a := range as {
		suffix := ""
		if len(as) > 1 {
			suffix = fmt.Sprintf(" (A%d)", a)
		}
		ptq, qat, cl := plots.Series{Name: "PTQ" + suffix}, plots.Series{Name: "QAT" + suffix}, plots.Series{Name: "k-means clustering" + suffix}
		for _, r := range byA[a] {
			x := float64(r.BitsW)
			ptq.X, ptq.Y = append(ptq.X, x), append(ptq.Y, 100*r.PTQ)
			qat.X, qat.Y = append(qat.X, x), append(qat.Y, 100*r.QAT)
			if !math.IsNaN(r.Cluster) {
				cl.X, cl.Y = append(cl.X, x), append(cl.Y, 100*r.Cluster)
			}
		}
		out = append(out, ptq, qat)
		if len(cl.X) > 0 {
			out = append(out, cl)
		}
	}
	return out
}

func bitsText(r *Results) string {
	var parts []string
	for _, x := range r.Bits {
		s := fmt.Sprintf("at %s PTQ is %s and QAT %s", x.Name, pointsVs(x.PTQ, r.FloatAcc), pointsVs(x.QAT, r.FloatAcc))
		if !math.IsNaN(x.Cluster) {
			s += ", k-means clustering " + pointsVs(x.Cluster, r.FloatAcc)
		}
		parts = append(parts, s)
	}
	worst := slices.MinFunc(r.Bits, func(a, b BitsRow) int { return cmpF(a.PTQ, b.PTQ) })
	text := fmt.Sprintf("Test accuracy of each quantized model against its weight bit-width; the dashed line is the float32 model (%.2f%%). ", 100*r.FloatAcc) +
		upper(strings.Join(parts, "; ")) + ". "
	if worst.QAT > worst.PTQ {
		text += fmt.Sprintf("The largest PTQ loss is at %s (%.2f points); fine-tuning with fake quantization wins back %.2f of them.", worst.Name, 100*(r.FloatAcc-worst.PTQ), 100*(worst.QAT-worst.PTQ))
	} else {
		text += fmt.Sprintf("The largest PTQ loss is at %s (%.2f points), and QAT did not improve on it.", worst.Name, 100*(r.FloatAcc-worst.PTQ))
	}
	return text
}

func pointsVs(acc, ref float64) string {
	d := 100 * (acc - ref)
	if math.Abs(d) < 0.005 {
		return fmt.Sprintf("%.2f%% (equal to float)", 100*acc)
	}
	return fmt.Sprintf("%.2f%% (%+.2f points)", 100*acc, d)
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// bitsOf returns log2(k) for a power of two k.
func bitsOf(k int) int {
	b := 0
	for k > 1 {
		k >>= 1
		b++
	}
	return b
}

// grid is the symmetric restricted grid of b bits for a range ±m:
// S = m/(2^(b−1)−1), levels S·q for q in [−(2^(b−1)−1), 2^(b−1)−1].
func grid(m float64, bits int) []float64 {
	n := 1<<(bits-1) - 1
	l := make([]float64, 0, 2*n+1)
	for q := -n; q <= n; q++ {
		l = append(l, m*float64(q)/float64(n))
	}
	return l
}

func histogram(l *Layer, clusterEpochs int) (plots.WeightHist, string) {
	v := make([]float64, len(l.Weights))
	m := 0.0
	for i, w := range l.Weights {
		v[i] = float64(w)
		m = math.Max(m, math.Abs(v[i]))
	}
	h := plots.WeightHist{Title: fmt.Sprintf("%s weights (%d) and per-tensor quantization grids", l.Name, len(v)), Values: v,
		Grids: []plots.Grid{{Name: "int8", Levels: grid(m, 8)}, {Name: "int4", Levels: grid(m, 4)}}, Clip: [2]float64{-m, m}}
	for _, c := range l.Centroids {
		h.Centroids = append(h.Centroids, float64(c))
	}
	if len(l.Centroids) > 0 {
		h.Title = fmt.Sprintf("%s weights (%d), per-tensor quantization grids and k-means centroids", l.Name, len(v))
	}
	if k := len(l.Centroids); k > 0 {
		h.CentroidsName = "k-means centroids"
		if k&(k-1) == 0 && k > 1 {
			h.CentroidsName = fmt.Sprintf("%d-bit k-means codebook", bitsOf(k))
		}
	}
	// Share of weights that round to 0 on each grid: |w| < S/2.
	zero := func(bits int) float64 {
		s := m / float64(int(1)<<(bits-1)-1)
		n := 0
		for _, x := range v {
			if math.Abs(x) < s/2 {
				n++
			}
		}
		return float64(n) / float64(len(v))
	}
	abs := make([]float64, len(v))
	for i, x := range v {
		abs[i] = math.Abs(x)
	}
	sort.Float64s(abs)
	p99 := abs[int(0.99*float64(len(abs)-1))]
	spread := "so a few outliers set the grid and most levels go unused"
	if p99 > 0.7*m {
		spread = "so the grid is used nearly to its ends"
	}
	text := fmt.Sprintf("The grey bars are the %d float weights of %s; above them, each tick is a value the weights can take after quantization with one scale for the whole tensor, set by the largest |w| = %.4g (the red lines, the clipping range). "+
		"99%% of the weights lie within ±%.4g, %.0f%% of the range, %s: the int8 step is %.3g and %.1f%% of the weights round to zero; the int4 step is %.3g and %.1f%% round to zero. "+
		"The models quantize per output channel, which gives each channel its own, usually finer, grid of the same shape.",
		len(v), l.Name, m, p99, 100*p99/m, spread, m/127, 100*zero(8), m/7, 100*zero(4))
	if k := len(l.Centroids); k > 0 {
		// Where the values go: the share of centroids, and of int4 levels,
		// inside the central interval that holds half of the weights.
		p50 := abs[int(0.5*float64(len(abs)-1))]
		inside := func(vals []float64) int {
			n := 0
			for _, x := range vals {
				if math.Abs(x) <= p50 {
					n++
				}
			}
			return n
		}
		lo, hi := slices.Min(h.Centroids), slices.Max(h.Centroids)
		tuned := "as clustered"
		if clusterEpochs > 0 {
			tuned = fmt.Sprintf("after %d epoch(s) of centroid fine-tuning", clusterEpochs)
		}
		text += fmt.Sprintf(" The green triangles are the %s: %d values (%s) that every weight of the layer is replaced by, spanning [%.3g, %.3g]. "+
			"Half of the weights lie within ±%.3g; %d of the %d centroids lie there, against %d of the %d int4 levels",
			h.CentroidsName, k, tuned, lo, hi, p50, inside(h.Centroids), k, inside(h.Grids[1].Levels), len(h.Grids[1].Levels))
		if inside(h.Centroids)*len(h.Grids[1].Levels) > inside(h.Grids[1].Levels)*k {
			text += ": k-means puts its values where the weights are dense, the uniform grid spends them evenly up to the largest |w|."
		} else {
			text += "."
		}
	}
	return h, text
}

// SQNRTable returns, for each layer and bit-width, the signal-to-
// quantization-noise ratio of its weights under symmetric per-channel
// quantization (the project's weight rule):
//
//	SQNR = 10·log10( Σ w² / Σ (w − ŵ)² )  dB
//
// A layer quantized exactly gives +Inf.
func SQNRTable(layers []Layer, bits []int) ([][]float64, error) {
	out := make([][]float64, len(layers))
	for i, l := range layers {
		out[i] = make([]float64, len(bits))
		size := 1
		for _, d := range l.Shape {
			size *= d
		}
		if size != len(l.Weights) || l.Axis < 0 || l.Axis >= len(l.Shape) {
			return nil, fmt.Errorf("report: layer %s: %d weights for shape %v, axis %d", l.Name, len(l.Weights), l.Shape, l.Axis)
		}
		ch := l.Shape[l.Axis]
		inner := 1
		for _, d := range l.Shape[l.Axis+1:] {
			inner *= d
		}
		lo, hi := make([]float32, ch), make([]float32, ch)
		for k, w := range l.Weights {
			c := (k / inner) % ch
			lo[c], hi[c] = min(lo[c], w), max(hi[c], w)
		}
		deq := make([]float32, len(l.Weights))
		for j, b := range bits {
			p, err := quant.FromRanges(b, quant.Symmetric, l.Axis, lo, hi)
			if err != nil {
				return nil, fmt.Errorf("report: layer %s: %w", l.Name, err)
			}
			quant.FakeQuantize(deq, l.Weights, l.Shape, p)
			var sig, noise float64
			for k, w := range l.Weights {
				sig += float64(w) * float64(w)
				d := float64(w) - float64(deq[k])
				noise += d * d
			}
			out[i][j] = 10 * math.Log10(sig/noise)
		}
	}
	return out, nil
}

// clusterSQNR returns the SQNR of each layer's codebook weights against
// its float weights (nil when no layer has them) and the series' name.
func clusterSQNR(layers []Layer) ([]float64, string, error) {
	var out []float64
	k := 0
	for i, l := range layers {
		if l.Clustered == nil {
			continue
		}
		if len(l.Clustered) != len(l.Weights) {
			return nil, "", fmt.Errorf("report: layer %s: %d clustered weights for %d weights", l.Name, len(l.Clustered), len(l.Weights))
		}
		if out == nil {
			out = make([]float64, len(layers))
			for j := range out {
				out[j] = math.NaN()
			}
		}
		var sig, noise float64
		for j, w := range l.Weights {
			sig += float64(w) * float64(w)
			d := float64(w) - float64(l.Clustered[j])
			noise += d * d
		}
		out[i] = 10 * math.Log10(sig/noise)
		k = max(k, len(l.Centroids))
	}
	if out == nil {
		return nil, "", nil
	}
	for i, v := range out {
		if math.IsNaN(v) {
			return nil, "", fmt.Errorf("report: layer %s has no clustered weights while others have", layers[i].Name)
		}
	}
	name := "k-means codebook, per tensor"
	if k > 1 && k&(k-1) == 0 {
		name = fmt.Sprintf("%d-bit k-means, per tensor", bitsOf(k))
	}
	return out, name, nil
}

func sqnrText(names []string, sq [][]float64, cl []float64, clName string) string {
	var parts []string
	for j, b := range SQNRBits {
		worst, best := 0, 0
		for i := range names {
			if sq[i][j] < sq[worst][j] {
				worst = i
			}
			if sq[i][j] > sq[best][j] {
				best = i
			}
		}
		parts = append(parts, fmt.Sprintf("at %d bits from %.1f dB (%s) to %.1f dB (%s)", b, sq[worst][j], names[worst], sq[best][j], names[best]))
	}
	text := "The signal-to-quantization-noise ratio of each layer's float weights, quantized symmetrically per output channel: 10·log10 of the weights' energy over the rounding error's energy. Higher is better; a uniform grid gains about 6.02 dB per bit. It ranges " +
		strings.Join(parts, ", ") + "."
	if len(SQNRBits) >= 2 && SQNRBits[0] > SQNRBits[1] {
		var drops []string
		for i, n := range names {
			drops = append(drops, fmt.Sprintf("%s %.1f dB (%.2f dB/bit)", n, sq[i][0]-sq[i][1], (sq[i][0]-sq[i][1])/float64(SQNRBits[0]-SQNRBits[1])))
		}
		text += fmt.Sprintf(" From %d to %d bits the layers lose %s.", SQNRBits[0], SQNRBits[1], strings.Join(drops, ", "))
	}
	if cl != nil {
		var parts []string
		for i, n := range names {
			c := ""
			if j := slices.Index(SQNRBits, 4); j >= 0 && strings.HasPrefix(clName, "4-bit") {
				c = fmt.Sprintf(" (%+.1f dB against 4-bit uniform per channel)", cl[i]-sq[i][j])
			}
			parts = append(parts, fmt.Sprintf("%s %.1f dB%s", n, cl[i], c))
		}
		text += fmt.Sprintf(" The last bar of each layer (%s) is the k-means codebook the model stores, one table of centroids per layer, measured against the float weights: %s.", clName, strings.Join(parts, ", "))
	}
	return text + " The layer with the lowest SQNR at a width is where that width loses the most precision."
}

func sizeText(sizes []Size) string {
	base := sizes[0]
	var parts []string
	for _, s := range sizes[1:] {
		parts = append(parts, fmt.Sprintf("%s %d bytes (%s)", s.Name, s.Bytes, ratio(base.Bytes, s.Bytes)))
	}
	return fmt.Sprintf("Bytes needed to store the model: %s takes %d bytes (4 bytes per parameter); ", base.Name, base.Bytes) + strings.Join(parts, ", ") +
		". The integer sizes are the saved model files on disk, so they include the header, the quantization scales, the biases and, for a codebook, its tables; " +
		"bit-packing stores a 4-bit weight or index in half a byte."
}

func latencyGroups(ls []Latency) ([]string, []plots.Group) {
	var batches []int
	var engines []string
	val := map[string]map[int]float64{}
	for _, l := range ls {
		if !slices.Contains(batches, l.Batch) {
			batches = append(batches, l.Batch)
		}
		if !slices.Contains(engines, l.Engine) {
			engines = append(engines, l.Engine)
			val[l.Engine] = map[int]float64{}
		}
		val[l.Engine][l.Batch] = l.MicrosPerImage
	}
	sort.Ints(batches)
	cats := make([]string, len(batches))
	for i, b := range batches {
		cats[i] = strconv.Itoa(b)
	}
	groups := make([]plots.Group, len(engines))
	for i, e := range engines {
		groups[i] = plots.Group{Name: e, Values: make([]float64, len(batches))}
		for j, b := range batches {
			v, ok := val[e][b]
			if !ok {
				v = math.NaN()
			}
			groups[i].Values[j] = v
		}
	}
	return cats, groups
}

func latencyText(r *Results) string {
	cats, groups := latencyGroups(r.Latency)
	var parts []string
	for j, c := range cats {
		best := -1
		for i, g := range groups {
			if !math.IsNaN(g.Values[j]) && (best < 0 || g.Values[j] < groups[best].Values[j]) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		s := fmt.Sprintf("at batch %s %s is fastest (%.1f µs per image)", c, groups[best].Name, groups[best].Values[j])
		if len(groups) > 1 && !math.IsNaN(groups[0].Values[j]) {
			var vs []string
			for i, g := range groups[1:] {
				if !math.IsNaN(g.Values[j]) {
					vs = append(vs, fmt.Sprintf("%s %.2f×", groups[i+1].Name, groups[0].Values[j]/g.Values[j]))
				}
			}
			s += fmt.Sprintf("; speed relative to %s: %s", groups[0].Name, strings.Join(vs, ", "))
		}
		parts = append(parts, s)
	}
	text := "Wall time per image for a forward pass, by batch size (lower is better); " + strings.Join(parts, "; ") + "."
	if r.Load != "" {
		text += " Measured on " + r.Load + ", so ratios measured side by side mean more than absolute times."
	}
	return text
}
