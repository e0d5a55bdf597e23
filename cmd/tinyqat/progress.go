package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tinyqat/tinyqat/train"
	"golang.org/x/term"
)

// plainInterval is how often progress prints a plain line during a long
// task when its output is not a terminal (a log file, a CI console).
const plainInterval = 10 * time.Second

// progress reports long work (it implements train.Progress): a live bar
// on a terminal, plain lines otherwise (one at least every plainInterval
// during a task, and one at its end).
type progress struct {
	w   io.Writer
	tty bool
	bar *progressbar.ProgressBar

	now         func() time.Time // the clock; tests replace it
	desc        string
	n, i        int
	start, last time.Time
}

var _ train.Progress = (*progress)(nil)

// newProgress writes to w; the bar is used when w is a terminal.
func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, now: time.Now}
}

// Start begins a task of n steps.
func (p *progress) Start(desc string, n int) {
	if p == nil {
		return
	}
	p.desc, p.n, p.i = desc, n, 0
	p.start = p.now()
	p.last = p.start
	if !p.tty {
		return
	}
	p.bar = progressbar.NewOptions(n,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// Step advances the task by one step; info is shown beside the bar, or in
// the plain line when one is due.
func (p *progress) Step(info string) {
	if p == nil {
		return
	}
	p.i++
	if p.bar != nil {
		if info != "" {
			p.bar.Describe(p.desc + " " + info)
		}
		p.bar.Add(1)
		return
	}
	if now := p.now(); now.Sub(p.last) >= plainInterval {
		p.last = now
		fmt.Fprintf(p.w, "%s  step %d/%d  %s  %.0fs\n", p.desc, p.i, p.n, info, now.Sub(p.start).Seconds())
	}
}

// Done ends the task and prints its summary line (on any output).
func (p *progress) Done(summary string) {
	if p == nil {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
	fmt.Fprintln(p.w, summary)
}

// Note prints a plain line.
func (p *progress) Note(line string) { p.Printf("%s", line) }

// Printf prints a plain line.
func (p *progress) Printf(format string, args ...any) {
	if p == nil {
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
