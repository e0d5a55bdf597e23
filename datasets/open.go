package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Layout names, as in Pair.Layout.
const (
	LayoutIDX     = "idx"
	LayoutFolder  = "folder"
	LayoutCIFAR10 = "cifar10"
)

// LayoutError reports a directory that matches none of the dataset layouts.
type LayoutError struct {
	Dir string
}

func (e *LayoutError) Error() string {
	return fmt.Sprintf("datasets: %s matches no dataset layout; accepted layouts:\n%s", e.Dir, layoutHelp)
}

const layoutHelp = `  IDX (MNIST and relatives): train-images-idx3-ubyte, train-labels-idx1-ubyte,
      t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz
  image folders: DIR/train/CLASS/*.png|jpg|jpeg and DIR/test/CLASS/*.png|jpg|jpeg
      (the same class folders in both splits)
  CIFAR-10 binary: cifar-10-batches-bin/ with data_batch_1.bin … data_batch_5.bin,
      test_batch.bin, batches.meta.txt (name the directory or its parent)`

// Open reads the dataset that path names, detecting its layout (see the
// package documentation): the four IDX files, an image-folder tree, or
// CIFAR-10's binary release (the cifar-10-batches-bin directory or its
// parent). "" means MNIST from the Go module cache. A directory that
// matches no layout gives a *LayoutError listing the accepted ones.
//
// Options.Resize applies to every layout; the cache only to image
// folders (IDX and CIFAR files are read as fast as a cache would be).
func Open(path string, o Options) (*Pair, error) {
	if path == "" {
		d, err := MNISTDir()
		if err != nil {
			return nil, err
		}
		path = d
	}
	if (o.ResizeH > 0) != (o.ResizeW > 0) || o.ResizeH < 0 || o.ResizeW < 0 {
		return nil, fmt.Errorf("datasets: resize %dx%d: give both sides, each at least 1", o.ResizeH, o.ResizeW)
	}
	if o.ResizeH > maxSide || o.ResizeW > maxSide {
		return nil, fmt.Errorf("datasets: resize %dx%d: sides above %d", o.ResizeH, o.ResizeW, maxSide)
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("datasets: data directory %s does not exist: %w", path, err)
		}
		return nil, fmt.Errorf("datasets: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("datasets: %s is not a directory\naccepted layouts:\n%s", path, layoutHelp)
	}
	var p *Pair
	switch layout, dir := detect(path); layout {
	case LayoutIDX:
		if p, err = LoadDirWith(dir, o); err == nil {
			err = resizePair(p, o)
		}
	case LayoutCIFAR10:
		if p, err = loadCIFAR10(dir, o); err == nil {
			interleave(p.Train) // CIFAR-10's own files are not sorted; others may be
			interleave(p.Test)
			err = resizePair(p, o)
		}
	case LayoutFolder:
		p, err = loadFolder(dir, o)
	default:
		return nil, &LayoutError{Dir: path}
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// detect names the layout of dir and the directory that holds it.
func detect(dir string) (string, string) {
	isFile := func(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }
	isDir := func(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }
	for _, b := range idxNames {
		if isFile(filepath.Join(dir, b)) || isFile(filepath.Join(dir, b+".gz")) {
			return LayoutIDX, dir
		}
	}
	for _, name := range append(cifarTrain[:], cifarTest, cifarMeta) {
		if isFile(filepath.Join(dir, name)) {
			return LayoutCIFAR10, dir
		}
	}
	if sub := filepath.Join(dir, cifarDir); isDir(sub) {
		return LayoutCIFAR10, sub
	}
	if isDir(filepath.Join(dir, "train")) || isDir(filepath.Join(dir, "test")) {
		return LayoutFolder, dir
	}
	return "", dir
}

// resizePair scales both sets of p to o's size when one is given.
func resizePair(p *Pair, o Options) error {
	if o.ResizeH == 0 {
		return nil
	}
	for _, s := range []*Set{p.Train, p.Test} {
		if s.H == o.ResizeH && s.W == o.ResizeW {
			continue
		}
		sz := s.C * o.ResizeH * o.ResizeW
		if int64(s.N)*int64(sz) > MaxDataBytes {
			return fmt.Errorf("datasets: %s resized to %dx%d would hold %d bytes, more than the %d-byte limit (datasets.MaxDataBytes)",
				s.Name, o.ResizeH, o.ResizeW, int64(s.N)*int64(sz), int64(MaxDataBytes))
		}
		pix := make([]uint8, s.N*sz)
		for i := 0; i < s.N; i++ {
			Resize(pix[i*sz:(i+1)*sz], s.Image(i), s.C, s.H, s.W, o.ResizeH, o.ResizeW)
		}
		s.Pix, s.H, s.W = pix, o.ResizeH, o.ResizeW
	}
	return nil
}

// ClassName is the name of class k: from the data when it names its
// classes (folder names, CIFAR's batches.meta.txt), else the number.
func (s *Set) ClassName(k int) string {
	if k >= 0 && k < len(s.ClassNames) {
		return s.ClassNames[k]
	}
	return fmt.Sprint(k)
}

// checkClassCount compares a layout's class names with Options.Classes.
func checkClassCount(dir string, names []string, o Options) error {
	if o.Classes > 0 && o.Classes != len(names) {
		return fmt.Errorf("datasets: %s has %d classes (%s), but %d were asked for", dir, len(names), strings.Join(names, ", "), o.Classes)
	}
	return nil
}
