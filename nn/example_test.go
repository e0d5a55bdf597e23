package nn_test

import (
	"fmt"

	"github.com/tinyqat/tinyqat/nn"
)

// Every tensor the int8 runtime quantizes has a slot; a quantizer passed to
// Model.Build decides what happens there (nil: float).
func ExampleNew() {
	m, err := nn.New("lenet300", nn.Shape{C: 1, H: 28, W: 28}, 10, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.NumParams(), "parameters,", m.MACs(), "multiply-accumulates per image")
	for _, s := range m.Slots[:4] {
		fmt.Println(s.Name, s.Kind)
	}
	// Output:
	// 266610 parameters, 266200 multiply-accumulates per image
	// input activation
	// fc1.weight weight
	// fc1.bias bias
	// fc1.out activation
}

// A network of your own: conv + batch norm + ReLU, a residual block, a
// depthwise-separable stage with ReLU6, global average pooling. Batch
// normalization is folded into the convolution before it (its slots are
// the convolution's), ReLU/ReLU6 into the output slot, and the residual
// addition and the mean get output slots of their own.
func ExampleNewSequential() {
	layers := []nn.Layer{
		&nn.Conv2D{Name: "stem", Out: 8, K: 3, Stride: 2, Pad: 1}, &nn.BatchNorm2D{Name: "stem_bn"}, &nn.ReLU{},
		&nn.Residual{Name: "res", ReLU: true, Body: []nn.Layer{
			&nn.Conv2D{Name: "res.conv1", Out: 8, K: 3, Pad: 1}, &nn.BatchNorm2D{Name: "res.bn1"}, &nn.ReLU{},
			&nn.Conv2D{Name: "res.conv2", Out: 8, K: 3, Pad: 1}, &nn.BatchNorm2D{Name: "res.bn2"},
		}},
		&nn.Conv2D{Name: "dw", Out: 8, K: 3, Stride: 2, Pad: 1, Groups: 8}, &nn.BatchNorm2D{Name: "dw_bn"}, &nn.ReLU6{},
		&nn.Conv2D{Name: "pw", Out: 16, K: 1}, &nn.BatchNorm2D{Name: "pw_bn"}, &nn.ReLU6{},
		&nn.GlobalAvgPool{Name: "pool"},
		&nn.Linear{Name: "fc", Out: 10},
	}
	m, err := nn.NewSequential("mynet", nn.Shape{C: 1, H: 28, W: 28}, 10, layers, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(m.NumParams(), "parameters,", len(m.Buffers), "buffers,", m.MACs(), "multiply-accumulates per image")
	for _, s := range m.Slots {
		switch {
		case s.Add[0] != "":
			fmt.Printf("%s = %s + %s, ReLU %v\n", s.Name, s.Add[0], s.Add[1], s.ReLU)
		case s.MeanOf != "":
			fmt.Printf("%s = mean of %s\n", s.Name, s.MeanOf)
		case s.Max != 0:
			fmt.Printf("%s: ReLU clamped at %v\n", s.Name, s.Max)
		}
	}
	// The architecture as JSON (checkpoints store it; nn.FromSpec reads it).
	spec, err := m.Spec()
	if err != nil {
		panic(err)
	}
	m2, err := nn.FromSpec(spec, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println("rebuilt from its spec:", m2.Arch, m2.NumParams(), "parameters")
	// Output:
	// 1690 parameters, 10 buffers, 249864 multiply-accumulates per image
	// res.out = res.conv2.out + stem.out, ReLU true
	// dw.out: ReLU clamped at 6
	// pw.out: ReLU clamped at 6
	// pool.out = mean of pw.out
	// rebuilt from its spec: mynet 1690 parameters
}
