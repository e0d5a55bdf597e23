package nn

import "fmt"

// ResNet8 returns the layers of resnet8, a small ResNet (He et al. 2016)
// for 28×28 inputs: a 3×3 convolution to 16 channels with batch
// normalization and ReLU, three stages of one BasicBlock each at 16, 32
// and 64 channels with strides 2, 2 and 1 (28 → 14 → 7 → 7), each with a
// 1×1 projection shortcut with batch normalization, then global average
// pooling and a linear classifier: 8 weighted layers on the main path.
//
// The strides: 2, 2, 2 (ending at 4×4) costs 2.7 M multiply-accumulates
// per image against 4.6 M, but reached 99.40% on MNIST (10 epochs, Adam
// or SGD with weight decay), this one 99.53% (SGD, lr 0.05, weight decay
// 5e-4, cosine, 10 epochs; with the trainer's default Adam 3e-3 and no
// weight decay it overfits to 99.38%).
func ResNet8(classes int) []Layer {
	layers := []Layer{&Conv2D{Name: "conv1", Out: 16, K: 3, Pad: 1}, &BatchNorm2D{Name: "bn1"}, &ReLU{}}
	for i, st := range []struct{ ch, stride int }{{16, 2}, {32, 2}, {64, 1}} {
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
