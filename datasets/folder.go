package datasets

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tinyqat/tinyqat/internal/pixels"
)

// MaxImagePixels is the most pixels (width × height) one image file of a
// folder tree may declare: 2^24, a 4096×4096 image, more than a 12 MP
// photo. The size is read from the file's header (DecodeConfig) before
// the image is decoded, so a small file declaring a huge image costs
// nothing; decoding one image then takes at most about 11·MaxImagePixels
// bytes, per worker: the decoded image (up to 8 bytes a pixel, a 16-bit
// PNG's) and, when it is resized, its CHW copy (up to 3).
var MaxImagePixels = 1 << 24

// maxFolderDepth bounds how deep images may sit below a class folder.
const maxFolderDepth = 16

// imageFile is one image of a folder tree.
type imageFile struct {
	path  string
	label uint8
	size  int64
	mtime int64
}

// folderList is what listing a folder tree found.
type folderList struct {
	classes     []string
	split       [2][]imageFile // train, test
	skipped     int
	skippedEx   []string // the first few skipped files
	fingerprint string
}

// isImageName reports whether a file name has an image extension.
func isImageName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

func (l *folderList) skip(p string) {
	l.skipped++
	if len(l.skippedEx) < 3 {
		l.skippedEx = append(l.skippedEx, p)
	}
}

// listFolder lists DIR/{train,test}/CLASS/… and checks the classes.
func listFolder(dir string, o Options) (*folderList, error) {
	root, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	l := &folderList{}
	var classes [2][]string
	var splitSt [2]os.FileInfo
	for k, split := range []string{"train", "test"} {
		sd := filepath.Join(dir, split)
		st, err := os.Stat(sd)
		if err != nil {
			return nil, fmt.Errorf("datasets: image folders: missing %s: %w", sd, err)
		}
		if !st.IsDir() {
			return nil, formatErr(sd, "not a directory (want one folder per class)")
		}
		splitSt[k] = st
		ents, err := os.ReadDir(sd)
		if err != nil {
			return nil, fmt.Errorf("datasets: %w", err)
		}
		for _, e := range ents {
			p := filepath.Join(sd, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				l.skip(p)
				continue
			}
			st, err := os.Stat(p)
			if err != nil {
				return nil, statErr(p, err)
			}
			if st.IsDir() {
				classes[k] = append(classes[k], e.Name())
			} else {
				l.skip(p)
			}
		}
		slices.Sort(classes[k])
		if len(classes[k]) == 0 {
			return nil, formatErr(sd, "no class folders")
		}
	}
	for k, other := range []int{1, 0} {
		for _, c := range classes[k] {
			if _, found := slices.BinarySearch(classes[other], c); !found {
				have, miss := []string{"train", "test"}[k], []string{"train", "test"}[other]
				return nil, formatErr(filepath.Join(dir, miss, c), "class %q is in %s but missing from %s (both splits need the same class folders)", c, have, miss)
			}
		}
	}
	l.classes = classes[0]
	if len(l.classes) < 2 || len(l.classes) > 256 {
		return nil, formatErr(dir, "%d class folders, want 2 to 256", len(l.classes))
	}
	for _, c := range l.classes {
		if err := checkClassName(c); err != nil {
			return nil, formatErr(filepath.Join(dir, "train"), "class folder %q: %v in its name (a model file prints its class names; rename the folder in train and test)", c, err)
		}
	}
	if err := checkClassCount(dir, l.classes, o); err != nil {
		return nil, err
	}
	for k, split := range []string{"train", "test"} {
		for label, c := range l.classes {
			cd := filepath.Join(dir, split, c)
			st, err := os.Stat(cd)
			if err != nil {
				return nil, fmt.Errorf("datasets: %w", err)
			}
			before := len(l.split[k])
			if err := l.walk(cd, uint8(label), k, 0, []os.FileInfo{root, splitSt[k], st}); err != nil {
				return nil, err
			}
			if len(l.split[k]) == before {
				return nil, formatErr(cd, "class folder holds no images (.png, .jpg, .jpeg)")
			}
		}
		// Listed class by class; kept interleaved, so that the first n
		// images (Set.Subset, --train-limit) are a fair sample.
		l.split[k] = interleaveFiles(l.split[k])
	}
	h := sha256.New()
	fmt.Fprintf(h, "tinyqat image folders v2\x00resize %dx%d\x00", o.ResizeH, o.ResizeW)
	for _, c := range l.classes {
		fmt.Fprintf(h, "class %s\x00", c)
	}
	for k := range l.split {
		for _, f := range l.split[k] {
			rel, _ := filepath.Rel(dir, f.path)
			fmt.Fprintf(h, "%d %d %s\x00", k, f.label, rel)
			h.Write(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(f.size)), uint64(f.mtime)))
		}
	}
	l.fingerprint = hex.EncodeToString(h.Sum(nil))
	return l, nil
}

// walk adds the images under d (a class folder or below) to split k.
// Directory symlinks are followed, but one that leads back to a folder
// on the way down is a loop and an error, and depth is bounded.
func (l *folderList) walk(d string, label uint8, k, depth int, ancestors []os.FileInfo) error {
	ents, err := os.ReadDir(d)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(d, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			l.skip(p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return statErr(p, err)
		}
		if st.IsDir() {
			for _, a := range ancestors {
				if os.SameFile(a, st) {
					return formatErr(p, "directory loop: leads back to a folder above it")
				}
			}
			if depth+1 > maxFolderDepth {
				return formatErr(p, "more than %d folder levels below the class folder", maxFolderDepth)
			}
			if err := l.walk(p, label, k, depth+1, append(ancestors[:len(ancestors):len(ancestors)], st)); err != nil {
				return err
			}
			continue
		}
		if !isImageName(e.Name()) {
			l.skip(p)
			continue
		}
		if !st.Mode().IsRegular() {
			return notRegular(p, st.Mode())
		}
		l.split[k] = append(l.split[k], imageFile{path: p, label: label, size: st.Size(), mtime: st.ModTime().UnixNano()})
	}
	return nil
}

// statErr is the error of os.Stat(p): a symbolic link whose target is
// missing (or a loop of links) is named as a link, with its target.
func statErr(p string, err error) error {
	var pe *fs.PathError
	if t, lerr := os.Readlink(p); lerr == nil && errors.As(err, &pe) {
		return &FormatError{File: p, Problem: fmt.Sprintf("broken symbolic link (to %s): %v", t, pe.Err), Err: err}
	}
	return fmt.Errorf("datasets: %w", err)
}

// imageFormat is the format of an image stream, from its first bytes.
func imageFormat(br *bufio.Reader, path string) (string, error) {
	head, _ := br.Peek(8)
	switch {
	case len(head) == 8 && string(head) == "\x89PNG\r\n\x1a\n":
		return "png", nil
	case len(head) >= 2 && head[0] == 0xff && head[1] == 0xd8:
		return "jpeg", nil
	}
	return "", formatErr(path, "not a PNG or JPEG file")
}

// imageInfo is what an image file's header says.
type imageInfo struct {
	w, h int
	grey bool
}

// readImageInfo reads an image's header only and checks its size.
func readImageInfo(path string) (imageInfo, error) {
	fh, size, err := openRegular(path)
	if err != nil {
		return imageInfo{}, err
	}
	defer fh.Close()
	if size == 0 {
		return imageInfo{}, formatErr(path, "empty file (0 bytes)")
	}
	br := bufio.NewReader(fh)
	format, err := imageFormat(br, path)
	if err != nil {
		return imageInfo{}, err
	}
	var cfg image.Config
	if format == "png" {
		cfg, err = png.DecodeConfig(br)
	} else {
		cfg, err = jpeg.DecodeConfig(br)
	}
	if err != nil {
		return imageInfo{}, formatErr(path, "undecodable %s header: %v", format, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > int64(MaxImagePixels) {
		return imageInfo{}, formatErr(path, "declares %dx%d pixels (width x height): outside [1, %d] pixels (datasets.MaxImagePixels; scale larger photos down before training)", cfg.Width, cfg.Height, MaxImagePixels)
	}
	return imageInfo{w: cfg.Width, h: cfg.Height, grey: isGreyModel(cfg.ColorModel)}, nil
}

// isGreyModel reports whether every colour of m is a grey.
func isGreyModel(m color.Model) bool {
	switch m {
	case color.GrayModel, color.Gray16Model:
		return true
	}
	if p, ok := m.(color.Palette); ok {
		for _, c := range p {
			r, g, b, _ := c.RGBA()
			if r != g || g != b {
				return false
			}
		}
		return true
	}
	return false
}

// decodeImage decodes path (a w×h image, as its header said) into dst
// as c planes of oh×ow bytes.
func decodeImage(dst []uint8, path string, c, w, h, oh, ow int) error {
	fh, _, err := openRegular(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	format, err := imageFormat(br, path)
	if err != nil {
		return err
	}
	var img image.Image
	if format == "png" {
		img, err = png.Decode(br)
	} else {
		img, err = jpeg.Decode(br)
	}
	if err != nil {
		return formatErr(path, "undecodable %s: %v", format, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		return formatErr(path, "decoded as %dx%d, but its header said %dx%d (changed while read?)", b.Dx(), b.Dy(), w, h)
	}
	if w == ow && h == oh {
		toCHW(dst, img, c)
		return nil
	}
	full := make([]uint8, c*w*h)
	toCHW(full, img, c)
	Resize(dst, full, c, h, w, oh, ow)
	return nil
}

// toCHW writes img's pixels into dst as c planes (1: grey, 3: red,
// green, blue). Grey images fill all three planes alike; transparency is
// composited over black (RGB premultiplied by alpha). It is
// pixels.ToCHW, which imageinput shares.
func toCHW(dst []uint8, img image.Image, c int) { pixels.ToCHW(dst, img, c) }

// parallel calls f(0) … f(n−1) on at most workers goroutines. After a
// failure no new call starts; the error returned is the failed call's
// of the lowest index.
func parallel(n, workers int, f func(i int) error) error {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)
	errAt := make([]int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs[w], errAt[w] = err, i
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	var first error
	at := n
	for w, err := range errs {
		if err != nil && errAt[w] < at {
			first, at = err, errAt[w]
		}
	}
	return first
}

// loadFolder reads an image-folder tree, from the cache when it is up to date.
func loadFolder(dir string, o Options) (*Pair, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	l, err := listFolder(dir, o)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if l.skipped > 0 {
		warnings = append(warnings, fmt.Sprintf("skipped %d %s that %s not .png, .jpg or .jpeg images (or %s hidden), such as %s", l.skipped, plural(l.skipped, "file", "files"), plural(l.skipped, "is", "are"), plural(l.skipped, "is", "are"), strings.Join(l.skippedEx, ", ")))
	}
	cachePath := ""
	if !o.NoCache {
		cdir := o.CacheDir
		if cdir == "" {
			if cdir, err = DefaultCacheDir(); err != nil {
				warnings = append(warnings, fmt.Sprintf("no cache: %v", err))
			}
		}
		if cdir != "" {
			cachePath = folderCachePath(cdir, dir, o)
		}
	}
	finish := func(p *Pair) *Pair {
		p.Dir, p.Layout, p.Skipped, p.Cache = dir, LayoutFolder, l.skipped, cachePath
		p.Warnings = append(warnings, p.Warnings...)
		for s, name := range map[*Set]string{p.Train: "train", p.Test: "test"} {
			s.Name = filepath.Base(dir) + "/" + name
			s.Classes = len(l.classes)
			s.ClassNames = l.classes
		}
		return p
	}
	if cachePath != "" {
		p, err := readCache(cachePath, l.fingerprint, l.classes)
		if err == nil {
			p.Cached = true
			return finish(p), nil
		}
		if err != errStale && !os.IsNotExist(err) {
			warnings = append(warnings, fmt.Sprintf("cache %s was unusable (%v); decoding again", cachePath, err))
		}
	}
	p, err := decodeFolder(l, o)
	if err != nil {
		return nil, err
	}
	if cachePath != "" {
		if err := writeCache(cachePath, l.fingerprint, l.classes, p); err != nil {
			warnings = append(warnings, fmt.Sprintf("cache not written: %v", err))
			cachePath = ""
		}
	}
	return finish(p), nil
}

// decodeFolder decodes the listed images: first every header (sizes,
// colour models, limits), then the pixels.
func decodeFolder(l *folderList, o Options) (*Pair, error) {
	all := append(slices.Clip(l.split[0]), l.split[1]...)
	infos := make([]imageInfo, len(all))
	if err := parallel(len(all), o.Workers, func(i int) (err error) {
		infos[i], err = readImageInfo(all[i].path)
		return err
	}); err != nil {
		return nil, err
	}
	c := 1
	for _, in := range infos {
		if !in.grey {
			c = 3
			break
		}
	}
	h, w := o.ResizeH, o.ResizeW
	if h == 0 {
		h, w = infos[0].h, infos[0].w
		for i, in := range infos {
			if in.h != h || in.w != w {
				return nil, formatErr(all[i].path, "image is %dx%d (height x width, as --resize HxW), but %s is %dx%d: images must share one size, or be resized when loaded (--resize HxW; in Go, Options.ResizeH and ResizeW)",
					in.h, in.w, all[0].path, h, w)
			}
		}
	}
	sz := c * h * w
	var sets [2]*Set
	for k := range sets {
		n := len(l.split[k])
		if int64(n)*int64(sz) > MaxDataBytes {
			return nil, formatErr(filepath.Dir(filepath.Dir(l.split[k][0].path)), "%d images of %dx%dx%d: more than the %d-byte limit (datasets.MaxDataBytes)", n, c, h, w, int64(MaxDataBytes))
		}
		s := &Set{N: n, C: c, H: h, W: w, Pix: make([]uint8, n*sz), Labels: make([]uint8, n)}
		for i, f := range l.split[k] {
			s.Labels[i] = f.label
		}
		sets[k] = s
	}
	ntr := len(l.split[0])
	if err := parallel(len(all), o.Workers, func(i int) error {
		s, j := sets[0], i
		if i >= ntr {
			s, j = sets[1], i-ntr
		}
		return decodeImage(s.Pix[j*sz:(j+1)*sz], all[i].path, c, infos[i].w, infos[i].h, h, w)
	}); err != nil {
		return nil, err
	}
	return &Pair{Train: sets[0], Test: sets[1]}, nil
}
