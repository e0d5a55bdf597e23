package plots

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRooflineChart draws a roofline as PNG and SVG and checks the files,
// then that values a log axis cannot show are refused with an error
// naming the point or roof.
func TestRooflineChart(t *testing.T) {
	dir := t.TempDir()
	good := Roofline{Title: "roofline", PeakGMACs: 500, PeakName: "int8 peak",
		Roofs: []Roof{{Name: "memory", GBs: 35}, {Name: "L2", GBs: 250}},
		Series: []RooflineSeries{
			{Name: "batch 64", Points: []RooflinePoint{{"0", 4.5, 60}, {"1", 120, 310}}},
			{Name: "batch 1000", Points: []RooflinePoint{{"0", 4.5, 55}, {"1", 800, 330}}},
		}}
	for _, name := range []string{"r.png", "r.svg"} {
		path := filepath.Join(dir, name)
		if err := RooflineChart(path, good); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG")) && !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("%s: neither PNG nor SVG", name)
		}
		if strings.HasSuffix(name, ".svg") && !bytes.Contains(b, []byte("ridge 14.3 MAC/B")) {
			// 500 G MAC/s / 35 GB/s = 14.29 MAC per byte.
			t.Errorf("%s: the memory roof's ridge point is not in the legend", name)
		}
	}
	for _, c := range []struct {
		name, want string
		edit       func(r *Roofline)
	}{
		{"zero peak", "peak", func(r *Roofline) { r.PeakGMACs = 0 }},
		{"NaN intensity", `point "1"`, func(r *Roofline) { r.Series[0].Points[1].Intensity = math.NaN() }},
		{"zero throughput", `point "0"`, func(r *Roofline) { r.Series[1].Points[0].GMACs = 0 }},
		{"negative roof", `roof "L2"`, func(r *Roofline) { r.Roofs[1].GBs = -1 }},
		{"no points", "no points", func(r *Roofline) { r.Series = nil }},
	} {
		r := good
		r.Roofs = append([]Roof(nil), good.Roofs...)
		r.Series = nil
		for _, s := range good.Series {
			r.Series = append(r.Series, RooflineSeries{Name: s.Name, Points: append([]RooflinePoint(nil), s.Points...)})
		}
		c.edit(&r)
		err := RooflineChart(filepath.Join(dir, "bad.png"), r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
}
