package plots

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"

	"github.com/tinyqat/tinyqat/internal/stfile"
)

// Every chart carries a mark that says tinyqat drew it, so that a command
// asked to write a chart over an existing file can tell its own earlier
// chart (replace it) from a user's picture (refuse): a PNG gets a tEXt
// chunk "Software: tinyqat" right after its header chunk, an SVG a final
// XML comment.
var (
	pngSignature = []byte("\x89PNG\r\n\x1a\n")
	pngMarkKey   = []byte("Software\x00tinyqat")
	svgMark      = []byte("<!-- drawn by tinyqat -->\n")
)

// writeMarked writes what wt writes to path atomically, with the mark.
func writeMarked(path string, wt io.WriterTo) error {
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return err
	}
	b := mark(buf.Bytes())
	return stfile.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// mark returns a chart's bytes with tinyqat's mark added.
func mark(b []byte) []byte {
	// PNG: signature, then IHDR (4 length + 4 type + 13 data + 4 CRC).
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	if bytes.HasPrefix(b, pngSignature) && len(b) >= ihdrEnd {
		chunk := make([]byte, 0, 12+len(pngMarkKey))
		chunk = binary.BigEndian.AppendUint32(chunk, uint32(len(pngMarkKey)))
		chunk = append(chunk, "tEXt"...)
		chunk = append(chunk, pngMarkKey...)
		chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
		out := make([]byte, 0, len(b)+len(chunk))
		out = append(out, b[:ihdrEnd]...)
		out = append(out, chunk...)
		return append(out, b[ihdrEnd:]...)
	}
	return append(b, svgMark...)
}

// Drawn reports whether the file at path is a chart that tinyqat drew
// (it carries the mark). A missing or unreadable file is not.
func Drawn(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, pngSignature) {
		// The mark is the chunk right after IHDR.
		const at = 8 + 4 + 4 + 13 + 4
		return len(head) >= at+8+len(pngMarkKey) && string(head[at+4:at+8]) == "tEXt" &&
			bytes.Equal(head[at+8:at+8+len(pngMarkKey)], pngMarkKey)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() < int64(len(svgMark)) {
		return false
	}
	tail := make([]byte, len(svgMark))
	if _, err := f.ReadAt(tail, fi.Size()-int64(len(svgMark))); err != nil {
		return false
	}
	return bytes.Equal(tail, svgMark)
}
