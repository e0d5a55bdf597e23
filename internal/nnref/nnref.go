// Package nnref lets the tests and benchmarks of other packages build nn
// graphs from Gorgonia's generic operations (Mul, Conv2d, BroadcastAdd,
// Rectify) instead of nn's fused nodes: the slow reference path that nn
// keeps for tests and before/after benchmarks and does not export, so a
// library user never sees the switch.
package nnref

// SetGorgoniaOps switches model m, an *nn.Model, to Gorgonia's generic
// operations (on) or back to the fused nodes, for the graphs built after
// the call. nn sets it when it is loaded; a program that does not import
// nn has nothing to switch.
var SetGorgoniaOps func(m any, on bool)
