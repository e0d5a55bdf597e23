package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// IDX magic numbers: two zero bytes, type 0x08 (unsigned byte), then the
// number of dimensions.
const (
	imageMagic = 0x00000803
	labelMagic = 0x00000801
)

// Limits that keep a corrupt header from asking for absurd allocations.
const (
	maxSide   = 1 << 12 // rows or columns of one image
	maxImages = 1 << 26 // samples in one file
)

// MaxDataBytes is the most pixel data (count × rows × columns bytes) the
// header of one image file may declare: 2 GiB. A header declaring more is
// refused before any pixel is read, whether the file is raw or gzip (a
// decompression bomb cannot be told from a big file by its compressed
// size). Real IDX datasets are far below it: MNIST's training images are
// 47 MB, Fashion-MNIST's and KMNIST's the same, CIFAR-10 written as IDX
// 154 MB, EMNIST ByClass, the largest, 547 MB; so the limit leaves about
// four times the largest headroom while keeping a dataset (training plus
// test images, held as bytes) within a few GiB of memory. Without it the
// header's own bounds (2^26 images of 4096×4096) would allow 2^50 bytes.
const MaxDataBytes = 1 << 31

// readChunk is the first buffer size for a stream of unknown length; the
// buffer then doubles only when data has filled it (see readExactly).
const readChunk = 1 << 16

// FormatError reports a file that is not a valid IDX file, or a set of files
// that do not belong together.
type FormatError struct {
	File    string // path or name of the offending file
	Problem string
	Err     error // the underlying error, if any (Unwrap)
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("datasets: %s: %s", e.File, e.Problem)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(file, format string, args ...any) error {
	return &FormatError{File: file, Problem: fmt.Sprintf(format, args...)}
}

// Images is the content of an idx3 file: N images of Rows×Cols bytes, row-major.
type Images struct {
	N, Rows, Cols int
	Pix           []uint8
}

// ReadImagesFile reads an idx3 image file, raw or gzip-compressed. Only a
// regular file is read (a named pipe or a device is refused before it is
// opened); a raw file must be exactly as long as its header says, which is
// checked before the pixels are read.
func ReadImagesFile(path string) (*Images, error) {
	var im *Images
	err := withFile(path, func(r io.Reader, size int64) (err error) {
		im, err = readImages(r, path, size)
		return err
	})
	return im, err
}

// ReadLabelsFile reads an idx1 label file, raw or gzip-compressed, with
// the checks of ReadImagesFile.
func ReadLabelsFile(path string) ([]uint8, error) {
	var l []uint8
	err := withFile(path, func(r io.Reader, size int64) (err error) {
		l, err = readLabels(r, path, size)
		return err
	})
	return l, err
}

// withFile calls f with the open file and its size (see openRegular).
func withFile(path string, f func(r io.Reader, size int64) error) error {
	fh, size, err := openRegular(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return f(fh, size)
}

// openRegular opens path, which must be a regular file, and returns it
// with its size. It stats path before opening it: opening a named pipe
// blocks until a writer appears, a device such as /dev/zero never ends,
// and opening some devices has side effects. It stats the open file
// again, since the path may have been replaced in between. findIDX
// screens a directory's files too, but ReadImagesFile and ReadLabelsFile
// are exported and take any path.
func openRegular(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, notRegular(path, st.Mode())
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	if st, err = fh.Stat(); err != nil {
		fh.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, 0, notRegular(path, st.Mode())
	}
	return fh, st.Size(), nil
}

// notRegular is the module's one not-a-regular-file error (wrapping
// stfile.ErrNotRegular, naming what the file is) as a FormatError for
// path.
func notRegular(path string, m fs.FileMode) error {
	err := fmt.Errorf("%w (%s)", stfile.ErrNotRegular, stfile.FileKind(m))
	return &FormatError{File: path, Problem: err.Error(), Err: err}
}

// ReadImages reads an idx3 image stream; name is used in error messages.
// The stream may be gzip-compressed. The data must hold exactly the number of
// bytes the header declares, at most MaxDataBytes. Memory grows with the
// data that actually arrives, not with what the header declares.
func ReadImages(r io.Reader, name string) (*Images, error) {
	return readImages(r, name, -1)
}

// readImages is ReadImages for a stream of size bytes (-1: unknown).
func readImages(r io.Reader, name string, size int64) (*Images, error) {
	h, err := readImageHeader(r, name, size)
	if err != nil {
		return nil, err
	}
	return h.images()
}

// idxHeader is an IDX stream whose header has been read: the reader is
// positioned at the data, avail is the number of bytes after the header
// when known (a raw file), -1 otherwise.
type idxHeader struct {
	r             io.Reader
	avail         int64
	name          string
	n, rows, cols int // rows and cols are 0 for labels
}

// images reads the pixels of an image header.
func (h *idxHeader) images() (*Images, error) {
	pix, err := readExactly(h.r, h.n*h.rows*h.cols, h.avail, h.name, "pixel data")
	if err != nil {
		return nil, err
	}
	return &Images{N: h.n, Rows: h.rows, Cols: h.cols, Pix: pix}, nil
}

// labels reads the labels of a label header.
func (h *idxHeader) labels() ([]uint8, error) {
	return readExactly(h.r, h.n, h.avail, h.name, "labels")
}

// readImageHeader reads and checks an idx3 header, without the pixels.
// A raw stream whose length disagrees with the header is refused here.
func readImageHeader(r io.Reader, name string, size int64) (*idxHeader, error) {
	r, size, err := decompress(r, name, size)
	if err != nil {
		return nil, err
	}
	var hdr [4]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr[0]); err != nil {
		return nil, formatErr(name, "image header truncated (%v)", err)
	}
	if hdr[0] != imageMagic {
		if hdr[0] == labelMagic {
			return nil, formatErr(name, "this is a label file (magic 0x%08x), want an image file (0x%08x)", hdr[0], imageMagic)
		}
		return nil, formatErr(name, "bad magic 0x%08x, want 0x%08x (idx3 unsigned bytes)", hdr[0], imageMagic)
	}
	if err := binary.Read(r, binary.BigEndian, hdr[1:]); err != nil {
		return nil, formatErr(name, "image header truncated (%v)", err)
	}
	n, rows, cols := int(hdr[1]), int(hdr[2]), int(hdr[3])
	switch {
	case n == 0 || n > maxImages:
		return nil, formatErr(name, "image count %d outside [1, %d]", n, maxImages)
	case rows == 0 || cols == 0 || rows > maxSide || cols > maxSide:
		return nil, formatErr(name, "image size %dx%d outside [1, %d]", rows, cols, maxSide)
	}
	// int64: on a 32-bit platform n·rows·cols can overflow an int.
	if total := int64(n) * int64(rows) * int64(cols); total > MaxDataBytes || total > math.MaxInt {
		return nil, formatErr(name, "header declares %d images of %dx%d, %d bytes of pixel data: more than the %d-byte limit (datasets.MaxDataBytes)",
			n, rows, cols, total, int64(min(MaxDataBytes, math.MaxInt)))
	}
	h := &idxHeader{r: r, avail: -1, name: name, n: n, rows: rows, cols: cols}
	if size >= 0 {
		h.avail = size - 16
		if err := checkAvail(n*rows*cols, h.avail, name, "pixel data"); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// ReadLabels reads an idx1 label stream; name is used in error messages.
// Like ReadImages, memory grows with the data that actually arrives.
func ReadLabels(r io.Reader, name string) ([]uint8, error) {
	return readLabels(r, name, -1)
}

// readLabels is ReadLabels for a stream of size bytes (-1: unknown).
func readLabels(r io.Reader, name string, size int64) ([]uint8, error) {
	h, err := readLabelHeader(r, name, size)
	if err != nil {
		return nil, err
	}
	return h.labels()
}

// readLabelHeader reads and checks an idx1 header, without the labels.
func readLabelHeader(r io.Reader, name string, size int64) (*idxHeader, error) {
	r, size, err := decompress(r, name, size)
	if err != nil {
		return nil, err
	}
	var hdr [2]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr[0]); err != nil {
		return nil, formatErr(name, "label header truncated (%v)", err)
	}
	if hdr[0] != labelMagic {
		if hdr[0] == imageMagic {
			return nil, formatErr(name, "this is an image file (magic 0x%08x), want a label file (0x%08x)", hdr[0], labelMagic)
		}
		return nil, formatErr(name, "bad magic 0x%08x, want 0x%08x (idx1 unsigned bytes)", hdr[0], labelMagic)
	}
	if err := binary.Read(r, binary.BigEndian, &hdr[1]); err != nil {
		return nil, formatErr(name, "label header truncated (%v)", err)
	}
	n := int(hdr[1])
	if n == 0 || n > maxImages {
		return nil, formatErr(name, "label count %d outside [1, %d]", n, maxImages)
	}
	// n ≤ maxImages bounds labels to 64 MiB, below MaxDataBytes.
	h := &idxHeader{r: r, avail: -1, name: name, n: n}
	if size >= 0 {
		h.avail = size - 8
		if err := checkAvail(n, h.avail, name, "labels"); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// checkAvail compares the n bytes a header declares with the avail bytes
// a raw file holds after it (avail < 0: unknown, no check).
func checkAvail(n int, avail int64, name, what string) error {
	switch {
	case avail >= 0 && avail < int64(n):
		return formatErr(name, "truncated: header declares %d bytes of %s, file has %d", n, what, avail)
	case avail > int64(n):
		return formatErr(name, "%d bytes of %s declared, but the file is longer (%d bytes after the header)", n, what, avail)
	}
	return nil
}

// readExactly reads n bytes and checks that nothing follows them. avail
// is the number of bytes left in the stream when known (a raw file: its
// size less the header), negative otherwise.
//
// With avail known, a mismatch is reported before anything is allocated,
// and a match allocates n bytes at once: the file really holds them. With
// avail unknown (gzip, or a caller's stream), the buffer starts at
// readChunk and doubles only when data has filled it, up to n: a header
// that lies about a short stream costs about what the stream delivers
// (under four times it, counting the copies), never what it declares.
func readExactly(r io.Reader, n int, avail int64, name, what string) ([]uint8, error) {
	if err := checkAvail(n, avail, name, what); err != nil {
		return nil, err
	}
	var buf []byte
	if avail >= 0 {
		buf = make([]byte, 0, n)
	} else {
		buf = make([]byte, 0, min(n, readChunk))
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			// A raw file that shrank since its size was taken ends here too.
			return nil, formatErr(name, "truncated: header declares %d bytes of %s, file has %d", n, what, len(buf))
		case err != nil:
			var fe *FormatError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, formatErr(name, "reading %s: %v", what, err)
		}
	}
	// Checked even when avail matched: the file may have grown since.
	var one [1]byte
	if k, err := io.ReadFull(r, one[:]); k > 0 {
		return nil, formatErr(name, "%d bytes of %s declared, but the file is longer", n, what)
	} else if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, formatErr(name, "reading past %s: %v", what, err)
	}
	return buf, nil
}

// decompress returns a reader of the uncompressed content and its size:
// size, the raw stream's, for a raw stream, -1 (unknown) for gzip, which
// is detected from its two magic bytes.
func decompress(r io.Reader, name string, size int64) (io.Reader, int64, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, formatErr(name, "%v", err)
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, formatErr(name, "bad gzip stream: %v", err)
		}
		return &gzipChecked{zr: zr, name: name}, -1, nil
	}
	return br, size, nil
}

// gzipChecked turns gzip errors (bad checksum, truncated stream) into
// FormatErrors naming the file.
type gzipChecked struct {
	zr   *gzip.Reader
	name string
}

func (g *gzipChecked) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = formatErr(g.name, "corrupt gzip data: %v", err)
	}
	return n, err
}
