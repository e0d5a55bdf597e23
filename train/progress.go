package train

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// PlainInterval is how often Progress prints a plain line during a long
// task when its output is not a terminal (a log file, a CI console).
const PlainInterval = 10 * time.Second

// Progress reports long work: a live bar on a terminal, plain lines
// otherwise (one at least every PlainInterval during a task, and one at
// its end).
type Progress struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	quiet bool

	now         func() time.Time // the clock; tests replace it
	desc        string
	n, i        int
	start, last time.Time
}

// NewProgress writes to w; the bar is used when w is a terminal.
func NewProgress(w io.Writer) *Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Progress{w: w, tty: tty, now: time.Now}
}

// Quiet returns a Progress that prints nothing.
func Quiet() *Progress { return &Progress{w: io.Discard, quiet: true, now: time.Now} }

// Start begins a task of n steps.
func (p *Progress) Start(desc string, n int) {
	if p == nil || p.quiet {
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
func (p *Progress) Step(info string) {
	if p == nil || p.quiet {
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
	if now := p.now(); now.Sub(p.last) >= PlainInterval {
		p.last = now
		fmt.Fprintf(p.w, "%s  step %d/%d  %s  %.0fs\n", p.desc, p.i, p.n, info, now.Sub(p.start).Seconds())
	}
}

// Done ends the task and prints a summary line (on any output).
func (p *Progress) Done(format string, args ...any) {
	if p == nil || p.quiet {
		return
	}
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Printf prints a plain line.
func (p *Progress) Printf(format string, args ...any) {
	if p == nil || p.quiet {
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
