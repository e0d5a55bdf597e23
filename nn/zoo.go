package nn

import "fmt"

// ResNet8 returns the layers of resnet8, a small ResNet (He et al. 2016)
// for 28×28 inputs: a 3×3 convolution to 16 channels with batch
// normalization and ReLU, three stages of one BasicBlock each at 16, 32
// and 64 channels with stride 2 (28 → 14 → 7 → 4), each with a 1×1
// projection shortcut with batch normalization, then global average
// pooling and a linear classifier: 8 weighted layers on the main path,
// 2.69 M multiply-accumulates per image.
//
// On MNIST it overfits without augmentation (99.40% after 10 epochs, with
// Adam or with SGD and weight decay); with random shifts of up to 2 pixels
// it reaches 99.53% (train --shift 2 --epochs 15, default Adam 3e-3,
// cosine). Strides 2, 2, 1 (4.58 M MACs) reach 99.53% without augmentation
// with SGD (lr 0.05, weight decay 5e-4, 10 epochs).
func ResNet8(classes int) []Layer {
	layers := []Layer{&Conv2D{Name: "conv1", Out: 16, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU{}}
	for i, st := range []struct{ ch, stride int }{{16, 2}, {32, 2}, {64, 2}} {
		layers = append(layers, basicBlock(fmt.Sprintf("layer%d", i+1), st.ch, st.stride, true))
	}
	return append(layers, &GlobalAvgPool{Name: "pool"}, &Linear{Name: "fc", Out: classes})
}

// basicBlock is conv3×3(stride)+BN+ReLU, conv3×3+BN, added to the input
// (through a 1×1 convolution with BN when project), then ReLU.
func basicBlock(name string, ch, stride int, project bool) *Residual {
	r := &Residual{Name: name, ReLU: true, Body: []Layer{
		&Conv2D{Name: name + ".conv1", Out: ch, K: 3, Stride: stride, Pad: 1}, &BatchNorm2D{Name: name + ".bn1"}, &ReLU{},
		&Conv2D{Name: name + ".conv2", Out: ch, K: 3, Pad: 1}, &BatchNorm2D{Name: name + ".bn2"},
	}}
	if project {
		r.Shortcut = []Layer{&Conv2D{Name: name + ".down", Out: ch, K: 1, Stride: stride}, &BatchNorm2D{Name: name + ".down_bn"}}
	}
	return r
}

// MobileNetTiny returns the layers of mobilenet-tiny, a MobileNet (Howard
// et al. 2017) for 28×28 inputs: a 3×3 stride-2 convolution to 16
// channels (14×14), then depthwise-separable blocks, each a depthwise 3×3
// convolution (Groups = channels) and a pointwise 1×1 convolution, both
// with batch normalization and ReLU6: 16 → 32 at 14×14, 32 → 64 at 7×7
// (stride 2), 64 → 64 at 7×7; global average pooling and a linear
// classifier.
func MobileNetTiny(classes int) []Layer {
	layers := []Layer{&Conv2D{Name: "conv1", Out: 16, K: 3, Stride: 2, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU6{}}
	in := 16
	for i, b := range []struct{ out, stride int }{{32, 1}, {64, 2}, {64, 1}} {
		name := fmt.Sprintf("block%d", i+1)
		layers = append(layers,
			&Conv2D{Name: name + ".dw", Out: in, K: 3, Stride: b.stride, Pad: 1, Groups: in}, &BatchNorm2D{Name: name + ".dw_bn"}, &ReLU6{},
			&Conv2D{Name: name + ".pw", Out: b.out, K: 1}, &BatchNorm2D{Name: name + ".pw_bn"}, &ReLU6{},
		)
		in = b.out
	}
	return append(layers, &GlobalAvgPool{Name: "pool"}, &Linear{Name: "fc", Out: classes})
}

// ResNet8MLPerf returns the layers of resnet8-mlperf, MLPerf Tiny's
// image-classification reference model (resnet_v1_eembc in
// mlcommons/tiny, benchmark/training/image_classification/keras_model.py,
// the 16-filter revision; the newest revision defaults to 26 filters) for
// CIFAR-10 (32×32×3, 10 classes), layer for layer:
//
//   - a 3×3 stride-1 convolution to 16 channels, batch normalization, ReLU;
//   - three stacks of one residual block, 16 channels at stride 1, 32 at
//     stride 2, 64 at stride 2 (32×32 → 16×16 → 8×8): conv 3×3 with the
//     stack's stride, BN, ReLU, conv 3×3, BN, added to the shortcut, then ReLU; the
//     shortcut is the identity in the first stack and a 1×1 stride-2
//     convolution with a bias and no batch normalization in the others
//     (as in the reference);
//   - average pooling over the whole 8×8 map (the reference's
//     AveragePooling2D with the pool size of the map), a dense classifier.
//
// 77,946 trainable parameters and 480 batch-norm statistics (the
// reference's Keras count is 78,186 trainable + 480 statistics = 78,666:
// its convolutions before a batch normalization have a bias each, 240
// values that the batch normalization's β makes redundant) and
// 12,501,632 multiply-accumulates per 32×32 image. The strided 3×3
// convolutions pad one pixel on every side, as PyTorch peers do; Keras's
// "same" pads the bottom and right only (same shapes and counts).
func ResNet8MLPerf(classes int) []Layer {
	layers := []Layer{&Conv2D{Name: "conv1", Out: 16, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU{}}
	for i, st := range []struct{ ch, stride int }{{16, 1}, {32, 2}, {64, 2}} {
		name := fmt.Sprintf("stack%d", i+1)
		r := &Residual{Name: name, ReLU: true, Body: []Layer{
			&Conv2D{Name: name + ".conv1", Out: st.ch, K: 3, Stride: st.stride, Pad: 1}, &BatchNorm2D{Name: name + ".bn1"}, &ReLU{},
			&Conv2D{Name: name + ".conv2", Out: st.ch, K: 3, Pad: 1}, &BatchNorm2D{Name: name + ".bn2"},
		}}
		if st.stride != 1 {
			r.Shortcut = []Layer{&Conv2D{Name: name + ".shortcut", Out: st.ch, K: 1, Stride: st.stride}}
		}
		layers = append(layers, r)
	}
	return append(layers, &GlobalAvgPool{Name: "pool"}, &Linear{Name: "fc", Out: classes})
}

// ResNet20 returns the layers of resnet20, the CIFAR-10 ResNet of He et
// al. 2016 (§4.2, n = 3: 6n+2 = 20 weighted layers): a 3×3 convolution to
// 16 channels with batch normalization and ReLU, three stages of three
// basic blocks at 16, 32 and 64 channels (the first block of the second
// and third stages has stride 2: 32×32 → 16×16 → 8×8), global average
// pooling and a linear classifier.
//
// Shortcuts: identity where the shape is kept; where it changes (two
// blocks) a 1×1 stride-2 projection with batch normalization — the
// paper's option B. Its CIFAR models use option A (subsampling and zero
// channels, no parameters), which the integer runtime has no layer for;
// option B costs 2,752 parameters more (272,474 against 269,722) and
// 262,144 multiply-accumulates more (40,813,184 per 32×32 image, against
// option A's 40,551,040).
func ResNet20(classes int) []Layer {
	layers := []Layer{&Conv2D{Name: "conv1", Out: 16, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU{}}
	in := 16
	for i, st := range []struct{ ch, stride int }{{16, 1}, {32, 2}, {64, 2}} {
		for b := 0; b < 3; b++ {
			stride := 1
			if b == 0 {
				stride = st.stride
			}
			layers = append(layers, basicBlock(fmt.Sprintf("layer%d.%d", i+1, b), st.ch, stride, stride != 1 || in != st.ch))
			in = st.ch
		}
	}
	return append(layers, &GlobalAvgPool{Name: "pool"}, &Linear{Name: "fc", Out: classes})
}
