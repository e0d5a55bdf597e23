package infer

// bytesToInput writes one image of bytes (len(lut) planes of hw bytes,
// CHW) to the unsigned input storage u, channels last, through the
// per-channel tables of the plan (inputTables):
//
//	u[p·C + c] = lut[c][pix[c·hw + p]]
//
// A table lookup per pixel and no arithmetic: the byte input path of a
// microcontroller.
func bytesToInput(u, pix []uint8, lut [][256]uint8, hw int) {
	nc := len(lut)
	if nc == 1 {
		t := &lut[0]
		for i, p := range pix[:hw] {
			u[i] = t[p]
		}
		return
	}
	for c := range lut {
		t := &lut[c]
		for p, v := range pix[c*hw : (c+1)*hw] {
			u[p*nc+c] = t[v]
		}
	}
}
