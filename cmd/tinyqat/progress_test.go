package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressPlainLines: without a terminal, a long task prints a plain
// line at least every plainInterval (the issue's lenet5 epoch was 80 s of
// silence). A fake clock advances 3 s per step: 40 steps are 120 s, so
// lines fall at 12, 24, …, 120 s (every fourth step): 10 lines.
func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.Start("qat epoch 1/3", 40)
	for range 40 {
		clock = clock.Add(3 * time.Second)
		p.Step("loss 0.5")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 10 || !strings.Contains(lines[0], "qat epoch 1/3  step 4/40  loss 0.5  12s") {
		t.Fatalf("got %d lines: %q", len(lines), lines)
	}
}
