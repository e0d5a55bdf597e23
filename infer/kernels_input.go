package infer

// bytesToInput writes one image of bytes (len(lut) planes of hw bytes,
// CHW) to the unsigned input storage u, channels last, through the
// per-channel tables of the plan (inputTables):
//
//	u[p·C + c] = lut[c][pix[c·hw + p]]
//
// A table lookup per pixel and no arithmetic: the byte input path of a
// microcontroller. With AVX-512 VBMI, 1 or 3 channels take 64 lookups
// an instruction pair (bytesVec), the last hw mod 64 pixels the loops
// below: bytesRef, their reference twin on the whole image.
func bytesToInput(u, pix []uint8, lut [][256]uint8, hw int) {
	nc := len(lut)
	p0 := bytesVec(u, pix, lut, hw)
	if p0 == hw {
		return
	}
	if nc == 1 {
		t := &lut[0]
		for i, p := range pix[p0:hw] {
			u[p0+i] = t[p]
		}
		return
	}
	for c := range lut {
		t := &lut[c]
		for p, v := range pix[c*hw+p0 : (c+1)*hw] {
			u[(p0+p)*nc+c] = t[v]
		}
	}
}

// bytesRef is bytesToInput one element at a time.
func bytesRef(u, pix []uint8, lut [][256]uint8, hw int) {
	nc := len(lut)
	for c := range nc {
		for p := range hw {
			u[p*nc+c] = lut[c][pix[c*hw+p]]
		}
	}
}
