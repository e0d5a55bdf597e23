package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/tinyqat/tinyqat/attack"
	"github.com/tinyqat/tinyqat/plots"
)

// The attack sections of the report: series, text and verdicts.

func attackSeries(a *attack.Result) (wb, tr []plots.Series) {
	x := make([]float64, len(a.Eps))
	copy(x, a.Eps)
	for _, c := range a.Curves {
		y := make([]float64, len(c.Acc))
		for i, v := range c.Acc {
			y[i] = 100 * v
		}
		s := plots.Series{Name: c.Model, X: x, Y: y}
		switch c.Threat {
		case attack.WhiteBox:
			wb = append(wb, s)
		case attack.Transfer:
			tr = append(tr, s)
		case attack.Twin:
			s.Name += " (sim. gradient)"
			wb = append(wb, s)
		}
	}
	return wb, tr
}

// midEps is the index of the eps the text quotes: the first at which the
// float model has lost at least half of its clean accuracy (or the largest).
func midEps(a *attack.Result, source string) int {
	c := a.Curve(source, attack.WhiteBox)
	if c == nil {
		return len(a.Eps) - 1
	}
	for i, v := range c.Acc {
		if v <= c.Acc[0]/2 {
			return i
		}
	}
	return len(a.Eps) - 1
}

// noSource says that a result lacks the source model's white-box curve,
// which every comparison of the text is made against.
func noSource(a *attack.Result, src string) string {
	return fmt.Sprintf("This result has no white-box curve of %s, the model its curves are compared with, so no model is compared with it.", src)
}

func attackText(a *attack.Result, title string) string {
	src := a.Curves[0].Model
	i := midEps(a, src)
	e := a.Eps[i]
	fl := a.Curve(src, attack.WhiteBox)
	if fl == nil {
		var parts []string
		for _, c := range a.Curves {
			parts = append(parts, fmt.Sprintf("%s (%s) %.1f%%", c.Model, c.Threat, 100*c.Acc[i]))
		}
		return fmt.Sprintf("%s perturbs each of %d test images by at most ε per pixel (pixels in [0, 1]) to make the model misclassify it. At ε = %g: %s. ",
			title, a.Samples, e, strings.Join(parts, ", ")) + noSource(a, src)
	}
	var wb, tr []string
	for _, c := range a.Curves {
		switch c.Threat {
		case attack.WhiteBox:
			wb = append(wb, fmt.Sprintf("%s %.1f%%", c.Model, 100*c.Acc[i]))
		case attack.Transfer:
			if c.Model != src {
				tr = append(tr, fmt.Sprintf("%s %.1f%%", c.Model, 100*c.Acc[i]))
			}
		}
	}
	text := fmt.Sprintf("%s perturbs each of %d test images by at most ε per pixel (pixels in [0, 1]) to make the model misclassify it. Left: each model attacked with its own gradient (through the fake-quant nodes with the straight-through estimator for PTQ/QAT models; through the squeezer by passing the gradient straight through for feature squeezing). Right: the images made on the float model, fed to every model and to the integer runtime. "+
		"At ε = %g the float model keeps %.1f%%. White-box: %s. Transfer: %s.",
		title, a.Samples, e, 100*fl.Acc[i], strings.Join(wb, ", "), strings.Join(tr, ", "))
	return text + " " + attackVerdict(a)
}

// attackVerdict states what the numbers say about "quantization defends".
func attackVerdict(a *attack.Result) string {
	src := a.Curves[0].Model
	i := midEps(a, src)
	e := a.Eps[i]
	title := strings.ToUpper(string(a.Config.Method))
	flc := a.Curve(src, attack.WhiteBox)
	if flc == nil {
		return fmt.Sprintf("**%s**: %s", title, noSource(a, src))
	}
	fl := flc.Acc[i]
	var weaker, stronger []string
	for _, c := range a.Curves {
		if c.Model == src || strings.HasPrefix(c.Model, "squeeze") {
			continue
		}
		// The defence claim needs the model to resist every attack made
		// on it; a runtime without gradients has the transfer row and the
		// white-box row of the simulation it computes exactly.
		worst := math.Inf(1)
		for _, o := range a.Curves {
			if o.Model == c.Model {
				worst = math.Min(worst, o.Acc[i])
			}
		}
		// One verdict per model: at its white-box row, or a runtime's transfer row.
		hasWB := a.Curve(c.Model, attack.WhiteBox) != nil
		if (hasWB && c.Threat != attack.WhiteBox) || (!hasWB && c.Threat != attack.Transfer) {
			continue
		}
		d := 100 * (worst - fl)
		switch {
		case d > 1:
			stronger = append(stronger, fmt.Sprintf("%s (%+.1f points)", c.Model, d))
		case d < -1:
			weaker = append(weaker, fmt.Sprintf("%s (%+.1f points)", c.Model, d))
		}
	}
	tol := 1 / math.Sqrt(float64(a.Samples))
	mask := a.Masking(tol)
	var b strings.Builder
	fmt.Fprintf(&b, "**%s finding at ε = %g** (accuracy under the stronger of white-box and transfer, against the float model's %.1f%%): ", title, e, 100*fl)
	switch {
	case len(stronger) == 0 && len(weaker) == 0:
		b.WriteString("no quantized model differs from float by more than 1 point — quantization neither defends nor hurts here.")
	case len(stronger) == 0:
		b.WriteString("no quantized model is more robust than float by more than 1 point; less robust: " + strings.Join(weaker, ", ") + ". This does not support \"quantization defends\" (it matches Lin et al. 2019).")
	default:
		fmt.Fprintf(&b, "more robust than float by more than 1 point: %s", strings.Join(stronger, ", "))
		if len(weaker) > 0 {
			fmt.Fprintf(&b, "; less robust: %s", strings.Join(weaker, ", "))
		}
		b.WriteString(".")
	}
	if sw := sweep(a, src); sw != "" {
		b.WriteString(" " + sw)
	}
	if sq := squeezeNote(a, i, fl); sq != "" {
		b.WriteString(" " + sq)
	}
	if len(mask) > 0 {
		var m []string
		for _, p := range mask {
			m = append(m, fmt.Sprintf("%s at ε = %g (white-box %.1f%%, transfer %.1f%%)", p.Model, p.Eps, 100*p.WhiteBox, 100*p.Transfer))
		}
		fmt.Fprintf(&b, " Gradient masking (white-box weaker than transfer by more than 1/√N = %.1f points): %s; for these the transfer number is the honest one.", 100*tol, strings.Join(m, "; "))
	} else {
		fmt.Fprintf(&b, " No model resisted its white-box attack better than the transfer attack by more than 1/√N = %.1f points: no sign of gradient masking.", 100*tol)
	}
	return b.String()
}

// sweep states the largest gain and loss of any quantized model over the
// float model across every ε > 0 (each under its stronger attack).
func sweep(a *attack.Result, src string) string {
	fl := a.Curve(src, attack.WhiteBox)
	bestD, worstD := math.Inf(-1), math.Inf(1)
	var best, worst string
	for _, c := range a.Curves {
		if c.Model == src || strings.HasPrefix(c.Model, "squeeze") || c.Threat == attack.Twin {
			continue
		}
		if hasWB := a.Curve(c.Model, attack.WhiteBox) != nil; hasWB && c.Threat != attack.WhiteBox {
			continue
		}
		for i, e := range a.Eps {
			if e == 0 {
				continue
			}
			w := math.Inf(1)
			for _, o := range a.Curves {
				if o.Model == c.Model {
					w = math.Min(w, o.Acc[i])
				}
			}
			d := 100 * (w - fl.Acc[i])
			if d > bestD {
				bestD, best = d, fmt.Sprintf("%s at ε = %g (%.1f%% against %.1f%%)", c.Model, e, 100*w, 100*fl.Acc[i])
			}
			if d < worstD {
				worstD, worst = d, fmt.Sprintf("%s at ε = %g (%.1f%% against %.1f%%)", c.Model, e, 100*w, 100*fl.Acc[i])
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("Over the whole ε ladder, the largest gain of a quantized model over float is %+.1f points, %s, and the largest loss %+.1f points, %s.", bestD, best, worstD, worst)
}

func squeezeNote(a *attack.Result, i int, fl float64) string {
	var parts []string
	for _, c := range a.Curves {
		if c.Threat != attack.WhiteBox || !strings.HasPrefix(c.Model, "squeeze") {
			continue
		}
		t := a.Curve(c.Model, attack.Transfer)
		if t == nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s keeps %.1f%% against the transfer attack and %.1f%% when the attacker differentiates through the squeezer (float alone: %.1f%%)", c.Model, 100*t.Acc[i], 100*c.Acc[i], 100*fl))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Input bit-depth reduction (feature squeezing): " + strings.Join(parts, "; ") + "."
}
