package main

import (
	"testing"

	"github.com/tinyqat/tinyqat/datasets"
)

// TestQuickDemoRecordsItsData: demo --quick shrank the sets before its
// runs recorded the data's fingerprint, so every command continuing a
// quick demo's run (ptq, qat, eval --compare, attack, report) refused the
// very data it was trained on. The runs now record the whole data's
// fingerprint and the image counts as limits.
func TestQuickDemoRecordsItsData(t *testing.T) {
	full := datasets.Synthetic(10050, 2010, 2, 2, 3, 40, 1) // just above --quick's 10000 / 2000
	want := datasets.Synthetic(10050, 2010, 2, 2, 3, 40, 1).Fingerprint()
	epochs, qatEpochs := 10, 2
	opt := applyQuick(demoCmd(), true, full, &epochs, &qatEpochs)
	if full.Train.N != 10000 || full.Test.N != 2000 || opt.TrainLimit != 10000 || opt.TestLimit != 2000 {
		t.Fatalf("quick sets %d/%d, limits %d/%d", full.Train.N, full.Test.N, opt.TrainLimit, opt.TestLimit)
	}
	if got := full.Fingerprint(); got != want {
		t.Fatalf("a quick demo records fingerprint %s, the data's is %s", got, want)
	}
	if opt := applyQuick(demoCmd(), false, full, &epochs, &qatEpochs); opt.TrainLimit != 0 || opt.TestLimit != 0 {
		t.Fatalf("a full demo limits its data: %d/%d", opt.TrainLimit, opt.TestLimit)
	}
}
