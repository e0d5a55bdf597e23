package f32

import "unsafe"

// goKernel6x16 is the portable micro-kernel, the reference twin of the
// assembly ones: for each tile element, a sum over p in increasing order
// of a[p·6+i]·b[p·16+j], then c = acc·c + sum.
func goKernel6x16(k int, a, b, c *float32, ldc int, acc bool) {
	const mr, nr = 6, 16
	as := unsafe.Slice(a, k*mr)
	bs := unsafe.Slice(b, k*nr)
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	var t [mr][nr]float32
	for p := 0; p < k; p++ {
		ap := as[p*mr : p*mr+mr : p*mr+mr]
		bp := (*[nr]float32)(bs[p*nr : p*nr+nr])
		for i := range mr {
			ai := ap[i]
			ti := &t[i]
			for j := range nr {
				ti[j] += mul32(ai, bp[j])
			}
		}
	}
	for i := range mr {
		row := (*[nr]float32)(cs[i*ldc : i*ldc+nr])
		if acc {
			for j := range nr {
				row[j] += t[i][j]
			}
		} else {
			*row = t[i]
		}
	}
}

// goKernelOff6x16 is goKernel6x16 with row p of B at b + off[p]: the
// reference twin of the assembly offset kernels.
func goKernelOff6x16(k int, a, b *float32, off *int, c *float32, ldc int, acc bool) {
	const mr, nr = 6, 16
	as := unsafe.Slice(a, k*mr)
	offs := unsafe.Slice(off, k)
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	var t [mr][nr]float32
	for p := 0; p < k; p++ {
		ap := as[p*mr : p*mr+mr : p*mr+mr]
		bp := (*[nr]float32)(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(b), 4*offs[p])), nr))
		for i := range mr {
			ai := ap[i]
			ti := &t[i]
			for j := range nr {
				ti[j] += mul32(ai, bp[j])
			}
		}
	}
	for i := range mr {
		row := (*[nr]float32)(cs[i*ldc : i*ldc+nr])
		if acc {
			for j := range nr {
				row[j] += t[i][j]
			}
		} else {
			*row = t[i]
		}
	}
}

var goKernel = kernel{name: "go 6x16", mr: 6, nr: 16, f: goKernel6x16, fo: goKernelOff6x16}
