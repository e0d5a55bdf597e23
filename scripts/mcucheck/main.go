// Command mcucheck runs a model's generated C (tinyqat export --format c)
// on real test images, on the host and on an emulated Cortex-M4, and
// compares every logit with tinyqat's integer runtime (infer). It is the
// engine of scripts/mcu_check.sh.
//
// It loads the integer model and the first --n test images of the data the
// model's run was trained on (--run, else the run the model file names,
// else --data, else MNIST): the raw uint8 pixels, as a deployed model
// takes them. It writes them to images.u8 in --work with the generated
// library (--c: NAME.h and NAME.c of export --format c --c-name model) and
// a harness (harness.c, host.c, startup.c, link.ld in csrc/,
// embedded), then
//
//   - host: cc -std=c99 -Wall -Wextra -Werror -pedantic -O2, the portable
//     kernels and the DSP kernels with the instructions emulated in C
//     (-DTQ_EMULATE_DSP); every image through model_run;
//   - Cortex-M4: arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2 (the same
//     warning flags), portable (-DTQ_PORTABLE) and DSP (SMLAD) kernels,
//     each run under qemu-system-arm -M mps2-an386 with semihosting (the
//     images are read from images.u8 through it) and -icount shift=0;
//
// and compares each run's logits with infer.Model.LogitsBytes on the same
// bytes. It prints one table row (or, with --json, one JSON line): flash
// (.text + .rodata of the model's object), static RAM (.data + .bss of
// it), the arena, the stack high-water mark of model_run measured on the
// emulated M4 (the free stack is painted before each call), and the
// emulated instructions per image. It exits non-zero if a logit differs,
// a build warns, or a tool is missing.
//
// Usage: go run ./scripts/mcucheck --model MODEL.tqm --c DIR --work DIR [--run RUN_DIR] [--n 1000]
package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinyqat/tinyqat/datasets"
	"github.com/tinyqat/tinyqat/infer"
	"github.com/tinyqat/tinyqat/rundir"
)

var (
	//go:embed csrc/harness.c
	harnessC []byte
	//go:embed csrc/host.c
	hostC []byte
	//go:embed csrc/startup.c
	startupC []byte
	//go:embed csrc/link.ld
	linkLD []byte
)

// strict are the warning flags both compilers build the model and the
// harness with.
var strict = []string{"-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"}

// m4 are the Cortex-M4 flags (soft float ABI: the model uses no float).
var m4 = []string{"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=soft", "-O2", "-ffreestanding", "-fno-tree-loop-distribute-patterns"}

type variant struct {
	Name         string  `json:"name"` // portable or dsp
	Flash        int     `json:"flash"`
	Text         int     `json:"text"`
	Rodata       int     `json:"rodata"`
	StaticRAM    int     `json:"static_ram"`
	StackBytes   int     `json:"stack_bytes"`
	InsnPerImage float64 `json:"insn_per_image"`
	Seconds      float64 `json:"seconds"`
}

type result struct {
	Label        string     `json:"label"`
	Model        string     `json:"model"`
	Arch         string     `json:"arch"`
	Precision    string     `json:"precision"`
	Data         string     `json:"data"`
	Images       int        `json:"images"`
	Logits       int        `json:"logits_compared_per_run"`
	Accuracy     float64    `json:"accuracy"`
	MACs         int        `json:"macs"`
	Arena        int        `json:"arena"`
	HostRuns     []string   `json:"host_runs"`
	M4           []*variant `json:"m4"`
	BitExactRuns int        `json:"bit_exact_runs"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mcucheck:", err)
		os.Exit(1)
	}
}

func run() error {
	model := flag.String("model", "", "integer model file (export --format tinyqat)")
	cdir := flag.String("c", "", "directory of the generated C (export --format c --c-name model)")
	work := flag.String("work", "", "work directory (created)")
	runDir := flag.String("run", "", "the PTQ/QAT run the model was exported from: its test data (default: the run the model file names)")
	data := flag.String("data", "", "test data when no run is known (default: MNIST)")
	cacheDir := flag.String("cache-dir", "", "directory of the decoded image-folder cache")
	n := flag.Int("n", 1000, "test images (the first N)")
	label := flag.String("label", "", "the row's name (default: the model's architecture)")
	timeout := flag.Duration("timeout", 15*time.Minute, "time limit of one emulator run")
	asJSON := flag.Bool("json", false, "print the result as one JSON line")
	table := flag.Bool("table", false, "read results (--json lines) from standard input and print them as a Markdown table")
	flag.Parse()
	if *table {
		return printTable(os.Stdin, os.Stdout)
	}
	if *model == "" || *cdir == "" || *work == "" {
		return errors.New("--model, --c and --work are required")
	}
	if *n < 1 {
		return fmt.Errorf("--n must be at least 1, got %d", *n)
	}
	m, err := infer.Load(*model)
	if err != nil {
		return err
	}
	test, dataDir, err := testSet(m, *runDir, *data, *cacheDir)
	if err != nil {
		return err
	}
	if test.N < *n {
		return fmt.Errorf("the test set of %s has %d images, fewer than --n %d", dataDir, test.N, *n)
	}
	test = test.Subset(*n)
	pix := test.Pix[:*n*test.Size()]
	want, err := m.LogitsBytes(pix, *n)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{"images.u8": pix, "harness.c": harnessC, "host.c": hostC, "startup.c": startupC, "link.ld": linkLD}
	for _, f := range []string{"model.h", "model.c"} {
		b, err := os.ReadFile(filepath.Join(*cdir, f))
		if err != nil {
			return fmt.Errorf("the generated C (export --format c --c-name model): %w", err)
		}
		files[f] = b
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*work, name), b, 0o644); err != nil {
			return err
		}
	}
	arena, err := headerInt(files["model.h"], "MODEL_ARENA_SIZE")
	if err != nil {
		return err
	}
	res := &result{Label: *label, Model: *model, Arch: m.Arch, Precision: m.Precision(), Data: dataDir, Images: *n,
		Logits: *n * m.Classes, MACs: infer.MACs(m), Arena: arena}
	if res.Label == "" {
		res.Label = m.Arch
	}
	correct := 0
	for i := range *n {
		if argmax(want[i*m.Classes:(i+1)*m.Classes]) == int(test.Labels[i]) {
			correct++
		}
	}
	res.Accuracy = float64(correct) / float64(*n)
	testN := fmt.Sprintf("-DTEST_N=%d", *n)

	// Host: both kernels, every logit.
	cc, err := exec.LookPath("cc")
	if err != nil {
		return errors.New("no host C compiler (cc) on PATH")
	}
	for _, v := range []struct{ name, def string }{{"portable", "-DTQ_PORTABLE"}, {"dsp-emulated", "-DTQ_EMULATE_DSP"}} {
		exe := "host-" + v.name
		if _, err := command(*work, 0, cc, append(slices.Clone(strict), v.def, testN, "-o", exe, "host.c", "harness.c", "model.c")...); err != nil {
			return err
		}
		out, err := command(*work, *timeout, "./"+exe)
		if err != nil {
			return err
		}
		if err := compare(out, want, *n, m.Classes); err != nil {
			return fmt.Errorf("host %s: %w", v.name, err)
		}
		res.HostRuns = append(res.HostRuns, v.name)
		res.BitExactRuns++
	}

	// Cortex-M4: build both, emulate both at once.
	gcc, err1 := exec.LookPath("arm-none-eabi-gcc")
	size, err2 := exec.LookPath("arm-none-eabi-size")
	qemu, err3 := exec.LookPath("qemu-system-arm")
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("the Cortex-M4 tools (Debian: apt-get install gcc-arm-none-eabi qemu-system-arm): %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"portable", "dsp"} {
		v := &variant{Name: name}
		res.M4 = append(res.M4, v)
		flags := slices.Clone(m4)
		if name == "portable" {
			flags = append(flags, "-DTQ_PORTABLE")
		}
		obj, elf := "model-"+name+".o", "m4-"+name+".elf"
		for _, c := range [][]string{
			append(append(slices.Clone(strict), flags...), "-c", "-o", obj, "model.c"),
			append(append(slices.Clone(strict), flags...), testN, "-c", "-o", "harness-"+name+".o", "harness.c"),
			append(append([]string{"-std=gnu99", "-Wall", "-Wextra", "-Werror"}, flags...), "-c", "-o", "startup-"+name+".o", "startup.c"),
			append(flags, "-nostdlib", "-T", "link.ld", "-o", elf, "startup-"+name+".o", "harness-"+name+".o", obj, "-lgcc"),
		} {
			if _, err := command(*work, 0, gcc, c...); err != nil {
				return err
			}
		}
		out, err := command(*work, 0, size, "-A", obj)
		if err != nil {
			return err
		}
		sections(out, v)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			out, err := emulate(*work, *timeout, qemu, "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "none",
				"-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", elf)
			v.Seconds = time.Since(start).Seconds()
			if err == nil {
				err = compare(out, want, *n, m.Classes)
			}
			if err != nil {
				errs[i] = fmt.Errorf("Cortex-M4 %s: %w", name, err)
				return
			}
			if s := regexp.MustCompile(`# stack_bytes (\d+)`).FindStringSubmatch(out); s != nil {
				v.StackBytes, _ = strconv.Atoi(s[1])
			}
			if s := regexp.MustCompile(`# ticks (\d+)`).FindStringSubmatch(out); s != nil {
				ticks, _ := strconv.ParseFloat(s[1], 64)
				v.InsnPerImage = ticks * 40 / float64(*n) // 25 MHz SysTick, 1 ns an instruction
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res.BitExactRuns += 2
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	b, _ := json.Marshal(res)
	return printTable(bytes.NewReader(b), os.Stdout)
}

// printTable prints results (JSON lines) as a Markdown table.
func printTable(r io.Reader, w io.Writer) error {
	fmt.Fprintln(w, "| model | precision | MACs | flash (B): code + const, DSP build | static RAM (B) | arena (B) | stack (B), portable / DSP | RAM (B): arena + stack | emulated instructions per image, portable / DSP | DSP per MAC | logits compared, each identical in 4 builds | top-1 |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	dec := json.NewDecoder(r)
	for {
		var res result
		if err := dec.Decode(&res); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("--table: %w", err)
		}
		if len(res.M4) != 2 {
			return fmt.Errorf("--table: %s: want the portable and DSP runs", res.Label)
		}
		p, d := res.M4[0], res.M4[1]
		fmt.Fprintf(w, "| %s | %s | %d | %d = %d + %d | %d | %d | %d / %d | %d | %.2fM / %.2fM | %.2f | %d (%d images) | %.1f%% |\n",
			res.Label, res.Precision, res.MACs, d.Flash, d.Text, d.Rodata, d.StaticRAM, res.Arena, p.StackBytes, d.StackBytes,
			res.Arena+max(p.StackBytes, d.StackBytes), p.InsnPerImage/1e6, d.InsnPerImage/1e6, d.InsnPerImage/float64(res.MACs),
			res.Logits, res.Images, 100*res.Accuracy)
	}
}

// testSet returns the test set of the model's run (runDir, else the run
// the model file names if it is still there), read as the run read it;
// else of data (default MNIST).
func testSet(m *infer.Model, runDir, data, cacheDir string) (*datasets.Set, string, error) {
	if runDir == "" && data == "" && m.Source.Run != "" {
		if _, err := os.Stat(m.Source.Run); err == nil {
			runDir = m.Source.Run
		}
	}
	o := datasets.Options{CacheDir: cacheDir}
	var ck *rundir.Checkpoint
	if runDir != "" {
		var err error
		if ck, err = rundir.LoadCheckpoint(runDir); err != nil {
			return nil, "", err
		}
		if data == "" {
			data = ck.DataDir
		}
		o = rundir.RunData(ck).Options()
		o.Classes, o.CacheDir = ck.Classes, cacheDir
	}
	ds, err := datasets.LoadWith(data, o)
	if err != nil {
		return nil, "", err
	}
	if ck != nil && ck.DataSHA != "" && ds.Fingerprint() != ck.DataSHA {
		return nil, "", fmt.Errorf("the data in %s is not the data the run %s was trained on", ds.Dir, runDir)
	}
	t := ds.Test
	if err := m.CheckData(t.C, t.H, t.W, t.Classes); err != nil {
		return nil, "", err
	}
	return t, ds.Dir, nil
}

// compare checks the harness's output against want, every logit.
func compare(out string, want []int32, n, classes int) error {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != n+1 || lines[n] != "done" {
		return fmt.Errorf("the harness printed %d lines, want %d and done: %s", len(lines), n, tail(out))
	}
	bad, first := 0, ""
	for i := range n {
		f := strings.Fields(lines[i])
		if len(f) != classes+1 || f[0] != "r" {
			return fmt.Errorf("image %d: line %q", i, lines[i])
		}
		for c := range classes {
			v, err := strconv.Atoi(f[c+1])
			if err != nil {
				return fmt.Errorf("image %d: line %q: %w", i, lines[i], err)
			}
			if int32(v) != want[i*classes+c] {
				if bad++; first == "" {
					first = fmt.Sprintf("image %d: C %v, infer %v", i, f[1:], want[i*classes:(i+1)*classes])
				}
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d logits differ from infer (first: %s)", bad, n*classes, first)
	}
	return nil
}

// sections sums size -A's sections of the model's object.
func sections(out string, v *variant) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		b, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], ".text"):
			v.Text += b
		case strings.HasPrefix(f[0], ".rodata"):
			v.Rodata += b
		case strings.HasPrefix(f[0], ".data"), strings.HasPrefix(f[0], ".bss"):
			v.StaticRAM += b
		}
	}
	v.Flash = v.Text + v.Rodata
}

// tail is the end of a long output (where a harness's error message is).
func tail(s string) string {
	if len(s) > 1000 {
		return "…" + s[len(s)-1000:]
	}
	return s
}

func headerInt(h []byte, name string) (int, error) {
	m := regexp.MustCompile(`(?m)^#define ` + name + ` (\d+)$`).FindSubmatch(h)
	if m == nil {
		return 0, fmt.Errorf("model.h defines no %s", name)
	}
	return strconv.Atoi(string(m[1]))
}

func argmax(v []int32) int {
	k := 0
	for i, x := range v {
		if x > v[k] {
			k = i
		}
	}
	return k
}

// command runs name in dir (with a time limit unless 0) and returns its
// standard output; a failure or any output on standard error (a compiler
// warning) is an error.
func command(dir string, limit time.Duration, name string, args ...string) (string, error) {
	return runCmd(dir, limit, false, name, args...)
}

// emulate runs QEMU, whose semihosting output goes to standard error: it
// returns both outputs.
func emulate(dir string, limit time.Duration, name string, args ...string) (string, error) {
	return runCmd(dir, limit, true, name, args...)
}

func runCmd(dir string, limit time.Duration, merge bool, name string, args ...string) (string, error) {
	ctx := context.Background()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if merge {
		cmd.Stderr = &out
	}
	err := cmd.Run()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%.2000s%s", filepath.Base(name), strings.Join(args, " "), err, errb.String(), tail(out.String()))
	}
	if errb.Len() > 0 {
		return "", fmt.Errorf("%s %s wrote to standard error: %.2000s", filepath.Base(name), strings.Join(args, " "), errb.String())
	}
	return out.String(), nil
}
