package train

// Exported for the external tests of this directory (qat_bench_test.go,
// which imports qat: qat imports train).
var (
	NewBenchStep = newBenchStep
	BenchStep    = benchStep
	StepVariants = stepVariants
)
