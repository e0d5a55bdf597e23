package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Set is a labelled image set held in memory as bytes (one quarter of the
// memory of float32 pixels); batches convert to float32 on the fly.
type Set struct {
	Name    string
	N       int // samples
	C, H, W int // image shape (channels, rows, columns)
	Classes int // labels are in [0, Classes)
	Pix     []uint8
	Labels  []uint8
	// ClassNames name the classes when the data does (image folders,
	// CIFAR-10); nil for IDX files. See ClassName.
	ClassNames []string
}

// Size is the number of pixels of one sample, C·H·W.
func (s *Set) Size() int { return s.C * s.H * s.W }

// Image returns the raw pixels of sample i.
func (s *Set) Image(i int) []uint8 { return s.Pix[i*s.Size() : (i+1)*s.Size()] }

// Subset returns the first n samples (all of them if n <= 0 or n >= N),
// sharing memory with s. Open keeps no set sorted by class (see the
// package documentation, Order), so the first n samples are a fair
// sample of the classes.
func (s *Set) Subset(n int) *Set {
	if n <= 0 || n >= s.N {
		return s
	}
	t := *s
	t.N = n
	t.Pix = s.Pix[:n*s.Size()]
	t.Labels = s.Labels[:n]
	return &t
}

// Pair is a training set and its test set, which share image shape and classes.
type Pair struct {
	Dir         string // absolute, when loaded from a directory
	Layout      string // LayoutIDX, LayoutFolder or LayoutCIFAR10; "" when built in memory
	Train, Test *Set
	// Skipped counts the files of an image-folder tree that are not
	// images (by name: not .png, .jpg or .jpeg, or hidden); a warning
	// names the first few.
	Skipped int
	// Cache is the cache file an image-folder tree was read from or
	// written to; "" when none was used.
	Cache string
	// Cached is true when the images came from the cache.
	Cached bool
	// Warnings are facts about the data a user should hear (classes
	// without training examples); loading succeeded regardless.
	Warnings []string

	fpOnce sync.Once
	fp     string
}

// Fingerprint is the SHA-256 (hex) of both sets' shapes, labels and
// pixels: two directories with the same images and labels share it, a
// changed pixel or label gives another. Computed once.
func (p *Pair) Fingerprint() string {
	p.fpOnce.Do(func() {
		h := sha256.New()
		for _, s := range []*Set{p.Train, p.Test} {
			var b []byte
			for _, v := range []int{s.N, s.C, s.H, s.W, s.Classes} {
				b = binary.LittleEndian.AppendUint64(b, uint64(v))
			}
			h.Write(b)
			h.Write(s.Labels)
			h.Write(s.Pix)
		}
		p.fp = hex.EncodeToString(h.Sum(nil))
	})
	return p.fp
}

// Options says how to read a dataset directory.
type Options struct {
	// Classes is the class count. Zero means: the data says so, which it
	// does when the training labels and the test labels each cover every
	// class 0 … K−1 and nothing else (MNIST and its relatives do); any
	// other labelling is an error that asks for the count. With Classes
	// set, a label ≥ Classes is an error and a class with no training
	// example is a warning.
	Classes int

	// ResizeH and ResizeW, when set (both), scale every image to
	// ResizeH×ResizeW (see Resize for the interpolation). Unset, all
	// images of an image-folder tree must have one size.
	ResizeH, ResizeW int

	// CacheDir holds the decoded cache of image-folder trees; "" means
	// DefaultCacheDir(). NoCache decodes every time and writes nothing.
	CacheDir string
	NoCache  bool

	// Workers is the number of images decoded at once; 0 means
	// GOMAXPROCS.
	Workers int
}

// LabelError reports a label outside the class count, or a labelling
// from which the class count cannot be told.
type LabelError struct {
	File    string
	Problem string
}

func (e *LabelError) Error() string { return fmt.Sprintf("datasets: %s: %s", e.File, e.Problem) }

// labelCounts counts each label value.
func labelCounts(l []uint8) [256]int {
	var c [256]int
	for _, v := range l {
		c[v]++
	}
	return c
}

// classRanges formats the label values whose count satisfies f, as ranges.
func classRanges(c *[256]int, lo, hi int, f func(int) bool) string {
	var parts []string
	for v := lo; v < hi; v++ {
		if !f(c[v]) {
			continue
		}
		w := v
		for w+1 < hi && f(c[w+1]) {
			w++
		}
		if w == v {
			parts = append(parts, fmt.Sprint(v))
		} else {
			parts = append(parts, fmt.Sprintf("%d–%d", v, w))
		}
		v = w
	}
	return strings.Join(parts, ", ")
}

// setClasses decides the class count of a pair (see Options.Classes).
func setClasses(p *Pair, classes int, trainLbl, testLbl string) error {
	tr, te := labelCounts(p.Train.Labels), labelCounts(p.Test.Labels)
	if classes > 0 {
		if classes > 256 {
			return fmt.Errorf("datasets: %d classes do not fit byte labels (at most 256)", classes)
		}
		for _, f := range []struct {
			name string
			s    *Set
		}{{trainLbl, p.Train}, {testLbl, p.Test}} {
			for i, l := range f.s.Labels {
				if int(l) >= classes {
					return &LabelError{f.name, fmt.Sprintf("label %d of sample %d is not below the class count %d", l, i, classes)}
				}
			}
		}
		if empty := classRanges(&tr, 0, classes, func(n int) bool { return n == 0 }); empty != "" {
			p.Warnings = append(p.Warnings, fmt.Sprintf("classes %s have no training examples (of %d classes)", empty, classes))
		}
	} else {
		maxL := 0
		for v := range 256 {
			if tr[v] > 0 || te[v] > 0 {
				maxL = v
			}
		}
		classes = maxL + 1
		missTr := classRanges(&tr, 0, classes, func(n int) bool { return n == 0 })
		missTe := classRanges(&te, 0, classes, func(n int) bool { return n == 0 })
		if missTr != "" || missTe != "" {
			var why []string
			if missTr != "" {
				why = append(why, "no training examples of "+missTr)
			}
			if missTe != "" {
				why = append(why, "no test examples of "+missTe)
			}
			return &LabelError{filepath.Dir(trainLbl), fmt.Sprintf("labels run up to %d, but there are %s: the class count is not clear from the data; give it (--classes N) or fix the labels",
				maxL, strings.Join(why, " and "))}
		}
	}
	p.Train.Classes, p.Test.Classes = classes, classes
	if classes < 2 {
		return formatErr(trainLbl, "all training labels are %d: need at least 2 classes", classes-1)
	}
	return nil
}

// file names in a dataset directory; ".gz" may follow each.
var idxNames = [4]string{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// findIDX returns the path of base or base.gz in dir.
func findIDX(dir, base string) (string, error) {
	for _, name := range []string{base, base + ".gz"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", &FormatError{File: dir, Problem: fmt.Sprintf("missing %s (or %s.gz)", base, base)}
}

// LoadDir reads the four IDX files of dir with default options: the class
// count must be clear from the labels (see Options).
func LoadDir(dir string) (*Pair, error) { return LoadDirWith(dir, Options{}) }

// LoadDirWith reads the four IDX files of dir. Training and test images of
// different sizes are an error; the class count follows o.Classes.
func LoadDirWith(dir string, o Options) (*Pair, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("datasets: data directory %s does not exist: %w", dir, err)
		}
		return nil, fmt.Errorf("datasets: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("datasets: %s is not a directory", dir)
	}
	var paths [4]string
	for i, b := range idxNames {
		if paths[i], err = findIDX(dir, b); err != nil {
			return nil, err
		}
	}
	train, test, err := loadIDXPair(paths)
	if err != nil {
		return nil, err
	}
	train.Name = filepath.Base(dir) + "/train"
	test.Name = filepath.Base(dir) + "/test"
	// Runs record Dir to find their data again from any working directory.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	p := &Pair{Dir: dir, Layout: LayoutIDX, Train: train, Test: test}
	if err := setClasses(p, o.Classes, paths[1], paths[3]); err != nil {
		return nil, err
	}
	// MNIST's files are not sorted by class; a set whose are gets
	// interleaved, so that Subset is a fair sample.
	interleave(train)
	interleave(test)
	return p, nil
}

// loadIDXPair reads the four IDX files (train images, train labels,
// test images, test labels). It opens all four and reads and cross-checks
// their headers (each split's image count against its label count, the
// training image size against the test image size) before it reads any
// body: a compressed file declaring gigabytes costs nothing when the
// headers already disagree.
func loadIDXPair(paths [4]string) (train, test *Set, err error) {
	var hs [4]*idxHeader
	for i, p := range paths {
		fh, size, err := openRegular(p)
		if err != nil {
			return nil, nil, err
		}
		defer fh.Close()
		if i%2 == 0 {
			hs[i], err = readImageHeader(fh, p, size)
		} else {
			hs[i], err = readLabelHeader(fh, p, size)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	for i := 0; i < 4; i += 2 {
		if hs[i+1].n != hs[i].n {
			return nil, nil, formatErr(paths[i+1], "%d labels for %d images in %s", hs[i+1].n, hs[i].n, filepath.Base(paths[i]))
		}
	}
	if hs[0].rows != hs[2].rows || hs[0].cols != hs[2].cols {
		return nil, nil, formatErr(paths[2], "test images are %dx%d, training images %dx%d", hs[2].rows, hs[2].cols, hs[0].rows, hs[0].cols)
	}
	var sets [2]*Set
	for k, name := range []string{"train", "test"} {
		im, err := hs[2*k].images()
		if err != nil {
			return nil, nil, err
		}
		lb, err := hs[2*k+1].labels()
		if err != nil {
			return nil, nil, err
		}
		sets[k] = &Set{Name: name, N: im.N, C: 1, H: im.Rows, W: im.Cols, Pix: im.Pix, Labels: lb}
	}
	return sets[0], sets[1], nil
}
