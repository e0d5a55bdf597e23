package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Placeholder until the grouped convolution op (nn/groupconv*.go, branch
// h13-dw) is merged: grouped Conv2D layers are refused at setup.
const groupConvAvailable = false

func groupConv(l *Conv2D, x, w, bias *G.Node, needDX bool) (*G.Node, error) {
	return nil, fmt.Errorf("conv2d %s: grouped convolution is not available in this build yet", l.Name)
}
