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
