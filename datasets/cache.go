package datasets

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The cache file of an image-folder tree:
//
//	magic "TQIMGC01" (8 bytes)
//	header length L (uint32, little-endian), header (L bytes of JSON, cacheHeader)
//	train labels (N_train bytes), train pixels (N_train·C·H·W bytes, CHW)
//	test labels, test pixels
//	CRC-32C (Castagnoli) of everything before it (uint32, little-endian)
const (
	cacheMagic     = "TQIMGC01"
	maxCacheHeader = 1 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errStale: the cache file is sound but describes other source files.
var errStale = errors.New("cache is stale")

type cacheHeader struct {
	Fingerprint string   `json:"fingerprint"`
	C           int      `json:"c"`
	H           int      `json:"h"`
	W           int      `json:"w"`
	Train       int      `json:"train"`
	Test        int      `json:"test"`
	Classes     []string `json:"classes"`
}

// DefaultCacheDir is where decoded image folders are cached unless
// Options say otherwise: os.UserCacheDir()/tinyqat/datasets.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("datasets: no user cache directory: %w", err)
	}
	return filepath.Join(d, "tinyqat", "datasets"), nil
}

// folderCachePath names the cache file of the tree at dir (absolute)
// read with o's size: one file per source directory and size, replaced
// when the source changes.
func folderCachePath(cacheDir, dir string, o Options) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%dx%d", dir, o.ResizeH, o.ResizeW))
	return filepath.Join(cacheDir, "folder-"+hex.EncodeToString(h[:10])+".tqc")
}

// writeCache writes p to path atomically (a temporary file in the same
// directory, synced, then renamed over path).
func writeCache(path, fingerprint string, classes []string, p *Pair) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	hdr, err := json.Marshal(cacheHeader{Fingerprint: fingerprint, C: p.Train.C, H: p.Train.H, W: p.Train.W,
		Train: p.Train.N, Test: p.Test.N, Classes: classes})
	if err != nil {
		return err
	}
	removeStaleTemps(path)
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	crc := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<16)
	bw.WriteString(cacheMagic)
	bw.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(hdr))))
	bw.Write(hdr)
	for _, s := range []*Set{p.Train, p.Test} {
		bw.Write(s.Labels)
		bw.Write(s.Pix)
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if _, err = f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// staleAge is how old the temporary file of a cache write must be to be
// taken for one a killed process left: a write takes seconds.
const staleAge = time.Minute

// removeStaleTemps removes the leftover temporary files of earlier
// writes of path that were killed before their rename (each as large as
// the cache); a recent one may be another process's write in progress.
func removeStaleTemps(path string) {
	olds, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*"))
	for _, f := range olds {
		if st, err := os.Lstat(f); err == nil && st.Mode().IsRegular() && time.Since(st.ModTime()) > staleAge {
			os.Remove(f)
		}
	}
}

// readCache reads a cache file, trusting nothing in it: the header's
// sizes must give the file's exact length, the checksum must match, and
// the labels must be below the class count. It returns errStale when the
// file is sound but its fingerprint or classes are not the ones wanted.
func readCache(path, fingerprint string, classes []string) (*Pair, error) {
	fh, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	crc := crc32.New(crcTable)
	r := io.TeeReader(bufio.NewReaderSize(fh, 1<<16), crc)
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("truncated header: %w", err)
	}
	if string(pre[:8]) != cacheMagic {
		return nil, errors.New("bad magic")
	}
	hl := int64(binary.LittleEndian.Uint32(pre[8:]))
	if hl > maxCacheHeader || 12+hl > size {
		return nil, fmt.Errorf("header length %d in a %d-byte file", hl, size)
	}
	hb := make([]byte, hl)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("truncated header: %w", err)
	}
	var h cacheHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if h.Fingerprint != fingerprint || !slices.Equal(h.Classes, classes) {
		return nil, errStale
	}
	if (h.C != 1 && h.C != 3) || h.H < 1 || h.W < 1 || h.H > maxSide || h.W > maxSide ||
		h.Train < 1 || h.Test < 1 || h.Train > maxImages || h.Test > maxImages {
		return nil, fmt.Errorf("header describes %d+%d images of %dx%dx%d", h.Train, h.Test, h.C, h.H, h.W)
	}
	sz := int64(h.C * h.H * h.W)
	if int64(h.Train)*sz > MaxDataBytes || int64(h.Test)*sz > MaxDataBytes {
		return nil, fmt.Errorf("header describes more than the %d-byte limit", int64(MaxDataBytes))
	}
	if want := 12 + hl + int64(h.Train+h.Test)*(1+sz) + 4; want != size {
		return nil, fmt.Errorf("%d bytes, want %d", size, want)
	}
	var sets [2]*Set
	for k, n := range []int{h.Train, h.Test} {
		s := &Set{N: n, C: h.C, H: h.H, W: h.W, Labels: make([]uint8, n), Pix: make([]uint8, n*int(sz))}
		if _, err := io.ReadFull(r, s.Labels); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		if _, err := io.ReadFull(r, s.Pix); err != nil {
			return nil, fmt.Errorf("truncated: %w", err)
		}
		for i, l := range s.Labels {
			if int(l) >= len(classes) {
				return nil, fmt.Errorf("label %d of sample %d is not below %d", l, i, len(classes))
			}
		}
		sets[k] = s
	}
	sum := crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return nil, fmt.Errorf("truncated checksum: %w", err)
	}
	if got := binary.LittleEndian.Uint32(tail[:]); got != sum {
		return nil, fmt.Errorf("checksum 0x%08x, want 0x%08x", got, sum)
	}
	return &Pair{Train: sets[0], Test: sets[1]}, nil
}
