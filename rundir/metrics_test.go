package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RepairMetrics drops a torn last line (a crash while appending it) and
// refuses damage before it, saying that the line is not a record and
// what to do; ReadMetrics says which line of which file is not a record.
func TestMetricsDamage(t *testing.T) {
	good := `{"phase":"float","epoch":1,"test_acc":0.5}` + "\n"
	keep := func(EpochMetrics) bool { return true }
	for _, c := range []struct {
		name, log, want string
	}{
		{"torn last line", good + `{"phase":"fl`, ""},
		{"damage before the last line", "garbage\n" + good, "line 1 is not a metrics record (invalid character 'g' looking for beginning of value): the log is damaged before its last line; fix or remove that line to resume"},
	} {
		path := filepath.Join(t.TempDir(), MetricsFile)
		if err := os.WriteFile(path, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		err := RepairMetrics(path, keep)
		if c.want == "" {
			if b, _ := os.ReadFile(path); err != nil || string(b) != good {
				t.Errorf("%s: %v, log %q", c.name, err, b)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), path+" "+c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if b, _ := os.ReadFile(path); string(b) != c.log {
			t.Errorf("%s: the refused repair changed the log", c.name)
		}
		if _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), path+" line 1 is not a metrics record (a line of JSON)") {
			t.Errorf("%s: ReadMetrics: %v", c.name, err)
		}
	}
}

// ReadMetrics skips blank lines as RepairMetrics does (found by
// FuzzRepairMetrics: a log with a line of spaces passed RepairMetrics for
// a resume, then ReadMetrics refused that line), and numbers the lines
// of the file, leading blank lines included (they were trimmed first,
// so "\n\ngarbage" was reported as line 1).
func TestReadMetricsRecords(t *testing.T) {
	good := `{"phase":"float","epoch":1,"test_acc":0.5}` + "\n"
	for _, c := range []struct {
		name, log, want string
		n               int
	}{
		{"line of spaces", good + "  \n\t\r\n" + good, "", 2},
		{"leading blank lines", "\n\n" + good, "", 1},
		{"damage after blank lines", "\n \ngarbage\n" + good, "line 3 is not a metrics record", 0},
		// JSON that parses as a record no run writes.
		{"null", good + "null\n" + good, `line 2 is not a metrics record (a line of JSON): phase ""`, 0},
		{"empty object", "{}\n" + good, `line 1 is not a metrics record (a line of JSON): phase ""`, 0},
		{"unknown phase", `{"phase":"flaot","epoch":1}` + "\n", `line 1 is not a metrics record (a line of JSON): phase "flaot"`, 0},
		{"negative epoch", `{"phase":"float","epoch":-1}` + "\n", "epoch -1", 0},
		{"accuracy above 1", `{"phase":"qat","epoch":1,"test_acc":98.5}` + "\n", "accuracy 98.5 (test)", 0},
		{"PTQ start record", `{"phase":"ptq","epoch":0,"test_acc":0.9}` + "\n" + good, "", 2},
	} {
		path := filepath.Join(t.TempDir(), MetricsFile)
		if err := os.WriteFile(path, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		ms, err := ReadMetrics(path)
		if c.want != "" {
			if err == nil || !strings.Contains(err.Error(), path+" line ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: %v, want %q", c.name, err, c.want)
			}
			// A bad record before the last line stops a resume too.
			if !strings.HasSuffix(c.log, good) {
				continue
			}
			if err := RepairMetrics(path, func(EpochMetrics) bool { return true }); err == nil {
				t.Errorf("%s: RepairMetrics accepted it", c.name)
			}
			continue
		}
		if err != nil || len(ms) != c.n {
			t.Errorf("%s: %d records (%v), want %d", c.name, len(ms), err, c.n)
		}
		if err := RepairMetrics(path, func(EpochMetrics) bool { return true }); err != nil {
			t.Errorf("%s: RepairMetrics: %v", c.name, err)
		}
	}
}
