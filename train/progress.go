package train

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports long work: a live bar on a terminal, plain lines otherwise.
type Progress struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	quiet bool
}

// NewProgress writes to w; the bar is used when w is a terminal.
func NewProgress(w io.Writer) *Progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &Progress{w: w, tty: tty}
}

// Quiet returns a Progress that prints nothing.
func Quiet() *Progress { return &Progress{w: io.Discard, quiet: true} }

// Start begins a task of n steps.
func (p *Progress) Start(desc string, n int) {
	if p == nil || p.quiet || !p.tty {
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

// Step advances the task by one step; info is shown beside the bar.
func (p *Progress) Step(info string) {
	if p == nil || p.bar == nil {
		return
	}
	if info != "" {
		p.bar.Describe(info)
	}
	p.bar.Add(1)
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
