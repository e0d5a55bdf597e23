package datasets

import "slices"

// interleaved returns the order in which samples with these labels are
// kept when the labels come sorted by class (an image-folder tree is
// listed class by class): round robin over the classes in label order,
// each class's samples in their original order. The first n samples of
// the result are then a fair sample for any n (Set.Subset), as far as
// the classes' sizes allow. It is deterministic: the same labels give
// the same order. For labels that are not sorted it returns nil: the
// source's own order (MNIST's, CIFAR-10's) is kept.
func interleaved(labels []uint8) []int {
	if !slices.IsSorted(labels) || len(labels) == 0 || labels[0] == labels[len(labels)-1] {
		return nil
	}
	var byClass [256][]int
	for i, l := range labels {
		byClass[l] = append(byClass[l], i)
	}
	order := make([]int, 0, len(labels))
	for round := 0; len(order) < len(labels); round++ {
		for _, idx := range byClass {
			if round < len(idx) {
				order = append(order, idx[round])
			}
		}
	}
	return order
}

// interleave reorders a class-sorted set in place (see interleaved).
func interleave(s *Set) {
	order := interleaved(s.Labels)
	if order == nil {
		return
	}
	sz := s.Size()
	pix := make([]uint8, len(s.Pix))
	lab := make([]uint8, len(s.Labels))
	for k, i := range order {
		copy(pix[k*sz:(k+1)*sz], s.Image(i))
		lab[k] = s.Labels[i]
	}
	s.Pix, s.Labels = pix, lab
}

// interleaveFiles reorders a class-sorted file list (see interleaved).
func interleaveFiles(files []imageFile) []imageFile {
	labels := make([]uint8, len(files))
	for i, f := range files {
		labels[i] = f.label
	}
	order := interleaved(labels)
	if order == nil {
		return files
	}
	out := make([]imageFile, len(files))
	for k, i := range order {
		out[k] = files[i]
	}
	return out
}
