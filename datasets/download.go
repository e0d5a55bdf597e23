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

// Bounds on what a download may deliver: the archive is 162 MiB, its
// largest member 30,730,000 bytes.
const (
	maxArchive = 256 << 20
	maxMember  = 64 << 20
)

// DownloadOptions say where DownloadCIFAR10 fetches from; the zero value
// means the official URL and checksum and http.DefaultClient.
type DownloadOptions struct {
	URL    string
	SHA256 string // hex
	Client *http.Client
}

// DownloadCIFAR10 makes dir/cifar-10-batches-bin, ready for Open(dir),
// unless it is already there. It downloads the archive into a temporary
// file in dir, checks its SHA-256 before extracting anything, extracts
// the members of cifar-10-batches-bin/ (plain file names only; any
// other entry is refused) into a temporary directory and renames that
// into place: an interrupted or failed download leaves no partial data
// set, and the temporary files are removed. It returns the directory.
func DownloadCIFAR10(ctx context.Context, dir string, o DownloadOptions) (string, error) {
	if o.URL == "" {
		o.URL = CIFAR10URL
	}
	if o.SHA256 == "" {
		o.SHA256 = CIFAR10SHA256
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
	archive, err := os.CreateTemp(dir, ".cifar-10-binary-*.tar.gz")
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	defer os.Remove(archive.Name())
	defer archive.Close()
	if err := fetchVerified(ctx, archive, o); err != nil {
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
	if err := extractCIFAR(archive, o.URL, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, target); err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	return target, nil
}

// fetchVerified downloads o.URL into f and checks its SHA-256.
func fetchVerified(ctx context.Context, f *os.File, o DownloadOptions) error {
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
		return fmt.Errorf("datasets: download %s: SHA-256 %s, want %s (%d bytes received): corrupt or not the CIFAR-10 binary archive", o.URL, got, o.SHA256, n)
	}
	return f.Sync()
}

// extractCIFAR writes the files of cifar-10-batches-bin/ in the tar.gz r into dir.
func extractCIFAR(r io.Reader, name, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return formatErr(name, "not a gzip archive: %v", err)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return formatErr(name, "bad tar archive: %v", err)
		}
		clean := path.Clean(hdr.Name)
		if hdr.Typeflag == tar.TypeDir && clean == cifarDir {
			continue
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
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("datasets: extract %s: %w", hdr.Name, err)
		}
		got = append(got, base)
	}
	for _, want := range append(cifarTrain[:], cifarTest, cifarMeta) {
		if !slices.Contains(got, want) {
			return formatErr(name, "archive lacks %s/%s", cifarDir, want)
		}
	}
	return nil
}
