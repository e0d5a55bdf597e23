// serialprof reads a Go execution trace taken together with a CPU
// profile and tells where a parallel program loses its second core:
//
//	go test -c -o /tmp/train.test ./train
//	GOMAXPROCS=2 /tmp/train.test -test.run '^$' -test.bench 'StepCIFAR/resnet8-mlperf$' \
//	    -test.benchtime 150x -test.trace /tmp/step.trace -test.cpuprofile /tmp/step.prof
//	cd scripts/serialprof && go run . /tmp/step.trace
//
// It prints how long the goroutines created by the program waited between
// their creation and their first run, the share of wall time with 0, 1, 2
// or more goroutines running, and per nn operation (the first nn method on
// a sample's stack, or on the stack that created its goroutine) its share
// of the wall time and the fraction of its CPU samples taken while only
// one goroutine ran. It is its own module (it needs golang.org/x/exp/trace,
// which tinyqat does not).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sort"
	"strings"

	"golang.org/x/exp/trace"
)

func main() {
	skip := flag.Float64("skip", 0.2, "fraction of the trace's time to skip at the start (setup)")
	depth := flag.Int("depth", 12, "frames searched for a tinyqat/gorgonia function to attribute a sample to")
	top := flag.Int("top", 25, "rows")
	byOp := flag.Bool("op", false, "prefix each function with the first nn method on its stack")
	flag.Parse()
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	r, err := trace.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	type sample struct {
		t       trace.Time
		running int
		fn, op  string
	}
	var samples []sample
	running := 0
	var t0, tEnd trace.Time
	drops := map[string]float64{}
	creator := map[trace.GoID]string{}
	created := map[trace.GoID]trace.Time{}
	var lat []float64
	var openKey string
	var openAt trace.Time
	// time spent with k goroutines running, over the whole trace
	var spans []struct {
		t trace.Time
		k int
	}
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if t0 == 0 {
			t0 = ev.Time()
		}
		tEnd = ev.Time()
		switch ev.Kind() {
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			from, to := st.Goroutine()
			if from == trace.GoNotExist {
				for fr := range ev.Stack().Frames() {
					if strings.Contains(fr.Func, "tinyqat/tinyqat/nn.") && !strings.Contains(fr.Func, "func") {
						creator[st.Resource.Goroutine()] = strings.TrimPrefix(fr.Func, "github.com/tinyqat/tinyqat/")
						break
					}
				}
			}
			gid := st.Resource.Goroutine()
			if from == trace.GoNotExist {
				created[gid] = ev.Time()
			}
			if to == trace.GoRunning {
				if c, ok := created[gid]; ok {
					lat = append(lat, float64(ev.Time()-c))
					delete(created, gid)
				}
			}
			prev := running
			if to == trace.GoRunning && from != trace.GoRunning {
				running++
			} else if from == trace.GoRunning && to != trace.GoRunning {
				running--
			}
			if prev == 1 && running != 1 && openAt != 0 && ev.Time() > t0 {
				drops[openKey] += float64(ev.Time() - openAt)
				openAt = 0
			}
			if prev >= 2 && running == 1 {
				k := "?"
				for fr := range ev.Stack().Frames() {
					if strings.Contains(fr.Func, "tinyqat/tinyqat/") && !strings.Contains(fr.Func, "internal/par") {
						k = strings.TrimPrefix(fr.Func, "github.com/tinyqat/tinyqat/")
						break
					}
				}
				openKey, openAt = fmt.Sprintf("%s -> %s", k, to), ev.Time()
			}
			spans = append(spans, struct {
				t trace.Time
				k int
			}{ev.Time(), running})
		case trace.EventStackSample:
			fn := "?"
			n := 0
			leaf := ""
			op := ""
			for fr := range ev.Stack().Frames() {
				if n == 0 {
					leaf = fr.Func
				}
				if fn == "?" && n < *depth && (strings.Contains(fr.Func, "tinyqat") || strings.Contains(fr.Func, "gorgonia")) {
					fn = strings.TrimPrefix(fr.Func, "github.com/tinyqat/tinyqat/")
				}
				if op == "" && strings.Contains(fr.Func, "tinyqat/tinyqat/nn.") && !strings.Contains(fr.Func, "func") {
					op = strings.TrimPrefix(fr.Func, "github.com/tinyqat/tinyqat/")
				}
				n++
			}
			if op == "" {
				op = creator[ev.Goroutine()]
			}
			sop := op
			if *byOp && op != "" {
				fn = op + " > " + fn
			}
			if fn == "?" {
				fn = "(runtime) " + leaf
			}
			samples = append(samples, sample{ev.Time(), running, fn, sop})
		}
	}
	sort.Float64s(lat)
	if n := len(lat); n > 0 {
		var sum float64
		for _, v := range lat {
			sum += v
		}
		fmt.Printf("goroutines created: %d; creation to first run: median %.1f µs, p90 %.1f µs, total %.1f ms\n", n, lat[n/2]/1e3, lat[n*9/10]/1e3, sum/1e6)
	}
	start := t0 + trace.Time(float64(tEnd-t0)**skip)
	// wall time by running count
	wall := map[int]float64{}
	for i := 0; i+1 < len(spans); i++ {
		if spans[i].t < start {
			continue
		}
		k := min(spans[i].k, 3)
		wall[k] += float64(spans[i+1].t - spans[i].t)
	}
	var tot float64
	for _, v := range wall {
		tot += v
	}
	fmt.Printf("wall time from %.0f%% of the trace on: %.1f ms\n", 100**skip, tot/1e6)
	for k := 0; k <= 3; k++ {
		fmt.Printf("  %d goroutines running: %5.1f%%\n", k, 100*wall[k]/tot)
	}
	serial, par := map[string]int{}, map[string]int{}
	ns, np := 0, 0
	for _, s := range samples {
		if s.t < start {
			continue
		}
		if s.running <= 1 {
			serial[s.fn]++
			ns++
		} else {
			par[s.fn]++
			np++
		}
	}
	type kv struct {
		k string
		v float64
	}
	var dl []kv
	var dsum float64
	for k, v := range drops {
		dl = append(dl, kv{k, v})
		dsum += v
	}
	sort.Slice(dl, func(i, j int) bool { return dl[i].v > dl[j].v })
	fmt.Printf("one-goroutine periods (%.1f ms in all) by the goroutine that stopped and its new state:\n", dsum/1e6)
	for i, d := range dl {
		if i >= 12 {
			break
		}
		fmt.Printf("  %5.1f%%  %s\n", 100*d.v/dsum, d.k)
	}
	// Per nn operation: its share of the two-goroutine wall time (a serial
	// sample is a unit of wall time, a parallel one half a unit) and its
	// scaling (wall with two over CPU time).
	type opRow struct {
		op   string
		s, p int
	}
	ops := map[string]*opRow{}
	for _, smp := range samples {
		if smp.t < start {
			continue
		}
		op := smp.op
		if op == "" {
			op = "(no nn frame) " + smp.fn
		}
		r := ops[op]
		if r == nil {
			r = &opRow{op: op}
			ops[op] = r
		}
		if smp.running <= 1 {
			r.s++
		} else {
			r.p++
		}
	}
	var orows []*opRow
	var wallUnits float64
	for _, r := range ops {
		orows = append(orows, r)
		wallUnits += float64(r.s) + float64(r.p)/2
	}
	sort.Slice(orows, func(i, j int) bool {
		return float64(orows[i].s)+float64(orows[i].p)/2 > float64(orows[j].s)+float64(orows[j].p)/2
	})
	fmt.Printf("%-7s %-7s %-7s %s\n", "wall%", "serial", "2t/1t", "operation (first nn frame)")
	for i, r := range orows {
		if i >= *top {
			break
		}
		w := float64(r.s) + float64(r.p)/2
		fmt.Printf("%5.1f%%  %5.0f%%  %5.2f   %s\n", 100*w/wallUnits, 100*float64(r.s)/float64(r.s+r.p), w/float64(r.s+r.p), r.op)
	}
	fmt.Printf("CPU samples: %d while one goroutine ran (serial), %d while two or more ran\n", ns, np)
	type row struct {
		fn   string
		s, p int
	}
	var rows []row
	for fn, c := range serial {
		rows = append(rows, row{fn, c, par[fn]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].s > rows[j].s })
	fmt.Printf("%-8s %-8s %s\n", "serial%", "par", "function (first tinyqat/gorgonia frame)")
	for i, r := range rows {
		if i >= *top {
			break
		}
		fmt.Printf("%6.1f%%  %6d  %s\n", 100*float64(r.s)/float64(ns), r.p, r.fn)
	}
}
