package datasets

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CIFAR-10's binary release: each record is a label byte followed by
// 32·32 red, then green, then blue bytes (CHW, row-major).
const (
	cifarDir    = "cifar-10-batches-bin"
	cifarTest   = "test_batch.bin"
	cifarMeta   = "batches.meta.txt"
	cifarSide   = 32
	cifarRecord = 1 + 3*cifarSide*cifarSide
)

var cifarTrain = [5]string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}

// loadCIFAR10 reads CIFAR-10's binary release from dir. A batch file may
// hold any positive number of records (the release has 10,000 in each).
func loadCIFAR10(dir string, o Options) (*Pair, error) {
	names, err := readCIFARMeta(filepath.Join(dir, cifarMeta))
	if err != nil {
		return nil, err
	}
	if err := checkClassCount(dir, names, o); err != nil {
		return nil, err
	}
	train, err := readCIFARBatches(dir, cifarTrain[:], len(names))
	if err != nil {
		return nil, err
	}
	test, err := readCIFARBatches(dir, []string{cifarTest}, len(names))
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	for s, name := range map[*Set]string{train: "train", test: "test"} {
		s.Name = filepath.Base(dir) + "/" + name
		s.Classes = len(names)
		s.ClassNames = names
	}
	return &Pair{Dir: dir, Layout: LayoutCIFAR10, Train: train, Test: test}, nil
}

// readCIFARMeta reads the class names, one a line; blank lines are
// ignored, a name given twice is an error.
func readCIFARMeta(path string) ([]string, error) {
	var names []string
	err := withFile(path, func(r io.Reader, size int64) error {
		if size > 1<<20 {
			return formatErr(path, "%d bytes: not a class list", size)
		}
		line := map[string]int{}
		sc := bufio.NewScanner(r)
		for i := 1; sc.Scan(); i++ {
			n := strings.TrimSpace(sc.Text())
			if n == "" {
				continue
			}
			if err := checkClassName(n); err != nil {
				return formatErr(path, "class name %q on line %d: %v", n, i, err)
			}
			if j, dup := line[n]; dup {
				return formatErr(path, "class name %q on lines %d and %d (each class needs its own name)", n, j, i)
			}
			line[n] = i
			names = append(names, n)
		}
		if err := sc.Err(); err != nil {
			return &FormatError{File: path, Problem: err.Error(), Err: err}
		}
		return nil
	})
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			err = fmt.Errorf("datasets: CIFAR-10 class names: %w", err)
		}
		return nil, err
	}
	if len(names) < 2 || len(names) > 256 {
		return nil, formatErr(path, "%d class names, want 2 to 256", len(names))
	}
	return names, nil
}

// readCIFARBatches reads and concatenates batch files. Their sizes are
// checked before anything is allocated.
func readCIFARBatches(dir string, files []string, classes int) (*Set, error) {
	var sizes []int64
	var total int64
	for _, f := range files {
		p := filepath.Join(dir, f)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("datasets: CIFAR-10 batch: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, notRegular(p, st.Mode())
		}
		if st.Size() == 0 {
			return nil, formatErr(p, "empty file (0 bytes): want one or more %d-byte records (a label and 32x32x3 pixels)", cifarRecord)
		}
		if st.Size()%cifarRecord != 0 {
			return nil, formatErr(p, "%d bytes: not a whole number of %d-byte records (a label and 32x32x3 pixels)", st.Size(), cifarRecord)
		}
		sizes = append(sizes, st.Size())
		total += st.Size()
	}
	n := total / cifarRecord
	if n*(cifarRecord-1) > MaxDataBytes {
		return nil, formatErr(dir, "%d records: more than the %d-byte limit (datasets.MaxDataBytes)", n, int64(MaxDataBytes))
	}
	const sz = cifarRecord - 1
	s := &Set{N: int(n), C: 3, H: cifarSide, W: cifarSide, Pix: make([]uint8, int(n)*sz), Labels: make([]uint8, n)}
	i := 0
	rec := make([]byte, cifarRecord)
	for k, f := range files {
		p := filepath.Join(dir, f)
		err := withFile(p, func(r io.Reader, size int64) error {
			if size != sizes[k] {
				return formatErr(p, "changed size while being read")
			}
			br := bufio.NewReaderSize(r, 1<<16)
			for j := int64(0); j < size/cifarRecord; j, i = j+1, i+1 {
				if _, err := io.ReadFull(br, rec); err != nil {
					return formatErr(p, "record %d: %v", j, err)
				}
				if int(rec[0]) >= classes {
					return &LabelError{p, fmt.Sprintf("label %d of record %d is not below the class count %d (batches.meta.txt)", rec[0], j, classes)}
				}
				s.Labels[i] = rec[0]
				copy(s.Pix[i*sz:(i+1)*sz], rec[1:])
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// MaxClassName bounds the bytes of a class name, as a model file does.
const MaxClassName = 256

// checkClassName refuses the class names a model file cannot record
// (infer.Model.Validate's rule: names are printed): empty, longer than
// MaxClassName bytes, invalid UTF-8 or holding a control character. The
// data is refused when it is loaded, before anything is trained on it.
func checkClassName(s string) error {
	if s == "" || len(s) > MaxClassName {
		return fmt.Errorf("%d bytes, want 1 to %d", len(s), MaxClassName)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}
