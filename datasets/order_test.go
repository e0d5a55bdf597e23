package datasets

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A folder tree is listed class by class; Open interleaves it, so the
// first n images hold every class in turn (--train-limit used to train on
// the first class only).
func TestOpenFolderInterleaved(t *testing.T) {
	files := map[string][]byte{"test/a/1.png": nil, "test/b/1.png": nil, "test/c/1.png": nil}
	// Pixel base 10·class + index identifies each image.
	for _, f := range []struct {
		class string
		n     int
	}{{"a", 3}, {"b", 2}, {"c", 3}} {
		for i := 0; i < f.n; i++ {
			files["train/"+f.class+"/"+string(rune('1'+i))+".png"] = encPNG(t, greyImg(2, 2, uint8(10*(f.class[0]-'a')+uint8(i))))
		}
		files["test/"+f.class+"/1.png"] = encPNG(t, greyImg(2, 2, 0))
	}
	root := writeTree(t, files)
	for _, o := range []Options{noCache(), {CacheDir: t.TempDir()}, {CacheDir: filepath.Join(t.TempDir(), "c")}} {
		for pass := 0; pass < 2; pass++ { // the second pass reads the cache when there is one
			p, err := Open(root, o)
			if err != nil {
				t.Fatal(err)
			}
			// Round robin: a1 b1 c1 a2 b2 c2 a3 c3.
			want := []uint8{0, 10, 20, 1, 11, 21, 2, 22}
			var got []uint8
			for i := 0; i < p.Train.N; i++ {
				got = append(got, p.Train.Image(i)[0])
			}
			if !slices.Equal(got, want) || !slices.Equal(p.Train.Labels, []uint8{0, 1, 2, 0, 1, 2, 0, 2}) {
				t.Fatalf("pass %d (cached %v): images %v labels %v, want %v", pass, p.Cached, got, p.Train.Labels, want)
			}
			if sub := p.Train.Subset(3); !slices.Equal(sub.Labels, []uint8{0, 1, 2}) {
				t.Fatalf("Subset(3) labels %v", sub.Labels)
			}
		}
	}
}

// IDX and CIFAR files sorted by class are interleaved too; unsorted
// ones (MNIST's) keep their order.
func TestOpenIDXInterleaved(t *testing.T) {
	for _, tc := range []struct {
		labels, want []byte
	}{
		{[]byte{0, 0, 1, 1, 2}, []byte{0, 1, 2, 0, 1}},
		{[]byte{1, 0, 2, 2, 0}, []byte{1, 0, 2, 2, 0}},
	} {
		dir := t.TempDir()
		pix := []byte{0, 1, 2, 3, 4} // 1×1 images: pixel = original index
		for name, data := range map[string][]byte{
			"train-images-idx3-ubyte": idx3(5, 1, 1, pix), "train-labels-idx1-ubyte": idx1(tc.labels),
			"t10k-images-idx3-ubyte": idx3(3, 1, 1, pix[:3]), "t10k-labels-idx1-ubyte": idx1([]byte{0, 1, 2}),
		} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Train.Labels, tc.want) {
			t.Fatalf("labels %v: got %v, want %v", tc.labels, p.Train.Labels, tc.want)
		}
		for i, px := range p.Train.Pix { // each pixel moved with its label
			if tc.labels[px] != p.Train.Labels[i] {
				t.Fatalf("labels %v: sample %d is original %d with label %d", tc.labels, i, px, p.Train.Labels[i])
			}
		}
	}
}
