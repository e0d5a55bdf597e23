package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
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

// FormatError reports a file that is not a valid IDX file, or a set of files
// that do not belong together.
type FormatError struct {
	File    string // path or name of the offending file
	Problem string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("datasets: %s: %s", e.File, e.Problem)
}

func formatErr(file, format string, args ...any) error {
	return &FormatError{File: file, Problem: fmt.Sprintf(format, args...)}
}

// Images is the content of an idx3 file: N images of Rows×Cols bytes, row-major.
type Images struct {
	N, Rows, Cols int
	Pix           []uint8
}

// ReadImagesFile reads an idx3 image file, raw or gzip-compressed.
func ReadImagesFile(path string) (*Images, error) {
	var im *Images
	err := withFile(path, func(r io.Reader) (err error) {
		im, err = ReadImages(r, path)
		return err
	})
	return im, err
}

// ReadLabelsFile reads an idx1 label file, raw or gzip-compressed.
func ReadLabelsFile(path string) ([]uint8, error) {
	var l []uint8
	err := withFile(path, func(r io.Reader) (err error) {
		l, err = ReadLabels(r, path)
		return err
	})
	return l, err
}

func withFile(path string, f func(io.Reader) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return f(fh)
}

// ReadImages reads an idx3 image stream; name is used in error messages.
// The stream may be gzip-compressed. The data must hold exactly the number of
// bytes the header declares.
func ReadImages(r io.Reader, name string) (*Images, error) {
	r, err := decompress(r, name)
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
	pix, err := readExactly(r, n*rows*cols, name, "pixel data")
	if err != nil {
		return nil, err
	}
	return &Images{N: n, Rows: rows, Cols: cols, Pix: pix}, nil
}

// ReadLabels reads an idx1 label stream; name is used in error messages.
func ReadLabels(r io.Reader, name string) ([]uint8, error) {
	r, err := decompress(r, name)
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
	return readExactly(r, n, name, "labels")
}

// readExactly reads n bytes and checks that nothing follows them.
// It grows its buffer as data arrives, so a header that lies about the size
// of a short file costs no large allocation.
func readExactly(r io.Reader, n int, name, what string) ([]uint8, error) {
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(r, int64(n)))
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, formatErr(name, "reading %s: %v", what, err)
	}
	if int(got) < n {
		return nil, formatErr(name, "truncated: header declares %d bytes of %s, file has %d", n, what, got)
	}
	var one [1]byte
	if k, err := io.ReadFull(r, one[:]); k > 0 {
		return nil, formatErr(name, "%d bytes of %s declared, but the file is longer", n, what)
	} else if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, formatErr(name, "reading past %s: %v", what, err)
	}
	return buf.Bytes(), nil
}

// decompress returns a reader of the uncompressed content: gzip is detected
// from its two magic bytes.
func decompress(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, formatErr(name, "%v", err)
	}
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, formatErr(name, "bad gzip stream: %v", err)
		}
		return &gzipChecked{zr: zr, name: name}, nil
	}
	return br, nil
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
