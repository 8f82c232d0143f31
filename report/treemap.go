package report

// Rect is an axis-aligned rectangle.
type Rect struct{ X, Y, W, H float64 }

// Inset returns r shrunk by d on each side, or an empty rectangle.
func (r Rect) Inset(d float64) Rect {
	if r.W <= 2*d || r.H <= 2*d {
		return Rect{X: r.X + r.W/2, Y: r.Y + r.H/2}
	}
	return Rect{r.X + d, r.Y + d, r.W - 2*d, r.H - 2*d}
}

// Squarify lays out areas proportional to sizes in r as a squarified
// treemap (Bruls, Huizing and van Wijk, 2000): rows along the shorter
// side, each grown while that makes its worst aspect ratio better, so
// that areas stay close to squares, which people compare best. sizes
// must be positive and sorted largest first; the rectangles come in
// their order.
func Squarify(sizes []float64, r Rect) []Rect {
	out := make([]Rect, len(sizes))
	total := sum(sizes)
	if total <= 0 || r.W <= 0 || r.H <= 0 {
		return out
	}
	scale := r.W * r.H / total
	for i := 0; i < len(sizes); {
		short := min(r.W, r.H)
		j := i + 1
		for j < len(sizes) && worst(sizes[i:j+1], short, scale) <= worst(sizes[i:j], short, scale) {
			j++
		}
		r = placeRow(sizes[i:j], scale, r, out[i:j])
		i = j
	}
	return out
}

// worst is the largest aspect ratio of a row of sizes laid along a side
// of length side.
func worst(row []float64, side, scale float64) float64 {
	s := sum(row) * scale
	hi, lo := row[0]*scale, row[len(row)-1]*scale
	return max(side*side*hi/(s*s), s*s/(side*side*lo))
}

// placeRow lays row along the shorter side of r into out and returns
// what is left of r.
func placeRow(row []float64, scale float64, r Rect, out []Rect) Rect {
	s := sum(row) * scale
	if r.W >= r.H { // a column at the left
		w := s / r.H
		y := r.Y
		for k, v := range row {
			h := v * scale / w
			out[k] = Rect{r.X, y, w, h}
			y += h
		}
		return Rect{r.X + w, r.Y, r.W - w, r.H}
	}
	h := s / r.W // a row at the top
	x := r.X
	for k, v := range row {
		w := v * scale / h
		out[k] = Rect{x, r.Y, w, h}
		x += w
	}
	return Rect{r.X, r.Y + h, r.W, r.H - h}
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}
