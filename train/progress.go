package train

import (
	"fmt"
	"io"
)

// Progress receives the reports of long work (an epoch, a pipeline). The
// library draws nothing itself: the command line implements Progress with
// a live bar on a terminal and plain lines elsewhere; Lines writes plain
// lines; a nil Progress reports nothing.
type Progress interface {
	// Start begins a task of steps steps, e.g. "qat epoch 2/5".
	Start(task string, steps int)
	// Step ends one step; info is its running figure ("loss 0.4213").
	Step(info string)
	// Done ends the task with a one-line summary.
	Done(summary string)
	// Note reports a line of information between tasks.
	Note(line string)
}

// Lines is a Progress that writes each summary and note to w as a line,
// and nothing per step.
func Lines(w io.Writer) Progress { return lines{w} }

type lines struct{ w io.Writer }

func (lines) Start(string, int)     {}
func (lines) Step(string)           {}
func (l lines) Done(summary string) { fmt.Fprintln(l.w, summary) }
func (l lines) Note(line string)    { fmt.Fprintln(l.w, line) }

// silent is the Progress of a nil one.
type silent struct{}

func (silent) Start(string, int) {}
func (silent) Step(string)       {}
func (silent) Done(string)       {}
func (silent) Note(string)       {}

// reporter returns p, or a Progress that reports nothing when p is nil.
func reporter(p Progress) Progress {
	if p == nil {
		return silent{}
	}
	return p
}
