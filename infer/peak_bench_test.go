package infer

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPeak measures the int8 dot-product peak (MeasurePeak's loop)
// at every level of this CPU: the roof for BenchmarkModels' GMAC/s.
func BenchmarkPeak(b *testing.B) {
	for _, lv := range availableLevels() {
		b.Run(lv.name, func(b *testing.B) {
			var u [64]uint8
			var w [64]int8
			const iters = 1 << 16
			macs := int64(0)
			for b.Loop() {
				_, m := peakIters(lv, &u, &w, iters)
				macs += m
			}
			b.ReportMetric(float64(macs)/float64(b.Elapsed().Nanoseconds()), "GMAC/s")
		})
	}
}

// BenchmarkLayers logs TimeLayers' table (µs per batch, G MAC/s, fraction
// of the measured peak) for resnet8's, lenet5's and mobilenet-tiny's
// shapes at batch 64 and 1000, one thread; run with -v to see it.
func BenchmarkLayers(b *testing.B) {
	peak := MeasurePeak(50 * time.Millisecond)
	models := []struct {
		name  string
		build func() *Model
	}{
		{"lenet5", func() *Model { return randModel(b, rand.New(rand.NewPCG(1, 1)), "lenet5", W8A8) }},
		{"resnet8", func() *Model { return resnet8Shape(b, W8A8) }},
		{"mobilenet", func() *Model { return mobilenetShape(b, W8A8) }},
	}
	for _, mm := range models {
		m := mm.build()
		for _, n := range []int{64, 1000} {
			x := randInput(rand.New(rand.NewPCG(2, 2)), m, n)
			b.Run(fmt.Sprintf("%s/batch=%d", mm.name, n), func(b *testing.B) {
				var times []LayerTime
				for b.Loop() {
					var err error
					if times, err = m.TimeLayers(x, n, 1); err != nil {
						b.Fatal(err)
					}
				}
				total, macs := time.Duration(0), int64(0)
				for _, t := range times {
					total += t.Time
					macs += t.MACs
					b.Logf("%3d %-14s %-26s %9.1f µs %7.1f GMAC/s %5.1f%%", t.Layer, t.Kind, t.Shape, float64(t.Time.Nanoseconds())/1e3,
						t.GMACs(n), 100*t.GMACs(n)/peak.GMACs)
				}
				g := float64(macs) * float64(n) / float64(total.Nanoseconds())
				b.Logf("total %9.1f µs, %.1f GMAC/s, %.1f%% of the %s peak %.1f GMAC/s", float64(total.Nanoseconds())/1e3, g, 100*g/peak.GMACs, peak.Level, peak.GMACs)
				b.ReportMetric(g, "GMAC/s")
				b.ReportMetric(100*g/peak.GMACs, "%peak")
			})
		}
	}
}
