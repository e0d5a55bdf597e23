package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/tinyqat/tinyqat/plots"
)

// rooflineText says what the roofline chart shows: the roofs, and for
// each series how close its layers come to the roof that limits them,
// taking the slowest bandwidth (the memory line) as the pessimistic roof
// min(peak, B·I).
func rooflineText(r *plots.Roofline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Each point is one layer of the int8 runtime on one thread: its arithmetic intensity (multiply-accumulates per byte it must move, counting the weights once per batch and every image's input and output activations once) against the G MAC/s it achieved. "+
		"The flat line is the %s measured on this machine, %.0f G MAC/s", r.PeakName, r.PeakGMACs)
	var mem plots.Roof
	for i, rf := range r.Roofs {
		if i == 0 {
			b.WriteString("; the sloped lines are one core's streaming read bandwidth: ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.0f GB/s (it meets the peak at %.1f MAC per byte)", rf.Name, rf.GBs, r.PeakGMACs/rf.GBs)
		if i == 0 || rf.GBs < mem.GBs {
			mem = rf
		}
	}
	b.WriteString(".")
	for _, s := range r.Series {
		if len(s.Points) == 0 {
			continue
		}
		under := 0
		best, worst := -1, -1
		frac := make([]float64, len(s.Points))
		for i, pt := range s.Points {
			roof := r.PeakGMACs
			if mem.GBs > 0 {
				roof = math.Min(roof, mem.GBs*pt.Intensity)
			}
			if roof < r.PeakGMACs {
				under++
			}
			frac[i] = pt.GMACs / roof
			if best < 0 || frac[i] > frac[best] {
				best = i
			}
			if worst < 0 || frac[i] < frac[worst] {
				worst = i
			}
		}
		fmt.Fprintf(&b, " At %s", s.Name)
		if mem.GBs > 0 {
			fmt.Fprintf(&b, ", %d of %d layers sit under the sloped %s line, below the peak (memory-bound when their data comes from memory)", under, len(s.Points), mem.Name)
		}
		fmt.Fprintf(&b, "; layer %s comes closest to its roof (%.0f%%), layer %s is furthest from it (%.0f%%).",
			s.Points[best].Label, 100*frac[best], s.Points[worst].Label, 100*frac[worst])
	}
	b.WriteString(" A layer far below every roof is limited by neither: by overheads the model does not count (an im2col copy, requantization, partial tiles).")
	return b.String()
}
