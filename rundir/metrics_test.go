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
