package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
}

// Size is the number of pixels of one sample, C·H·W.
func (s *Set) Size() int { return s.C * s.H * s.W }

// Image returns the raw pixels of sample i.
func (s *Set) Image(i int) []uint8 { return s.Pix[i*s.Size() : (i+1)*s.Size()] }

// Subset returns the first n samples (all of them if n <= 0 or n >= N),
// sharing memory with s.
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
	Dir         string
	Train, Test *Set
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

// LoadDir reads the four IDX files of dir. The class count is one more than
// the largest training label; a test label outside it is an error, as are
// training and test images of different sizes.
func LoadDir(dir string) (*Pair, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("datasets: data directory %s does not exist", dir)
		}
		return nil, fmt.Errorf("datasets: %v", err)
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
	train, err := loadSet(paths[0], paths[1], "train")
	if err != nil {
		return nil, err
	}
	test, err := loadSet(paths[2], paths[3], "test")
	if err != nil {
		return nil, err
	}
	if train.H != test.H || train.W != test.W {
		return nil, formatErr(paths[2], "test images are %dx%d, training images %dx%d", test.H, test.W, train.H, train.W)
	}
	if test.Classes > train.Classes {
		return nil, formatErr(paths[3], "test label %d never occurs in training (largest training label %d)", test.Classes-1, train.Classes-1)
	}
	if train.Classes < 2 {
		return nil, formatErr(paths[1], "all training labels are %d: need at least 2 classes", train.Classes-1)
	}
	test.Classes = train.Classes
	train.Name = filepath.Base(dir) + "/train"
	test.Name = filepath.Base(dir) + "/test"
	return &Pair{Dir: dir, Train: train, Test: test}, nil
}

func loadSet(imgPath, lblPath, name string) (*Set, error) {
	im, err := ReadImagesFile(imgPath)
	if err != nil {
		return nil, err
	}
	lb, err := ReadLabelsFile(lblPath)
	if err != nil {
		return nil, err
	}
	if len(lb) != im.N {
		return nil, formatErr(lblPath, "%d labels for %d images in %s", len(lb), im.N, filepath.Base(imgPath))
	}
	maxL := 0
	for _, l := range lb {
		maxL = max(maxL, int(l))
	}
	return &Set{Name: name, N: im.N, C: 1, H: im.Rows, W: im.Cols, Classes: maxL + 1, Pix: im.Pix, Labels: lb}, nil
}
